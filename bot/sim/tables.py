"""Loaders for table recordings: klines, raw trades and aggregate trades CSV files, with or without
a header row (data.binance.vision files have none), plain or gzipped.

Each row becomes the websocket event Binance would have sent for it. Cells are kept as the
recorded strings; they are checked to be decimal numerals so a bad file fails at load time, naming
the line, instead of producing invalid frames later.
"""

from __future__ import annotations

from pathlib import Path

from bot.sim.records import (
    DECIMAL_TEXT,
    SYMBOL_TEXT,
    AggTradeRecord,
    KlineRecord,
    TradeRecord,
    agg_trade_event,
    combined_frame,
    kline_event,
    trade_event,
)
from bot.sim.source import KLINE_INTERVAL_MS, KLINE_INTERVALS, RecordingError, RecordingSource, RecordingSpec, hints_from_name

_NANOS_PER_MILLI = 1_000_000
# data.binance.vision writes spot timestamps in microseconds from 2025 on; real ms epochs stay
# below this bound until the year 5138.
_MICROSECOND_THRESHOLD = 10**14


def _milliseconds(cell: str) -> int:
    value = int(cell)
    return value // 1000 if value >= _MICROSECOND_THRESHOLD else value


def _decimal(cell: str, column: str) -> str:
    if DECIMAL_TEXT.match(cell) is None:
        raise ValueError(f"column {column!r} is not a decimal number: {cell!r}")
    return cell


def _optional_decimal(cell: str, column: str) -> str | None:
    return None if cell == "" else _decimal(cell, column)


def _boolean(cell: str, column: str) -> bool:
    lowered = cell.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(f"column {column!r} is not True/False: {cell!r}")


def _rows(path: Path, content: bytes) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """(header cells or None, [(line number, cells)])."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordingError(f"{path}: not UTF-8 text: {error}") from error
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        cells = line.split(",")
        if header is None and not rows and not cells[0].lstrip("-").isdigit():
            header = [cell.strip() for cell in cells]
            continue
        rows.append((line_number, cells))
    return header, rows


def detect_table_kind(path: Path, header: list[str] | None, first_row: list[str] | None) -> str:
    """"klines", "trades" or "aggTrades", from the header, else the column count and file name."""
    if header is not None:
        first = header[0].lower()
        if first.startswith("open_time"):
            return "klines"
        if first in ("agg_trade_id", "a", "aggregate_trade_id"):
            return "aggTrades"
        if first in ("id", "trade_id"):
            return "trades"
        raise RecordingError(f"{path}:1: unknown CSV header {','.join(header)!r}")
    hint = hints_from_name(path).kind
    columns = len(first_row) if first_row else 0
    if columns in (11, 12):
        return "klines"
    if columns == 8:
        return "aggTrades"
    if columns == 7:
        return "trades"
    if hint in ("aggTrades", "trades"):
        return hint
    raise RecordingError(f"{path}: cannot tell the CSV kind ({columns} columns, no header)")


def load_table(spec: RecordingSpec, content: bytes) -> RecordingSource:
    path = spec.path
    header, rows = _rows(path, content)
    kind = detect_table_kind(path, header, rows[0][1] if rows else None)
    hints = hints_from_name(path)
    symbol = spec.symbol or hints.symbol
    if symbol is None or SYMBOL_TEXT.match(symbol) is None:
        raise RecordingError(
            f"{path}: cannot tell the symbol; name the file spot_<SYMBOL>_... or give it explicitly"
        )
    source = RecordingSource(path=str(path), recorded_frames=False)
    current_line = 0
    try:
        if kind == "klines":
            interval = spec.interval or hints.kind or _interval_of_first_bar(rows)
            if interval not in KLINE_INTERVALS:
                raise RecordingError(
                    f"{path}: cannot tell the kline interval (got {interval!r}); name the file "
                    "spot_<SYMBOL>_<interval>_... or give it explicitly"
                )
            for current_line, cells in rows:
                _load_klines(source, symbol, interval, cells, spec.closed_klines_only)
        else:
            row_loader = _load_trades if kind == "trades" else _load_agg_trades
            for current_line, cells in rows:
                row_loader(source, symbol, cells)
    except (ValueError, IndexError) as error:
        raise RecordingError(f"{path}:{current_line}: bad {kind} row: {error}") from error
    if spec.require_order:
        _refuse_disorder(source, kind, [line for line, _ in rows])
    _sort_by_time(source)
    return source


# A bar's length (close time - open time + 1 ms) names its interval.
_INTERVAL_OF_LENGTH_MS = {length: interval for interval, length in KLINE_INTERVAL_MS.items()}


def _interval_of_first_bar(rows: list[tuple[int, list[str]]]) -> str | None:
    """The interval a file name did not give, from its first bar's open and close times."""
    try:
        cells = rows[0][1]
        return _INTERVAL_OF_LENGTH_MS.get(_milliseconds(cells[6]) - _milliseconds(cells[0]) + 1)
    except (IndexError, ValueError):
        return None


def _refuse_disorder(source: RecordingSource, kind: str, line_numbers: list[int]) -> None:
    """A bar or trade id seen twice, or a row earlier than the one before it, names its line."""
    if kind == "klines":
        records = next(iter(source.klines.values()), [])
        keys = [(bar.open_time_ms, bar.open_time_ms) for bar in records]
        what = "open time"
    elif kind == "trades":
        records = next(iter(source.trades.values()), [])
        keys = [(trade.time_ms, trade.trade_id) for trade in records]
        what = "trade id"
    else:
        records = next(iter(source.agg_trades.values()), [])
        keys = [(agg.time_ms, agg.agg_id) for agg in records]
        what = "aggregate trade id"
    seen: set[int] = set()
    for index in range(len(keys)):
        time_ms, identity = keys[index]
        if identity in seen:
            raise RecordingError(f"{source.path}:{line_numbers[index]}: duplicated {what} {identity}")
        seen.add(identity)
        if index and time_ms < keys[index - 1][0]:
            raise RecordingError(
                f"{source.path}:{line_numbers[index]}: time {time_ms} ms is before the previous row's "
                f"{keys[index - 1][0]} ms; the rows must be in time order"
            )


def _load_klines(source: RecordingSource, symbol: str, interval: str, cells: list[str], closed_only: bool) -> None:
    if len(cells) not in (11, 12):
        raise ValueError(f"expected 11 or 12 columns, found {len(cells)}")
    trade_count = cells[8].strip()
    bar = KlineRecord(
        open_time_ms=_milliseconds(cells[0]),
        open=_decimal(cells[1], "open"),
        high=_decimal(cells[2], "high"),
        low=_decimal(cells[3], "low"),
        close=_decimal(cells[4], "close"),
        volume=_decimal(cells[5], "volume"),
        close_time_ms=_milliseconds(cells[6]),
        quote_volume=_optional_decimal(cells[7], "quote_volume"),
        trade_count=int(trade_count) if trade_count else None,
        taker_buy_base=_optional_decimal(cells[9], "taker_buy_base"),
        taker_buy_quote=_optional_decimal(cells[10], "taker_buy_quote"),
        ignore=_decimal(cells[11], "ignore") if len(cells) == 12 and cells[11] else "0",
        position=len(source),
    )
    stream = f"{symbol.lower()}@kline_{interval}"
    # Only the closed bar was recorded. The update before the close carries the same final values
    # and is placed AT the close time, so no value is ever seen before it was true.
    if not closed_only:
        update, offset = combined_frame(
            stream, kline_event(symbol, interval, bar, closed=False, event_time_ms=bar.close_time_ms)
        )
        source.add_event(bar.close_time_ms * _NANOS_PER_MILLI, stream, update, offset, -1, bar.close_time_ms)
    final_ms = bar.close_time_ms + 1
    final, offset = combined_frame(
        stream, kline_event(symbol, interval, bar, closed=True, event_time_ms=final_ms)
    )
    source.add_event(final_ms * _NANOS_PER_MILLI, stream, final, offset, -1, final_ms)
    source.klines.setdefault((symbol, interval), []).append(bar)


def _load_trades(source: RecordingSource, symbol: str, cells: list[str]) -> None:
    if len(cells) != 7:
        raise ValueError(f"expected 7 columns, found {len(cells)}")
    trade = TradeRecord(
        trade_id=int(cells[0]),
        price=_decimal(cells[1], "price"),
        quantity=_decimal(cells[2], "qty"),
        quote_quantity=_optional_decimal(cells[3], "quote_qty"),
        time_ms=_milliseconds(cells[4]),
        is_buyer_maker=_boolean(cells[5], "is_buyer_maker"),
        is_best_match=_boolean(cells[6], "is_best_match"),
        position=len(source),
    )
    stream = f"{symbol.lower()}@trade"
    frame, offset = combined_frame(stream, trade_event(symbol, trade))
    source.add_event(trade.time_ms * _NANOS_PER_MILLI, stream, frame, offset, trade.trade_id, trade.time_ms)
    source.trades.setdefault(symbol, []).append(trade)


def _load_agg_trades(source: RecordingSource, symbol: str, cells: list[str]) -> None:
    if len(cells) != 8:
        raise ValueError(f"expected 8 columns, found {len(cells)}")
    agg = AggTradeRecord(
        agg_id=int(cells[0]),
        price=_decimal(cells[1], "price"),
        quantity=_decimal(cells[2], "quantity"),
        first_trade_id=int(cells[3]),
        last_trade_id=int(cells[4]),
        time_ms=_milliseconds(cells[5]),
        is_buyer_maker=_boolean(cells[6], "is_buyer_maker"),
        is_best_match=_boolean(cells[7], "is_best_match"),
        position=len(source),
    )
    stream = f"{symbol.lower()}@aggTrade"
    frame, offset = combined_frame(stream, agg_trade_event(symbol, agg))
    source.add_event(agg.time_ms * _NANOS_PER_MILLI, stream, frame, offset, agg.agg_id, agg.time_ms)
    source.agg_trades.setdefault(symbol, []).append(agg)


def _sort_by_time(source: RecordingSource) -> None:
    """Tables are normally in time order already; a stable sort keeps ties in file order."""
    times = source.times_ns
    if all(times[i] <= times[i + 1] for i in range(len(times) - 1)):
        return
    order = sorted(range(len(times)), key=times.__getitem__)
    new_position = [0] * len(order)
    for new, old in enumerate(order):
        new_position[old] = new
    source.times_ns = [times[i] for i in order]
    source.streams = [source.streams[i] for i in order]
    source.frames = [source.frames[i] for i in order]
    source.data_offsets = [source.data_offsets[i] for i in order]
    source.item_ids = [source.item_ids[i] for i in order]
    source.exchange_ms = [source.exchange_ms[i] for i in order]
    for records in (*source.trades.values(), *source.agg_trades.values(), *source.klines.values()):
        for record in records:
            record.position = new_position[record.position]
        records.sort(key=_record_order)


def _record_order(record: object) -> int:
    for name in ("trade_id", "agg_id", "open_time_ms"):
        if hasattr(record, name):
            return getattr(record, name)
    return 0
