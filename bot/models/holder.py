"""Where a strategy finds its model: one ModelHolder per model name, shared by the process.

Strategies are built by name from settings (`bot.strategy.registry.load_strategy`), so nothing
can be handed to them; instead the ML strategy asks `holder_for(model_name)` and keeps the holder,
and the daemon's ModelWatcher for that name fills the same holder. A swap is one reference
assignment made on the event loop's thread, between two events: a strategy reads either the old
LoadedModel or the new one, never a mixture.

A backtest pins a version directory instead (`pinned_holder`): loaded once, synchronously,
verified exactly as the daemon verifies, and never swapped.

One daemon per process: two daemons in one process with the same model name would share a
holder (tests run daemons one after another, and each watcher empties its holder when it starts).
Imports no asyncio: the strategy imports this module.
"""

from __future__ import annotations

from pathlib import Path

from bot.models.loader import LoadedModel, load_directory


class ModelHolder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.model: LoadedModel | None = None
        self.swaps = 0

    def swap(self, model: LoadedModel | None) -> LoadedModel | None:
        """Put `model` in place (None empties the holder); returns the one it replaced."""
        previous, self.model = self.model, model
        self.swaps += 1
        return previous


_HOLDERS: dict[str, ModelHolder] = {}
_PINNED: dict[Path, ModelHolder] = {}


def holder_for(name: str) -> ModelHolder:
    """The process-wide holder of model `name` (created empty on first use)."""
    holder = _HOLDERS.get(name)
    if holder is None:
        holder = _HOLDERS[name] = ModelHolder(name)
    return holder


def pinned_holder(directory: str | Path) -> ModelHolder:
    """A holder with the version stored in `directory`, loaded once per process and directory
    (every symbol's strategy shares the booster). Raises ModelRejected like the daemon's loader."""
    path = Path(directory).resolve()
    holder = _PINNED.get(path)
    if holder is None:
        model = load_directory(path)
        holder = ModelHolder(model.manifest.name)
        holder.swap(model)
        _PINNED[path] = holder
    return holder
