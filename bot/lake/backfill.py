"""`tradebot backfill`: fills raw/klines from the exchange's REST API or data.binance.vision files.

Resumable and idempotent by construction: for every symbol and UTC day it first reads what the
raw layer holds (exact open times, see coverage) and fetches only the missing bars of that day,
then writes that day's file before going to the next. An interrupted run leaves whole days behind;
the next run skips them. A day already complete is skipped without a request, so running twice
writes nothing the second time. Only closed bars are stored (close time before now).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from bot.clock import Clock
from bot.domain.events import MILLISECONDS
from bot.ingest.backfill import fetch_klines
from bot.ingest.rest import RestError, RestGateway
from bot.lake.coverage import RawCoverage
from bot.lake.layout import KLINES
from bot.lake.records import Row, kline_row
from bot.lake.vision_files import KlineFile, read_kline_file
from bot.lake.writer import RawWriter
from bot.sim.source import KLINE_INTERVAL_MS

_DAY_MS = 86_400_000


class BackfillInputError(ValueError):
    """Bad input (arguments, symbol, file): exit 2, nothing written for it."""


@dataclass
class BackfillSummary:
    bars_fetched: int = 0
    files_written: list[str] = field(default_factory=list)
    days_skipped: int = 0
    days_incomplete: list[str] = field(default_factory=list)  # the source had fewer bars than the day

    def line(self) -> str:
        text = (f"backfill: {self.bars_fetched} bars fetched, {len(self.files_written)} files written, "
                f"{self.days_skipped} days skipped")
        if self.days_incomplete:
            text += f", {len(self.days_incomplete)} days still incomplete"
        return text


@dataclass(frozen=True)
class BackfillRequest:
    symbols: tuple[str, ...]
    first_day: date
    last_day: date
    interval: str = "1m"

    def __post_init__(self) -> None:
        if self.first_day > self.last_day:
            raise BackfillInputError(f"--from {self.first_day} is after --to {self.last_day}")
        if not self.symbols:
            raise BackfillInputError("--symbols names no symbol")
        milliseconds = KLINE_INTERVAL_MS.get(self.interval)
        if milliseconds is None or _DAY_MS % milliseconds:
            usable = " ".join(name for name, length in KLINE_INTERVAL_MS.items() if _DAY_MS % length == 0)
            raise BackfillInputError(f"--interval {self.interval!r}: use one that divides a day ({usable})")

    @property
    def interval_ms(self) -> int:
        return KLINE_INTERVAL_MS[self.interval]

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=offset) for offset in range((self.last_day - self.first_day).days + 1)]

    def expected_open_times(self, day: date) -> list[int]:
        start = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()) * 1000
        return list(range(start, start + _DAY_MS, self.interval_ms))


Progress = Callable[[str], None]


class KlineBackfill:
    def __init__(self, writer: RawWriter, coverage: RawCoverage, clock: Clock, progress: Progress) -> None:
        self._writer = writer
        self._coverage = coverage
        self._clock = clock
        self._progress = progress

    def _missing(self, request: BackfillRequest, symbol: str, day: date) -> list[int]:
        """Open times of the day not held yet, leaving out bars not closed by now."""
        now_ms = self._clock.now_ns() // MILLISECONDS
        held = self._coverage.kline_open_times(request.interval, symbol, day.isoformat())
        return [open_ms for open_ms in request.expected_open_times(day)
                if open_ms not in held and open_ms + request.interval_ms <= now_ms]

    def _store_day(self, request: BackfillRequest, symbol: str, day: date, rows: list[Row],
                   missing: list[int], source: str, summary: BackfillSummary) -> None:
        wanted = set(missing)
        rows = [row for row in rows if row["open_time_ms"] in wanted]
        result = self._writer.write(KLINES, symbol, rows, source, request.interval)
        summary.bars_fetched += len(rows)
        summary.files_written += result.files_written
        if len(rows) < len(missing):
            summary.days_incomplete.append(f"{symbol} {day}")
        self._progress(f"{symbol} {day}: {len(missing)} bars missing, {len(rows)} stored"
                       + (f" ({len(missing) - len(rows)} not available)" if len(rows) < len(missing) else ""))

    async def from_rest(self, gateway: RestGateway, request: BackfillRequest) -> BackfillSummary:
        await self._check_symbols(gateway, request)
        summary = BackfillSummary()
        for symbol in request.symbols:
            for day in request.days():
                missing = await asyncio.to_thread(self._missing, request, symbol, day)
                if not missing:
                    summary.days_skipped += 1
                    self._progress(f"{symbol} {day}: complete, skipped")
                    continue
                klines = await fetch_klines(gateway, self._clock, symbol, request.interval,
                                            missing[0] * MILLISECONDS, missing[-1] * MILLISECONDS)
                rows = [kline_row(kline, "rest", kline.ts_init) for kline in klines]
                await asyncio.to_thread(self._store_day, request, symbol, day, rows, missing, "rest", summary)
        return summary

    async def _check_symbols(self, gateway: RestGateway, request: BackfillRequest) -> None:
        """Asks for one bar of every symbol before anything is written, so a misspelt symbol
        (Binance error -1121) stops the run with nothing half-done."""
        for symbol in request.symbols:
            try:
                await gateway.call("get_klines", symbol=symbol, interval=request.interval, limit=1)
            except RestError as error:
                if "code -1121" in str(error):
                    raise BackfillInputError(f"unknown symbol {symbol!r}: the exchange answered -1121 Invalid symbol") from None
                raise

    def from_files(self, files: list[KlineFile], request: BackfillRequest) -> BackfillSummary:
        """Reads (and so checks) every file first, then writes day by day."""
        without_files = [symbol for symbol in request.symbols if not any(item.symbol == symbol for item in files)]
        if without_files:
            raise BackfillInputError(f"no data.binance.vision {request.interval} kline file for {', '.join(without_files)} "
                                     f"covering {request.first_day}..{request.last_day}")
        now_ns = self._clock.now_ns()
        by_symbol: dict[str, list[Row]] = {}
        for item in files:
            self._progress(f"reading {item.path.name}")
            by_symbol.setdefault(item.symbol, []).extend(read_kline_file(item, now_ns))
        summary = BackfillSummary()
        for symbol in request.symbols:
            by_day: dict[int, list[Row]] = {}
            for row in by_symbol[symbol]:
                by_day.setdefault(row["open_time_ms"] // _DAY_MS, []).append(row)
            for day in request.days():
                missing = self._missing(request, symbol, day)
                if not missing:
                    summary.days_skipped += 1
                    self._progress(f"{symbol} {day}: complete, skipped")
                    continue
                day_key = request.expected_open_times(day)[0] // _DAY_MS
                self._store_day(request, symbol, day, by_day.get(day_key, []), missing, "file", summary)
        return summary
