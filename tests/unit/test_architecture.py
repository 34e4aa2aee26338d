"""Rule 1 of ARCHITECTURE.md: the pure core imports no I/O library and never reads the wall clock.

Walks the source of every pure module with `ast`, so an import hidden in a function counts too.
"""

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parents[2] / "bot"
STRATEGIES = BOT.parent / "strategies"
PURE_MODULES = sorted(
    [
        *BOT.glob("domain/*.py"), *BOT.glob("features/*.py"), *BOT.glob("strategy/*.py"), *STRATEGIES.glob("*.py"),
        *BOT.glob("guards/*.py"), *BOT.glob("risk/*.py"),
        *(path for path in BOT.glob("scanner/*.py") if path.name != "service.py"),
        BOT / "ingest/wire.py", BOT / "ingest/sequencer.py", BOT / "backoff.py", BOT / "bus/event_merge.py",
        BOT / "backtest/run.py", BOT / "backtest/results.py",
    ]
)


def test_every_pure_package_is_walked() -> None:
    """Acceptance of the engine issue: domain, features, strategy, guards and risk are pure."""
    walked = {path.parent.name for path in PURE_MODULES}
    assert {"domain", "features", "strategy", "guards", "risk", "strategies", "scanner"} <= walked
    for package in ("domain", "features", "strategy", "guards", "risk"):
        assert len(list(BOT.glob(f"{package}/*.py"))) >= 2, package
IO_LIBRARIES = {"asyncio", "redis", "websockets", "aiohttp", "binance", "socket", "subprocess", "requests", "httpx", "urllib", "http"}
WALL_CLOCK_CALLS = {("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"), ("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def wall_clock_reads(tree: ast.AST) -> list[str]:
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (node.value.id, node.attr) in WALL_CLOCK_CALLS:
            reads.append(f"{node.value.id}.{node.attr} at line {node.lineno}")
    return reads


@pytest.mark.parametrize("module", PURE_MODULES, ids=lambda path: str(path.relative_to(BOT.parent)))
def test_pure_module_imports_no_io_and_reads_no_clock(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    assert imported_roots(tree) & IO_LIBRARIES == set()
    assert wall_clock_reads(tree) == []


def test_the_walker_would_catch_a_violation() -> None:
    tree = ast.parse("def f():\n    import asyncio\n    from redis import asyncio as r\n    return time.time_ns()\n")
    assert imported_roots(tree) & IO_LIBRARIES == {"asyncio", "redis"}
    assert wall_clock_reads(tree) == ["time.time_ns at line 4"]
