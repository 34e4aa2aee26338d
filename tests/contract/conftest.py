"""The venue every broker contract test runs against.

A `Venue` is a broker under test plus the market it trades in: the real BTCUSDT depth snapshot of
2024-08-08 (optionally only its best few levels, a thin book built from real levels), BTCUSDT's
real rules, 0.1% fees, no slippage, and `trade()`, which makes one real recorded trade happen in
that market and returns the reports the broker emits because of it.

Only the paper broker exists today. The live broker joins by adding a factory here that points
python-binance at the replay exchange (bot.sim) serving the same book and trades; the tests
themselves talk to the `Broker` protocol only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from binance_data import SNAPSHOT_TIME_NS, all_rules, book_market
from bot.clock import ManualClock
from bot.domain.events import Trade
from bot.execution.broker import Broker, ExecutionReport
from bot.execution.fees import FeeSettings
from bot.execution.paper import PaperBroker


@dataclass
class Venue:
    broker: Broker
    trade: Callable[[Trade], Awaitable[list[ExecutionReport]]]


VenueFactory = Callable[..., Venue]


def paper_venue(balances: dict[str, Decimal], book_depth: int | None = None) -> Venue:
    market = book_market(book_depth)
    clock = ManualClock(SNAPSHOT_TIME_NS)
    broker = PaperBroker(all_rules(), market, balances, FeeSettings(), Decimal(0), clock)

    async def trade(event: Trade) -> list[ExecutionReport]:
        clock.set(max(clock.now_ns(), event.ts_event))
        market.apply(event)
        return broker.observe_market(event) + await broker.poll_reports()

    return Venue(broker=broker, trade=trade)


FACTORIES: dict[str, VenueFactory] = {"paper": paper_venue}


@pytest.fixture(params=sorted(FACTORIES))
def make_venue(request: pytest.FixtureRequest) -> VenueFactory:
    """Call with the starting balances (and `book_depth` for a thin book) to get a Venue."""
    return FACTORIES[request.param]
