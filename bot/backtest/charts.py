"""The report's charts: matplotlib (Agg, no display, no pyplot state) to PNG, inlined as data URIs.

Long series are cut down before plotting to a min/max envelope per pixel column: a 175,680-bar
curve becomes about 2,400 points that draw the same picture (every spike survives, which plotting
every k-th point would lose), so the report renders in well under a second per chart. Trade
markers are never downsampled: each is drawn at its fill's exact time and price.

The PNGs carry no metadata (no matplotlib version, no date), so the same run gives byte-identical
images and reports.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from bot.backtest.results import EquityPoint
from bot.domain.trading import Fill, Side

WIDTH_INCHES, HEIGHT_INCHES, DPI = 11.0, 3.2, 110
PLOT_COLUMNS = int(WIDTH_INCHES * DPI)  # about one envelope bucket per pixel column of the axes


def envelope(times: np.ndarray, values: np.ndarray, columns: int = PLOT_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """The series cut to its min and max per column (in time order); short series unchanged."""
    count = len(values)
    if count <= 2 * columns:
        return times, values
    edges = np.linspace(0, count, columns + 1).astype(np.int64)
    picks = np.empty(2 * columns, dtype=np.int64)
    for column in range(columns):
        begin, end = edges[column], edges[column + 1]
        segment = values[begin:end]
        low, high = begin + int(np.argmin(segment)), begin + int(np.argmax(segment))
        picks[2 * column], picks[2 * column + 1] = min(low, high), max(low, high)
    return times[picks], values[picks]


def as_datetimes(times_ns: Sequence[int]) -> np.ndarray:
    return np.asarray(times_ns, dtype=np.int64).astype("datetime64[ns]")


def _figure(title: str, ylabel: str) -> tuple[Figure, object]:
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_ylabel(ylabel)
    axes.grid(True, color="#e3e3e3", linewidth=0.8)
    axes.spines[["top", "right"]].set_visible(False)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.ticklabel_format(axis="y", style="plain", useOffset=False)
    return figure, axes


def _legend(axes: object) -> None:
    """Above the plot on the right, level with the title, so it never hides data."""
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False, fontsize=9, borderaxespad=0.2)


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(figure: Figure, axes: object) -> str:
    axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center", color="#888888")
    return _data_uri(figure)


def equity_chart(curve: Sequence[EquityPoint], starting_cash: Decimal, quote_asset: str) -> str:
    """Equity over time with the starting cash as a dashed reference line."""
    figure, axes = _figure("Equity", quote_asset)
    if not curve:
        return _no_data(figure, axes)
    times, values = envelope(as_datetimes([point.time for point in curve]), np.array([float(point.equity) for point in curve]))
    axes.plot(times, values, color="#1f5fa8", linewidth=1.1)
    axes.axhline(float(starting_cash), color="#888888", linewidth=0.9, linestyle="--", label="starting cash")
    _legend(axes)
    return _data_uri(figure)


def drawdown_series(curve: Sequence[EquityPoint], starting_cash: Decimal) -> np.ndarray:
    """Fall from the running peak (which starts at the starting cash) as a fraction, >= 0."""
    equity = np.array([float(point.equity) for point in curve])
    peaks = np.maximum.accumulate(np.concatenate(([float(starting_cash)], equity)))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, (peaks - equity) / peaks, 0.0)


def drawdown_chart(curve: Sequence[EquityPoint], starting_cash: Decimal) -> str:
    """Drawdown below the running peak, in percent (drawn downwards)."""
    figure, axes = _figure("Drawdown from running peak", "%")
    if not curve:
        return _no_data(figure, axes)
    times, values = envelope(as_datetimes([point.time for point in curve]), -100.0 * drawdown_series(curve, starting_cash))
    axes.fill_between(times, values, 0.0, color="#c0392b", alpha=0.35, linewidth=0)
    axes.plot(times, values, color="#c0392b", linewidth=0.9)
    axes.set_ylim(top=0.0)
    return _data_uri(figure)


def price_chart(symbol: str, closes: Sequence[tuple[int, Decimal]], fills: Sequence[Fill], quote_asset: str) -> str:
    """A symbol's closes with every buy fill (green ^) and sell fill (red v) at its exact price."""
    figure, axes = _figure(f"{symbol} close with entries and exits", quote_asset)
    if not closes:
        return _no_data(figure, axes)
    times, values = envelope(as_datetimes([time for time, _ in closes]), np.array([float(price) for _, price in closes]))
    axes.plot(times, values, color="#444444", linewidth=0.9, label="close")
    own = [fill for fill in fills if fill.symbol == symbol]
    size = max(10.0, min(64.0, 3000.0 / max(len(own), 1)))  # many trades: smaller marks, the price stays visible
    for side, marker, color, label in ((Side.BUY, "^", "#1e9e4a", "buy (entry)"), (Side.SELL, "v", "#d62c2c", "sell (exit)")):
        chosen = [fill for fill in own if fill.side is side]
        if chosen:
            axes.scatter(
                as_datetimes([fill.ts for fill in chosen]), [float(fill.price) for fill in chosen], marker=marker,
                color=color, s=size, zorder=3, edgecolors="white", linewidths=0.4 if size < 30 else 0.6, label=label,
            )
    _legend(axes)
    return _data_uri(figure)
