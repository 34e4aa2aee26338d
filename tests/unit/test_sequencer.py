from decimal import Decimal

from bot.domain.events import BookTicker, Kline, Trade
from bot.ingest.sequencer import Gap, Outcome, interval_ns, sequencer_for


def trade(trade_id: int) -> Trade:
    return Trade(symbol="BTCUSDT", ts_event=0, ts_init=0, trade_id=trade_id, price=Decimal("1"),
                 quantity=Decimal("1"), buyer_is_maker=False, ts_trade=0)


def kline(open_minute: int, closed: bool = True) -> Kline:
    one = Decimal("1")
    return Kline(symbol="BTCUSDT", ts_event=0, ts_init=0, interval="1m", open_time=open_minute * 60_000_000_000,
                 close_time=0, open=one, high=one, low=one, close=one, volume=one, quote_volume=one, trade_count=1,
                 taker_buy_base_volume=one, taker_buy_quote_volume=one, first_trade_id=1, last_trade_id=1, is_closed=closed)


def test_trade_ids_new_duplicate_and_gap():
    sequencer = sequencer_for("BTCUSDT", "trade")
    assert sequencer.check(trade(10)) == (Outcome.NEW, None)
    sequencer.accept(trade(10))
    assert sequencer.check(trade(10))[0] is Outcome.DUPLICATE
    assert sequencer.check(trade(9))[0] is Outcome.DUPLICATE
    assert sequencer.check(trade(11)) == (Outcome.NEW, None)
    assert sequencer.check(trade(15)) == (Outcome.GAP, Gap("BTCUSDT", "trade", 11, 14))


def test_a_restored_cursor_makes_the_first_live_event_reveal_the_downtime():
    sequencer = sequencer_for("BTCUSDT", "trade", last=100)
    outcome, gap = sequencer.check(trade(150))
    assert outcome is Outcome.GAP and (gap.first, gap.last, gap.size) == (101, 149, 49)


def test_closed_klines_step_by_their_interval():
    assert interval_ns("1m") == 60_000_000_000 and interval_ns("1M") is None
    sequencer = sequencer_for("BTCUSDT", "kline_1m")
    sequencer.accept(kline(0))
    assert sequencer.check(kline(1))[0] is Outcome.NEW
    outcome, gap = sequencer.check(kline(4))
    assert outcome is Outcome.GAP and (gap.first, gap.last) == (60_000_000_000, 180_000_000_000)


def test_book_ticker_ids_only_grow_and_jumps_are_not_gaps():
    sequencer = sequencer_for("BTCUSDT", "bookTicker")
    ticker = lambda update_id: BookTicker(symbol="BTCUSDT", ts_event=0, ts_init=0, update_id=update_id, bid_price=Decimal(1), bid_quantity=Decimal(1), ask_price=Decimal(2), ask_quantity=Decimal(1))  # noqa: E731
    sequencer.accept(ticker(5))
    assert sequencer.check(ticker(50))[0] is Outcome.NEW
    assert sequencer.check(ticker(5))[0] is Outcome.DUPLICATE


def test_a_streams_last_entry_id_gives_back_the_sequence_it_was_written_from():
    from bot.bus.redis_codec import entry_id_parts, last_sequence

    for channel, event in (("trade", trade(3_735_683_259)), ("kline_1m", kline(28_720_000))):
        assert last_sequence(channel, *entry_id_parts(event)) == event.sequence
    assert last_sequence("trade", -1, -1) is None
