"""Getting each strategy the closed bars it asked for.

A strategy names a bar interval. When the record has that symbol's `kline_<interval>` channel,
the closed klines are its bars; otherwise the engine builds them from the symbol's trades (or aggregate trades)
(`bot.features.bars.TradeBarBuilder`), so a strategy runs on any record that has trades, e.g.
the bundled recording, which has no klines. Which source is used is decided once, from the
configured channels, so it never depends on which event happens to arrive first.

Bars built from trades close on the first trade of a later interval, or, in a quiet market, when
the exchange time of another event (a depth diff) is past the bar's end by `CLOSE_DELAY_NS`:
trades stamped just before the boundary may still be on their way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.domain.events import AggTrade, DepthUpdate, Kline, MarketEvent, Trade
from bot.domain.trading import Signal
from bot.features.bars import TradeBarBuilder
from bot.features.spec import FeatureSet
from bot.strategy import Strategy

CLOSE_DELAY_NS = 1_000_000_000


class BarRouter:
    def __init__(
        self, strategies: Sequence[Strategy], kline_channels: Iterable[tuple[str, str]] = (), record_features: bool = True,
    ) -> None:
        """`kline_channels`: (symbol, interval) pairs whose closed klines are in the record;
        `record_features`: compute the feature spec per bar for the decision records (a
        backtest, which keeps no decision records, turns it off: no strategy reads them)."""
        from_klines = set(kline_channels)
        self._by_bar: dict[tuple[str, str], list[Strategy]] = {}
        self._by_symbol: dict[str, list[Strategy]] = {}
        self._builders: dict[str, list[TradeBarBuilder]] = {}
        for strategy in strategies:
            key = (strategy.symbol, strategy.interval)
            self._by_bar.setdefault(key, []).append(strategy)
            self._by_symbol.setdefault(strategy.symbol, []).append(strategy)
            if key not in from_klines and not any(b.interval == strategy.interval for b in self._builders.get(strategy.symbol, [])):
                self._builders.setdefault(strategy.symbol, []).append(TradeBarBuilder(strategy.symbol, strategy.interval, close_delay_ns=CLOSE_DELAY_NS))
        self._from_klines = from_klines
        # The shared feature spec (bot.features.spec, the definitions the nightly Spark job
        # reuses), computed once per closed bar of every (symbol, interval) a strategy trades:
        # the inputs summary each decision records.
        self._feature_sets = {key: FeatureSet() for key in self._by_bar} if record_features else {}
        self.latest_features: dict[tuple[str, str], dict[str, float | None]] = {}

    def route(self, event: MarketEvent) -> list[tuple[Strategy, Signal]]:
        """Signals of every strategy this event (or the bars it closed) reached, in a fixed order."""
        signals: list[tuple[Strategy, Signal]] = []
        if isinstance(event, Trade | AggTrade):
            for builder in self._builders.get(event.symbol, ()):
                for bar in builder.update(event):
                    self._on_bar(bar, signals)
            if isinstance(event, Trade):
                for strategy in self._by_symbol.get(event.symbol, ()):
                    signal = strategy.on_trade(event)
                    if signal is not None:
                        signals.append((strategy, signal))
        elif isinstance(event, DepthUpdate):
            for builder in self._builders.get(event.symbol, ()):
                for bar in builder.advance(event.ts_event):
                    self._on_bar(bar, signals)
        elif isinstance(event, Kline) and event.is_closed and (event.symbol, event.interval) in self._from_klines:
            self._on_bar(event, signals)
        return signals

    def _on_bar(self, bar: Kline, signals: list[tuple[Strategy, Signal]]) -> None:
        key = (bar.symbol, bar.interval)
        feature_set = self._feature_sets.get(key)
        if feature_set is not None:
            self.latest_features[key] = feature_set.update(bar)
        for strategy in self._by_bar.get((bar.symbol, bar.interval), ()):
            signals.append((strategy, strategy.on_bar(bar)))
