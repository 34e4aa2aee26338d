"""What the replay exchange's REST side can see at a cursor position, on real recorded data."""

from __future__ import annotations

import gzip
import itertools
from decimal import Decimal
from pathlib import Path

from bot.sim import RECORDINGS_DIRECTORY
from bot.sim.market_data import OrderBookReplay, TradeHistory
from bot.sim.records import exact_product
from bot.sim.timeline import Timeline, load_timeline

BTC_STREAMS = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"


def btc_excerpt(tmp_path: Path, lines: int = 400) -> Timeline:
    with gzip.open(BTC_STREAMS, "rb") as file:
        excerpt = b"".join(itertools.islice(file, lines))
    path = tmp_path / "spot_BTCUSDT_excerpt.jsonl"
    path.write_bytes(excerpt)
    return load_timeline([path])


def test_before_the_snapshot_point_the_recorded_snapshot_is_served(tmp_path: Path) -> None:
    timeline = btc_excerpt(tmp_path)
    [snapshot] = timeline.market.depth_snapshots["BTCUSDT"]
    book = OrderBookReplay([snapshot], timeline.market.depth_diffs["BTCUSDT"])
    served = book.depth(1000, cursor_position=snapshot.position)  # not yet passed
    assert served == {"lastUpdateId": 50093239218, "bids": snapshot.bids, "asks": snapshot.asks}


def test_after_the_snapshot_newer_diffs_apply_even_one_received_before_it(tmp_path: Path) -> None:
    timeline = btc_excerpt(tmp_path)
    [snapshot] = timeline.market.depth_snapshots["BTCUSDT"]
    diffs = timeline.market.depth_diffs["BTCUSDT"]
    book = OrderBookReplay([snapshot], diffs)
    # Just past the snapshot: only the third diff (U=...208, u=...224, received before the
    # snapshot) is newer than lastUpdateId ...218.
    bridging = diffs[2]
    assert bridging.position < snapshot.position and bridging.final_update_id > snapshot.last_update_id
    served = book.depth(5000, cursor_position=snapshot.position + 1)
    assert served["lastUpdateId"] == bridging.final_update_id
    asks = {price: quantity for price, quantity in served["asks"]}
    for price, quantity in bridging.asks:
        if Decimal(quantity) == 0:
            assert price not in asks
        else:
            assert asks[price] == quantity
    # Later the cursor passes more diffs; the cached book is extended, not rebuilt.
    later = book.depth(10, cursor_position=len(timeline))
    assert later["lastUpdateId"] == diffs[-1].final_update_id
    assert [Decimal(price) for price, _ in later["bids"]] == sorted((Decimal(p) for p, _ in later["bids"]), reverse=True)
    assert Decimal(later["bids"][0][0]) < Decimal(later["asks"][0][0])
    # And a rewind (a looping replay) rebuilds from the snapshot.
    assert book.depth(5000, cursor_position=snapshot.position + 1) == served


def test_trades_are_visible_only_once_the_cursor_passed_them(tmp_path: Path) -> None:
    timeline = btc_excerpt(tmp_path)
    trades = timeline.market.trades["BTCUSDT"]
    history = TradeHistory(trades)
    assert history.recent(500, cursor_position=0) == []
    third = trades[2]
    assert history.recent(500, cursor_position=third.position) == trades[:2]
    assert history.recent(500, cursor_position=third.position + 1) == trades[:3]
    assert history.from_id(trades[1].trade_id, 1, cursor_position=len(timeline)) == [trades[1]]
    assert history.from_id(trades[-1].trade_id + 1, 10, cursor_position=len(timeline)) == []


def test_quote_quantity_is_exact_and_written_with_eight_decimals() -> None:
    assert exact_product("61837.63000000", "0.02000000") == "1236.75260000"
    assert exact_product("0.00000001", "0.00000001") == "0.0000000000000001"
    assert exact_product("4342.81", "0.5") == "2171.40500000"
