"""The compact live view `tradebot run` shows in a terminal: per symbol the last price, the
latest signal of each strategy, the position and the guards' level, plus the account line.

Drawn from the running engine's own state every second; log lines scroll above it (the log
stream is routed through the same rich console, so the two never overwrite each other).
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.domain.trading import GuardLevel

_LEVEL_STYLE = {
    GuardLevel.NORMAL: "green", GuardLevel.LOW: "green", GuardLevel.MODERATE: "yellow",
    GuardLevel.HIGH: "red", GuardLevel.CRITICAL: "bold red",
}


class ConsoleLogStream:
    """A text stream for the log handler that prints through the live console."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def write(self, text: str) -> int:
        if text.strip():
            self._console.print(Text.from_ansi(text.rstrip("\n")))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def render(daemon) -> Group | Text:
    runner = daemon.runner
    if runner is None or not runner.ready.is_set():
        return Text("engine starting: rebuilding state from the record ...")
    engine = runner.engine
    table = Table("symbol", "last price", "signals", "position", "guards", box=None, header_style="bold")
    latest_signals = runner.latest_signals
    for symbol, market in engine.market.symbols.items():
        position = engine.portfolio.position(symbol)
        assessment = runner.latest_assessments.get(symbol)
        level = Text(assessment.level.name, style=_LEVEL_STYLE[assessment.level]) if assessment else Text("-")
        signals = ", ".join(f"{name} {action}" for (sym, name), action in sorted(latest_signals.items()) if sym == symbol)
        table.add_row(
            symbol, str(market.last_price or "-"), signals or "-",
            f"{position.quantity} @ {position.average_price}" if position else "flat", level,
        )
    marks = engine.market.marks()
    portfolio = engine.portfolio
    account = Text(
        f"{engine.state_machine.state.value}  equity {portfolio.equity(marks):.2f}  realized {portfolio.realized_pnl:.2f}  "
        f"unrealized {portfolio.total_unrealized_pnl(marks):.2f}  fees {portfolio.fees_paid:.2f}  "
        f"events {runner.events_handled:,}"
    )
    return Group(table, account)


async def show_live(daemon, console: Console, stop: asyncio.Event) -> None:
    with Live(render(daemon), console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            live.update(render(daemon))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
        live.update(render(daemon))


def terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()
