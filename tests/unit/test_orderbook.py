"""Binance's book-sync procedure, on constructed cases and on the real BTCUSDT recording."""

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.events import BookTicker, DepthUpdate, DepthUpdateText
from bot.domain.orderbook import (
    BookGapError,
    BookSynchronizer,
    OrderBook,
    SyncState,
    Verdict,
)
from bot.ingest.wire import FrameDecoder

RECORDING = Path(__file__).parents[2] / "bot/sim/recordings/spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"


def diff(first: int, last: int, bids=(), asks=(), previous: int = -1) -> DepthUpdate:
    level = lambda pairs: tuple((Decimal(p), Decimal(q)) for p, q in pairs)  # noqa: E731
    return DepthUpdate(symbol="BTCUSDT", ts_event=0, ts_init=0, first_update_id=first, final_update_id=last,
                       previous_final_update_id=previous, bids=level(bids), asks=level(asks))


def synced(last_update_id=100) -> BookSynchronizer:
    sync = BookSynchronizer("BTCUSDT")
    sync.offer(diff(95, 101, bids=[("10", "1")]))
    assert sync.load_snapshot(last_update_id, [(Decimal("10"), Decimal("5")), (Decimal("9"), Decimal("2"))], [(Decimal("11"), Decimal("3"))])
    return sync


def test_buffered_events_older_than_the_snapshot_are_dropped_and_the_bridge_applies():
    sync = synced()
    assert sync.state is SyncState.LIVE
    assert sync.book.last_update_id == 101
    assert sync.book.best_bid() == (Decimal("10"), Decimal("1"))


def test_zero_quantity_removes_a_level_and_sequence_breaks_are_gaps():
    sync = synced()
    assert sync.offer(diff(102, 103, bids=[("10", "0")])) is Verdict.APPLIED
    assert sync.book.best_bid() == (Decimal("9"), Decimal("2"))
    assert sync.offer(diff(100, 103)) is Verdict.STALE
    assert sync.offer(diff(105, 106)) is Verdict.GAP
    assert sync.book.last_update_id == 103


def test_futures_previous_update_id_rule():
    sync = synced()
    assert sync.offer(diff(150, 160, previous=101)) is Verdict.APPLIED
    assert sync.offer(diff(161, 170, previous=159)) is Verdict.GAP


def test_a_snapshot_the_stream_has_not_reached_waits_then_bridges():
    sync = BookSynchronizer("BTCUSDT")
    sync.offer(diff(90, 95))
    assert sync.load_snapshot(100, [], []) is False
    sync.offer(diff(96, 99))
    assert sync.try_bridge() is False
    sync.offer(diff(100, 104, asks=[("11", "1")]))
    assert sync.try_bridge() is True and sync.book.last_update_id == 104


def test_a_snapshot_that_does_not_meet_the_stream_is_refused():
    sync = BookSynchronizer("BTCUSDT")
    sync.offer(diff(120, 130))
    assert sync.snapshot_is_too_old(100)
    with pytest.raises(BookGapError):
        sync.load_snapshot(100, [], [])


def test_rebuilt_book_matches_every_recorded_book_ticker_at_the_same_update_id():
    decoder = FrameDecoder()
    sync = BookSynchronizer("BTCUSDT")
    tops, tickers = {}, {}
    with gzip.open(RECORDING, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            message = record["msg"]
            if "lastUpdateId" in message:
                level = lambda pairs: [(Decimal(p), Decimal(q)) for p, q in pairs]  # noqa: E731
                sync.load_snapshot(message["lastUpdateId"], level(message["bids"]), level(message["asks"]))
                continue
            event = decoder.decode(json.dumps(message).encode(), 0).event
            if isinstance(event, DepthUpdate):
                sync.offer(event)
                if sync.state is SyncState.WAITING_FOR_SNAPSHOT and sync.book.last_update_id >= 0:
                    sync.try_bridge()
                if sync.state is SyncState.LIVE:
                    tops[event.final_update_id] = (sync.book.best_bid(), sync.book.best_ask())
            elif isinstance(event, BookTicker):
                tickers[event.update_id] = ((event.bid_price, event.bid_quantity), (event.ask_price, event.ask_quantity))
    compared = [update_id for update_id in tickers if update_id in tops]
    assert len(compared) == 1072
    assert all(tops[update_id] == tickers[update_id] for update_id in compared)


def test_text_diffs_build_the_same_book_as_decimal_diffs_on_the_real_recording():
    exact, text = OrderBook("BTCUSDT"), OrderBook("BTCUSDT")
    decimal_decoder, text_decoder = FrameDecoder(), FrameDecoder(prices_as_text=True)
    applied = 0
    with gzip.open(RECORDING, "rb") as lines:
        for line in lines:
            message = json.loads(line)["msg"]
            if message.get("stream") != "btcusdt@depth@100ms":
                continue
            frame = json.dumps(message).encode()
            exact.apply(decimal_decoder.decode(frame, 0).event)
            text_event = text_decoder.decode(frame, 0).event
            assert isinstance(text_event, DepthUpdateText)
            text.apply(text_event)
            applied += 1
            if applied % 500 == 0:
                assert text.top(20) == exact.top(20)
    assert applied == 6495
    assert text.top(1000) == exact.top(1000)
    assert (text.best_bid(), text.best_ask()) == (exact.best_bid(), exact.best_ask())


def test_one_price_written_with_more_or_fewer_zeros_is_one_level():
    # Constructed: the same price as the REST snapshot and a diff might write it.
    book = OrderBook("BTCUSDT")
    book.load_snapshot(1, [(Decimal("61837.63"), Decimal("1.5")), (Decimal("100"), Decimal("2"))], [])
    text = lambda bids: DepthUpdateText(symbol="BTCUSDT", ts_event=0, ts_init=0, first_update_id=2, final_update_id=2,  # noqa: E731
                                        previous_final_update_id=-1, bids=bids, asks=())
    book.apply(text((("61837.63000000", "0.25000000"), ("100.00", "0.000"))))
    assert book.bids == {"61837.63": "0.25000000"}
    assert book.best_bid() == (Decimal("61837.63"), Decimal("0.25"))
    assert book.top(5) == ([(Decimal("61837.63"), Decimal("0.25"))], [])


def test_reading_the_top_between_diffs_always_matches_a_full_sort():
    # The top is found from the last read's leaders plus the prices added since; reads of every
    # depth at varying intervals must still give exactly the fully sorted book.
    book, decoder = OrderBook("BTCUSDT"), FrameDecoder(prices_as_text=True)
    depths = [1, 5, 20, 64, 100, 20, 1]
    applied = reads = 0
    with gzip.open(RECORDING, "rb") as lines:
        for line in lines:
            message = json.loads(line)["msg"]
            if message.get("stream") != "btcusdt@depth@100ms":
                continue
            book.apply(decoder.decode(json.dumps(message).encode(), 0).event)
            applied += 1
            if applied % (3 + applied % 7) == 0 and applied <= 3000:
                depth = depths[reads % len(depths)]
                bids = sorted(((Decimal(p), Decimal(q)) for p, q in book.bids.items()), reverse=True)
                asks = sorted((Decimal(p), Decimal(q)) for p, q in book.asks.items())
                assert book.top(depth) == (bids[:depth], asks[:depth]), applied
                assert (book.best_bid(), book.best_ask()) == (bids[0], asks[0])
                reads += 1
    assert reads > 400
