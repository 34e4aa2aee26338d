"""The files a user reads after a backtest: trades.csv, orders.csv, equity.csv, summary.json and
report.html, written all-or-nothing.

Writing policy (so a crash can never pass for a result, and no user file is ever lost):
- Everything is first rendered into a fresh hidden sibling directory (`.<name>.partial-*`, same
  filesystem) and flushed to disk. Any failure there removes that directory and leaves `out_dir`
  exactly as it was.
- Only then are the files moved in with `os.replace`, summary.json last: summary.json is the
  commit mark. The old summary.json is removed before the first move, so a reader who finds a
  summary.json knows every other file beside it belongs to the same run.
- `out_dir` may be new, empty, or a previous backtest's output (a summary.json of ours, or only
  files with our names). Our five files are replaced; any other file the user put there stays.
  A non-empty directory that is not a previous output is refused with `BacktestOutputError`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest import charts
from bot.durable import fsync_path
from bot.backtest.results import (
    SUMMARY_FORMAT,
    EquityPoint,
    RoundTrip,
    equity_curve,
    iso_time,
    money_text,
    round_trips,
    summarize,
)
from bot.backtest.run import BacktestRun
from bot.domain.trading import Order
from bot.errors import StartupError

TRADES, ORDERS, EQUITY, SUMMARY, REPORT = "trades.csv", "orders.csv", "equity.csv", "summary.json", "report.html"
OUTPUT_NAMES = (TRADES, ORDERS, EQUITY, SUMMARY, REPORT)  # SUMMARY moves in last (the commit mark)
TRADE_COLUMNS = ("symbol", "entry_time", "exit_time", "qty", "entry_price", "exit_price", "fees", "pnl")
ORDER_COLUMNS = (
    "client_order_id", "symbol", "side", "type", "status", "quantity", "price", "filled_quantity",
    "average_price", "quote_quantity", "created", "updated", "strategy", "reject_reason",
)
EQUITY_COLUMNS = ("time", "equity", "cash", "position_value")
HTML_TRADE_ROWS = 1000


class BacktestOutputError(StartupError):
    """The output directory cannot take a backtest's files; the message says why and what to do."""


def write_outputs(run: BacktestRun, out_dir: Path) -> dict[str, Path]:
    """Compute the results of `run` and write the five files into `out_dir` (see the module
    docstring for the all-or-nothing policy). Returns {file name: final path}."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    trips = round_trips(run.fills)
    curve = equity_curve(run)
    summary = summarize(run, trips, curve)
    renderers: dict[str, Callable[[], str]] = {
        TRADES: lambda: trades_csv(trips),
        ORDERS: lambda: orders_csv(run.orders),
        EQUITY: lambda: equity_csv(curve),
        SUMMARY: lambda: json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n",
        REPORT: lambda: render_html(run, summary, trips, curve),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        for name in OUTPUT_NAMES:
            _write_durably(staging / name, renderers[name]())
        _commit(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: out_dir / name for name in OUTPUT_NAMES}


def _check_out_dir(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise BacktestOutputError(f"backtest output {out_dir} exists and is not a directory; choose another --out")
    strangers = sorted(entry.name for entry in out_dir.iterdir() if entry.name not in OUTPUT_NAMES)
    if strangers and not _is_our_summary(out_dir / SUMMARY):
        shown = ", ".join(strangers[:5]) + (f" and {len(strangers) - 5} more" if len(strangers) > 5 else "")
        raise BacktestOutputError(
            f"refusing to write the backtest into {out_dir}: it is not empty and not a previous backtest's output "
            f"(it holds {shown}); choose a new or empty directory"
        )


def _is_our_summary(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == SUMMARY_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _commit(staging: Path, out_dir: Path) -> None:
    out_dir.mkdir(exist_ok=True)
    (out_dir / SUMMARY).unlink(missing_ok=True)  # from here on the old run no longer looks complete
    for name in OUTPUT_NAMES:  # SUMMARY is last
        os.replace(staging / name, out_dir / name)
    fsync_path(out_dir)


def _csv_text(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def trades_csv(trips: Sequence[RoundTrip]) -> str:
    return _csv_text(TRADE_COLUMNS, (
        (trip.symbol, iso_time(trip.entry_time), iso_time(trip.exit_time), money_text(trip.quantity),
         money_text(trip.entry_price), money_text(trip.exit_price), money_text(trip.fees), money_text(trip.pnl))
        for trip in trips
    ))


def orders_csv(orders: Sequence[Order]) -> str:
    """One row per order; average_price = quote_quantity / filled_quantity (empty if unfilled),
    times empty when the broker left them 0 (unknown)."""
    def row(order: Order) -> tuple[str, ...]:
        average = order.quote_quantity / order.filled_quantity if order.filled_quantity else None
        return (
            order.client_order_id, order.symbol, order.side.value, order.order_type.value, order.status.value,
            money_text(order.quantity), "" if order.price is None else money_text(order.price),
            money_text(order.filled_quantity), "" if average is None else money_text(average),
            money_text(order.quote_quantity), iso_time(order.ts_created) if order.ts_created else "",
            iso_time(order.ts_updated) if order.ts_updated else "", order.strategy, order.reject_reason,
        )
    return _csv_text(ORDER_COLUMNS, (row(order) for order in orders))


def equity_csv(curve: Sequence[EquityPoint]) -> str:
    return _csv_text(EQUITY_COLUMNS, (
        (iso_time(point.time), money_text(point.equity), money_text(point.cash), money_text(point.position_value))
        for point in curve
    ))


# ---- report.html --------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 max-width:1240px;margin:24px auto;padding:0 20px;line-height:1.4}
h1{font-size:1.5em;margin-bottom:2px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.9em}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{background:#f5f5f5}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.figure{border:1px solid #e2e2e2;border-radius:6px;padding:8px 12px}
.figure .label{color:#666;font-size:.8em}.figure .value{font-size:1.25em;font-variant-numeric:tabular-nums}
.figure .note{color:#888;font-size:.75em}
.pos{color:#1e7d3c}.neg{color:#b8322a}
.warnings{background:#fff6e0;border:1px solid #f0d48a;border-radius:6px;padding:8px 14px}
img{max-width:100%;height:auto;display:block;margin:10px 0}
code{font-size:.9em}.note{color:#666;font-size:.9em}
"""


def _human_money(value: str | None, places: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{Decimal(value):,.{places}f}"


def _human_exact(value: Decimal) -> str:
    """A price or quantity for reading: at most 8 decimals, no trailing zeros, thousands grouped."""
    shown = value.quantize(Decimal("1e-8")) if value.as_tuple().exponent < -8 else value
    text = f"{shown:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:,.2f} %"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _sign_class(value: str | float | None) -> str:
    if value is None:
        return ""
    number = Decimal(str(value))
    return "pos" if number > 0 else "neg" if number < 0 else ""


def _key_figures(summary: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, value, css class, note) for the figure cards."""
    quote = summary["quote_asset"]
    return [
        ("Final equity", f"{_human_money(summary['final_equity'])} {quote}", "", f"from {_human_money(summary['starting_cash'])}"),
        ("Net profit", f"{_human_money(summary['net_profit'])} {quote}", _sign_class(summary["net_profit"]), "after all fees"),
        ("Total return", _percent(summary["total_return"]), _sign_class(summary["total_return"]), ""),
        ("Max drawdown", _percent(summary["max_drawdown"]), "neg" if summary["max_drawdown"] else "", "from the running peak"),
        ("Sharpe", _number(summary["sharpe"]), "", "per bar, annualised (365 d)"),
        ("Sortino", _number(summary["sortino"]), "", "per bar, annualised (365 d)"),
        ("Trades", f"{summary['n_trades']:,}", "", "closed round trips"),
        ("Win rate", _percent(summary["win_rate"]), "", "" if summary["n_trades"] else "no closed trade"),
        ("Profit factor", _number(summary["profit_factor"]), "", "" if summary["profit_factor"] is not None else "no losing trade"),
        ("Exposure", _percent(summary["exposure"]), "", "bars with a position"),
        ("Fees paid", f"{_human_money(summary['fees_paid'])} {quote}", "", f"{summary['n_fills']:,} fills"),
        ("Bars", f"{summary['bars']:,}", "", f"{summary['n_orders']:,} orders"),
    ]


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return [pair for key, item in value.items() for pair in _flatten(f"{prefix}.{key}" if prefix else key, item)]
    return [(prefix, value if isinstance(value, str) else json.dumps(value))]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f'<th class="n">{html.escape(name)}</th>' if index in numeric else f"<th>{html.escape(name)}</th>" for index, name in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{html.escape(cell)}</td>' if index in numeric else f"<td>{html.escape(cell)}</td>" for index, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(run: BacktestRun, summary: Mapping[str, Any], trips: Sequence[RoundTrip], curve: Sequence[EquityPoint]) -> str:
    """A self-contained page: inline CSS, charts as data URIs, nothing fetched from anywhere."""
    escape = html.escape
    quote = run.quote_asset
    cards = "".join(
        f'<div class="figure"><div class="label">{escape(label)}</div><div class="value {css}">{escape(value)}</div>'
        f'<div class="note">{escape(note)}</div></div>'
        for label, value, css, note in _key_figures(summary)
    )
    images = [
        ("Equity curve", charts.equity_chart(curve, run.starting_cash, quote)),
        ("Drawdown", charts.drawdown_chart(curve, run.starting_cash)),
        *((f"{symbol} price with trades", charts.price_chart(symbol, run.closes.get(symbol, ()), run.fills, quote)) for symbol in run.symbols),
    ]
    chart_html = "".join(f'<img alt="{escape(alt)}" src="{uri}">' for alt, uri in images)
    warnings = "".join(f"<li>{escape(text)}</li>" for text in run.warnings)
    warnings_html = f'<div class="warnings"><strong>Warnings ({len(run.warnings)})</strong><ul>{warnings}</ul></div>' if warnings else ""
    shown = trips[:HTML_TRADE_ROWS]
    trade_rows = [
        (trip.symbol, iso_time(trip.entry_time), iso_time(trip.exit_time), _human_exact(trip.quantity),
         _human_exact(trip.entry_price), _human_exact(trip.exit_price), _human_exact(trip.fees), _human_money(money_text(trip.pnl)))
        for trip in shown
    ]
    left_out = len(trips) - len(shown)
    trades_note = (
        f'<p class="note">The first {len(shown):,} of {len(trips):,} trades; {left_out:,} more are left out here. '
        f"{TRADES} has them all.</p>" if left_out else f'<p class="note">All {len(trips):,} trades (also in {TRADES}).</p>'
    )
    trades_html = _table(("symbol", "entry", "exit", "quantity", "entry price", "exit price", f"fees ({quote})", f"pnl ({quote})"), trade_rows, frozenset(range(3, 8))) if trips else ""
    open_positions = ", ".join(f"{symbol} {quantity}" for symbol, quantity in summary["open_positions"].items())
    statuses = ", ".join(f"{status} {count}" for status, count in summary["orders_by_status"].items() if count) or "none"
    title = f"Backtest: {run.strategy} on {', '.join(run.symbols)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p class="sub">{escape(summary['data_start'])} to {escape(summary['data_end'])} &middot; {summary['bars']:,} bars &middot; quote asset {escape(quote)}</p>
{warnings_html}
<h2>Key figures</h2><div class="figures">{cards}</div>
<p class="note">Open at the end (valued at the last close, no exit fee): {escape(open_positions or 'nothing')}. Orders: {escape(statuses)}.</p>
<h2>Charts</h2>{chart_html}
<h2>Parameters</h2>{_table(("parameter", "value"), _flatten("", summary["parameters"])) if summary["parameters"] else '<p class="note">none</p>'}
<h2>Settings</h2>{_table(("setting", "value"), _flatten("", summary["settings"])) if summary["settings"] else '<p class="note">none</p>'}
<h2>Trades</h2>{trades_note}{trades_html}
<p class="note">Files: {escape(', '.join(OUTPUT_NAMES))}. How each figure is computed (returns, drawdown, Sharpe, Sortino, fees): the docstring of bot/backtest/results.py.</p>
</body></html>
"""
