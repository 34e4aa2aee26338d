"""TradeBarBuilder on the 19,904 real BTCUSDT trades of the bundled websocket recording, checked
against bars grouped independently here, with exact Decimal volumes."""

from __future__ import annotations

from collections import defaultdict
from decimal import Context, Decimal

import msgspec
import pytest
from market_files import recorded_trades

from bot.domain.events import MILLISECONDS, Kline, Trade
from bot.features.bars import NO_TRADE_ID, TradeBarBuilder
from bot.features.intervals import interval_nanoseconds

SECOND = 1_000_000_000
EXACT = Context(prec=100)  # wide enough that no sum below is rounded


def exact_sum(values) -> Decimal:  # type: ignore[no-untyped-def]
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total


def build(interval: str, trades: tuple[Trade, ...] | list[Trade]) -> list[Kline]:
    """Every bar of the trades, the last one closed by the clock one interval after the end."""
    builder = TradeBarBuilder("BTCUSDT", interval)
    bars: list[Kline] = []
    for trade in trades:
        bars.extend(builder.update(trade))
    step = interval_nanoseconds(interval)
    bars.extend(builder.advance(trades[-1].ts_trade - trades[-1].ts_trade % step + step))
    return bars


def grouped_reference(interval: str) -> dict[int, list[Trade]]:
    step = interval_nanoseconds(interval)
    groups: dict[int, list[Trade]] = defaultdict(list)
    for trade in recorded_trades():
        groups[trade.ts_trade // step * step].append(trade)
    return groups


@pytest.mark.parametrize("interval", ["1s", "5s", "1m"])
def test_bars_match_the_trades_they_cover(interval: str) -> None:
    trades = recorded_trades()
    bars = build(interval, trades)
    step = interval_nanoseconds(interval)
    groups = grouped_reference(interval)
    # One bar per interval from the first trade's to the last one's, none skipped.
    first, last = min(groups), max(groups)
    assert [bar.open_time for bar in bars] == list(range(first, last + step, step))
    previous_close: Decimal | None = None
    for bar in bars:
        assert bar.is_closed and bar.interval == interval and bar.symbol == "BTCUSDT"
        assert bar.close_time == bar.open_time + step - MILLISECONDS == bar.ts_event
        group = groups.get(bar.open_time, [])
        if group:
            prices = [trade.price for trade in group]
            assert (bar.open, bar.high, bar.low, bar.close) == (prices[0], max(prices), min(prices), prices[-1])
            assert bar.volume == sum((trade.quantity for trade in group), Decimal(0))
            assert bar.quote_volume == exact_sum(EXACT.multiply(t.price, t.quantity) for t in group)
            takers = [trade for trade in group if not trade.buyer_is_maker]
            assert bar.taker_buy_base_volume == sum((trade.quantity for trade in takers), Decimal(0))
            assert bar.taker_buy_quote_volume == exact_sum(EXACT.multiply(t.price, t.quantity) for t in takers)
            assert (bar.first_trade_id, bar.last_trade_id) == (group[0].trade_id, group[-1].trade_id)
            assert bar.trade_count == len(group)
        else:  # a real quiet interval: Binance's zero-volume bar at the previous close
            assert previous_close is not None
            assert bar.open == bar.high == bar.low == bar.close == previous_close
            assert bar.volume == bar.quote_volume == bar.taker_buy_base_volume == 0
            assert (bar.trade_count, bar.first_trade_id, bar.last_trade_id) == (0, NO_TRADE_ID, NO_TRADE_ID)
        previous_close = bar.close
    assert sum(bar.trade_count for bar in bars) == len(trades)


def test_volumes_sum_exactly_to_the_trades() -> None:
    trades = recorded_trades()
    total_quantity = sum((trade.quantity for trade in trades), Decimal(0))
    total_quote = exact_sum(EXACT.multiply(trade.price, trade.quantity) for trade in trades)
    for interval in ("1s", "5s", "1m"):
        bars = build(interval, trades)
        assert sum((bar.volume for bar in bars), Decimal(0)) == total_quantity
        assert exact_sum(bar.quote_volume for bar in bars) == total_quote


def test_the_recording_has_quiet_seconds_and_they_become_empty_bars() -> None:
    bars = build("1s", recorded_trades())
    empty = [bar for bar in bars if bar.trade_count == 0]
    assert len(empty) == len(bars) - len(grouped_reference("1s")) == 6


def test_minute_bars_equal_second_bars_rolled_up() -> None:
    seconds = build("1s", recorded_trades())
    minutes = build("1m", recorded_trades())
    for minute in minutes:
        inside = [bar for bar in seconds if minute.open_time <= bar.open_time <= minute.close_time]
        traded = [bar for bar in inside if bar.trade_count]
        assert minute.open == traded[0].open and minute.close == inside[-1].close
        assert minute.high == max(bar.high for bar in traded) and minute.low == min(bar.low for bar in traded)
        assert minute.volume == sum((bar.volume for bar in inside), Decimal(0))
        assert minute.trade_count == sum(bar.trade_count for bar in inside)


def test_the_clock_closes_bars_of_a_quiet_market_after_the_delay() -> None:
    trades = recorded_trades()[:50]
    builder = TradeBarBuilder("BTCUSDT", "1s", close_delay_ns=200 * MILLISECONDS)
    for trade in trades:
        builder.update(trade)
    last = trades[-1]
    boundary = last.ts_trade - last.ts_trade % SECOND + SECOND
    forming = builder.forming
    assert forming is not None and not forming.is_closed and forming.close == last.price
    assert builder.advance(boundary + 199 * MILLISECONDS) == []  # still inside the delay
    closed = builder.advance(boundary + 2 * SECOND + 200 * MILLISECONDS)
    assert [bar.open_time for bar in closed] == [boundary - SECOND, boundary, boundary + SECOND]
    assert closed[0].last_trade_id == last.trade_id
    assert [bar.trade_count for bar in closed[1:]] == [0, 0]
    assert all(bar.close == last.price and bar.ts_init == boundary + 2 * SECOND + 200 * MILLISECONDS for bar in closed)
    assert builder.advance(boundary + 2 * SECOND + 300 * MILLISECONDS) == []


def test_a_trade_for_a_closed_bar_is_dropped_and_counted() -> None:
    trades = recorded_trades()
    # Two real trades of the same second: the clock closes that second between them.
    index = next(i for i in range(len(trades) - 1) if trades[i].ts_trade // SECOND == trades[i + 1].ts_trade // SECOND)
    builder = TradeBarBuilder("BTCUSDT", "1s")
    for trade in trades[: index + 1]:
        builder.update(trade)
    closed = builder.advance(trades[index].ts_trade // SECOND * SECOND + SECOND)
    assert builder.update(trades[index + 1]) == []
    assert builder.late_trades == 1
    assert closed[-1].last_trade_id == trades[index].trade_id


def test_a_repeated_trade_is_dropped_and_counted() -> None:
    first, second = recorded_trades()[:2]
    builder = TradeBarBuilder("BTCUSDT", "1m")
    builder.update(first)
    builder.update(first)
    builder.update(second)
    forming = builder.forming
    assert builder.duplicate_trades == 1
    assert forming is not None and forming.volume == first.quantity + second.quantity and forming.trade_count == 2


def test_no_bar_before_the_first_trade_and_bad_input_is_refused() -> None:
    builder = TradeBarBuilder("BTCUSDT", "5s")
    assert builder.advance(10**19) == [] and builder.forming is None
    with pytest.raises(ValueError, match="got a ETHUSDT trade"):
        builder.update(msgspec.structs.replace(recorded_trades()[0], symbol="ETHUSDT"))
    for interval in ("1w", "0s", "5", "1M"):
        with pytest.raises(ValueError, match="expected a bar interval"):
            TradeBarBuilder("BTCUSDT", interval)
    with pytest.raises(ValueError, match="close_delay_ns"):
        TradeBarBuilder("BTCUSDT", "1s", close_delay_ns=-1)


def test_two_runs_give_byte_identical_bars() -> None:
    trades = recorded_trades()
    assert msgspec.json.encode(build("5s", trades)) == msgspec.json.encode(build("5s", trades))
