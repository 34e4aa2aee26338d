"""Real Binance data for the execution tests: `from binance_data import ...` (tests/ is on sys.path).

- BTCUSDT's rules come from the real exchangeInfo of 2021-10-12 bundled with the replay exchange.
  BTCUSDT's tick (0.01) and step (0.00001) still held on 2024-08-08: every one of the 2,000 levels
  of that day's depth snapshot and every one of the 19,904 trades of the recording lie on that
  grid, and the smallest trade is exactly 0.00001 BTC (tests/unit/test_symbols.py checks this).
  The minimum notional is the 2021 figure (MIN_NOTIONAL 10 USDT). By 2024 Binance had replaced
  MIN_NOTIONAL with NOTIONAL (5 USDT for BTCUSDT in other projects' fixtures; no 2024 body is in
  the data set to confirm it), so the notional refusals tested here follow 2021's rules.
- The book is the real REST depth snapshot of 2024-08-08 (lastUpdateId 50093239218) and the
  trades are the 600 real trades that followed it (tests/data/SOURCES.md).
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.domain.events import MILLISECONDS, DepthSnapshot, PriceLevel, Trade
from bot.domain.symbols import SymbolRules, rules_from_exchange_info
from bot.engine.market import MarketState

TESTS = Path(__file__).parent
DATA = TESTS / "data"
RECORDINGS = TESTS.parent / "bot" / "sim" / "recordings"
EXCHANGE_INFO = RECORDINGS / "spot_exchangeInfo_2021-10-12.json.gz"
DEPTH_SNAPSHOT = DATA / "spot_BTCUSDT_depth_snapshot_limit1000_2024-08-08.json"
TRADES = DATA / "spot_BTCUSDT_trades_first600_2024-08-08T2354.csv"
SNAPSHOT_TIME_NS = 1_723_161_255_342 * MILLISECONDS  # the first trade after the snapshot


@lru_cache(maxsize=1)
def exchange_info() -> dict[str, Any]:
    with gzip.open(EXCHANGE_INFO, "rt", encoding="utf-8") as file:
        return json.load(file)


@lru_cache(maxsize=1)
def all_rules() -> dict[str, SymbolRules]:
    return rules_from_exchange_info(exchange_info())


def btcusdt_rules() -> SymbolRules:
    return all_rules()["BTCUSDT"]


@lru_cache(maxsize=1)
def depth_snapshot() -> tuple[int, list[PriceLevel], list[PriceLevel]]:
    """(lastUpdateId, bids best first, asks best first) of the real 2024-08-08 snapshot."""
    body = json.loads(DEPTH_SNAPSHOT.read_text(encoding="utf-8"))
    bids = [(Decimal(price), Decimal(quantity)) for price, quantity in body["bids"]]
    asks = [(Decimal(price), Decimal(quantity)) for price, quantity in body["asks"]]
    return body["lastUpdateId"], bids, asks


def book_market(book_depth: int | None = None) -> MarketState:
    """The engine's own market view (what the paper broker fills against in the daemon), holding
    the real 2024-08-08 book, or only its best `book_depth` levels (a thin book of real levels)."""
    last_update_id, bids, asks = depth_snapshot()
    if book_depth is not None:
        bids, asks = bids[:book_depth], asks[:book_depth]
    market = MarketState(["BTCUSDT"])
    market.apply(DepthSnapshot(
        symbol="BTCUSDT", ts_event=SNAPSHOT_TIME_NS, ts_init=SNAPSHOT_TIME_NS, last_update_id=last_update_id,
        bids=tuple(bids), asks=tuple(asks),
    ))
    return market


@lru_cache(maxsize=1)
def real_trades() -> tuple[Trade, ...]:
    with TRADES.open(newline="", encoding="utf-8") as file:
        return tuple(
            Trade(
                symbol="BTCUSDT",
                ts_event=int(row["time"]) * MILLISECONDS,
                ts_init=int(row["time"]) * MILLISECONDS,
                trade_id=int(row["id"]),
                price=Decimal(row["price"]),
                quantity=Decimal(row["qty"]),
                buyer_is_maker=row["is_buyer_maker"] == "True",
                ts_trade=int(row["time"]) * MILLISECONDS,
            )
            for row in csv.DictReader(file)
        )
