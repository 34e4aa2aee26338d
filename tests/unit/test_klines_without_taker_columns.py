"""Klines whose source had no quote volume, trade count or taker columns (None, not 0): the guards
and the REST backfill take them without inventing numbers.

The real data is the OHLCV-only BTCUSDT day in tests/data, and the real 2025-09-22 BTCUSDT bars
with those four columns blanked (the same bars as a source without the columns would give them).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from market_files import BTC_2025, OHLCV_ONLY, TEST_DATA, recorded_klines

from bot.domain.events import Kline
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards import (
    AbnormalVolumeSettings,
    GuardSettings,
    PumpDumpSettings,
    build_guards,
)
from bot.guards.bars import Bar, BarBuilder
from bot.ingest.backfill import _kline_from_row

OPTIONAL = ("quote_volume", "trade_count", "taker_buy_base_volume", "taker_buy_quote_volume")
KLINE_GUARDS = GuardSettings(
    abnormal_volume=AbnormalVolumeSettings(source="kline"), pump_dump=PumpDumpSettings(source="kline")
)


def blanked(bars: tuple[Kline, ...]) -> list[Kline]:
    return [msgspec.structs.replace(bar, **dict.fromkeys(OPTIONAL)) for bar in bars]


def guard_verdicts(bars: list[Kline] | tuple[Kline, ...]) -> list[list[GuardVerdict]]:
    guards = build_guards(bars[0].symbol, KLINE_GUARDS)
    verdicts = []
    for bar in bars:
        for guard in guards:
            guard.observe(bar)
        verdicts.append([guard.verdict(bar.close_time + 1_000_000) for guard in guards])
    return verdicts


def test_the_ohlcv_only_file_reads_as_unknown_not_zero() -> None:
    bars = recorded_klines(OHLCV_ONLY)
    assert len(bars) == 1440
    assert all(getattr(bar, field) is None for bar in bars for field in OPTIONAL)
    assert all(bar.volume > 0 for bar in bars)


def test_guards_judge_bars_without_the_columns_exactly_as_with_them() -> None:
    """No guard reads the four columns, so blanking them changes no verdict, and nothing crashes."""
    full = recorded_klines(BTC_2025)
    with_columns, without_columns = guard_verdicts(full), guard_verdicts(blanked(full))
    assert with_columns == without_columns
    # The comparison covered guards that did speak: the 05:59 volume explosion of that day.
    assert any(verdict.level is GuardLevel.CRITICAL for bar in with_columns for verdict in bar)


def test_guards_run_over_a_real_ohlcv_only_day() -> None:
    bars = recorded_klines(OHLCV_ONLY)
    verdicts = guard_verdicts(bars)
    assert len(verdicts) == len(bars) and all(len(bar) == 6 for bar in verdicts)
    volume_levels = [verdict.level for bar in verdicts for verdict in bar if verdict.guard == "abnormal_volume"]
    # The volume column is there, so the volume guard still works: it grades the day's surges.
    assert len(volume_levels) == len(bars) and max(volume_levels) >= GuardLevel.HIGH


def test_a_guard_bar_from_a_kline_without_a_trade_count_keeps_it_unknown() -> None:
    closed: list[Bar] = []
    builder = BarBuilder(60_000_000_000, "kline", closed.append, max_empty_bars=5)
    first, second = recorded_klines(OHLCV_ONLY)[:2]
    builder.observe(first)
    builder.observe(second)
    assert [bar.trade_count for bar in closed] == [None, None]
    assert [bar.volume for bar in closed] == [float(first.volume), float(second.volume)]


def test_backfill_reads_the_replay_exchanges_null_columns_as_none() -> None:
    """The replay exchange answers GET /api/v3/klines for an OHLCV-only file with null in the
    four columns (bot/sim/rest.py); the row here is the file's first row in that shape."""
    cells = (TEST_DATA / OHLCV_ONLY).read_text().splitlines()[1].split(",")
    row = [int(cells[0]), *cells[1:6], int(cells[6]), None, None, None, None, "0"]
    kline = _kline_from_row("BTCUSDT", "1m", row, ts_init=7)
    assert tuple(getattr(kline, field) for field in OPTIONAL) == (None, None, None, None)
    assert (kline.open, kline.close, kline.volume) == (Decimal(cells[1]), Decimal(cells[4]), Decimal(cells[5]))
    assert kline.is_closed and kline.open_time == int(cells[0]) * 1_000_000
