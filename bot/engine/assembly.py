"""Building a paper-trading engine from settings, exchange rules and the ledger's snapshots.

Shared by the daemon (`bot.app`), tests and the benchmark, so they all run the same engine. The
engine clock is a ManualClock moved only by the record's exchange times: paper fills, order
times, cooldowns and guard windows are functions of the record, never of the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.bus.redis_keys import RedisKeys
from bot.clock import ManualClock
from bot.config.settings import Settings
from bot.domain.symbols import SymbolRules, without_filters
from bot.engine.engine import TradingEngine
from bot.engine.market import MarketState
from bot.engine.metrics import EngineMetrics
from bot.execution.paper import PaperBroker
from bot.guards import build_guards
from bot.risk import Portfolio, RiskManager, TradingStateMachine
from bot.strategy import Strategy, load_strategy

_NANOSECONDS = 1_000_000_000


def kline_channels(settings: Settings) -> set[tuple[str, str]]:
    """(symbol, interval) pairs whose closed klines the record holds."""
    intervals = [stream.removeprefix("kline_") for stream in settings.ingest.streams if stream.startswith("kline_")]
    return {(symbol, interval) for symbol in settings.ingest.symbols for interval in intervals}


def build_strategies(settings: Settings) -> list[Strategy]:
    strategies = []
    for entry in settings.engine.strategies:
        for symbol in entry.symbols or settings.ingest.symbols:
            strategies.append(load_strategy(entry.name, symbol, entry.parameters))
    return strategies


class UnknownSymbolError(ValueError):
    pass


def build_engine(
    settings: Settings,
    rules: Mapping[str, SymbolRules],
    snapshots: Mapping[str, bytes],
    metrics: EngineMetrics,
) -> tuple[TradingEngine, dict[str, object]]:
    """The engine, and the objects whose snapshots the ledger keeps (name -> snapshot())."""
    symbols = list(settings.ingest.symbols)
    missing = [symbol for symbol in symbols if symbol not in rules]
    if missing:
        raise UnknownSymbolError(
            f"{', '.join(missing)}: not listed by the exchange ({settings.exchange.venue} exchangeInfo); "
            f"check ingest.symbols (Binance symbols are upper case, e.g. BTCUSDT)"
        )
    if not settings.paper.exchange_filters:
        rules = {symbol: without_filters(symbol_rules) for symbol, symbol_rules in rules.items()}
    clock = ManualClock()
    market = MarketState(symbols)
    risk_settings = settings.risk
    if "portfolio" in snapshots:
        portfolio = Portfolio.restore(snapshots["portfolio"])
        risk = RiskManager.restore(risk_settings, snapshots["risk"])
        state_machine = TradingStateMachine.restore(risk_settings, snapshots["trading_state"])
    else:
        portfolio = Portfolio(risk_settings.quote_asset, settings.paper.starting_balances)
        risk = RiskManager(risk_settings)
        state_machine = TradingStateMachine(risk_settings)
    broker = PaperBroker(
        rules, market, settings.paper.starting_balances, settings.paper.fees, settings.paper.slippage_bps, clock,
        fill_model=settings.paper.fill,
    )
    if "broker" in snapshots:
        broker.restore(snapshots["broker"])
    guards = {symbol: build_guards(symbol, settings.guards) for symbol in symbols}
    strategies = build_strategies(settings)
    engine = TradingEngine(
        strategies, guards, risk, state_machine, portfolio, broker, market, clock, metrics,
        guard_interval_ns=int(settings.engine.guard_interval_seconds * _NANOSECONDS),
        policy_settings=settings.guards.policy,
        kline_channels=kline_channels(settings),
        rules=rules,
        record_features=settings.engine.record_features,
        record_holds=settings.engine.record_holds,
    )
    sources = {"portfolio": portfolio, "broker": broker, "risk": risk, "trading_state": state_machine}
    return engine, sources


def engine_streams(settings: Settings, keys: RedisKeys) -> dict[str, str]:
    """The record's streams the engine reads (stream key -> channel), from the ingest channels."""
    channels: list[str] = []
    for stream in settings.ingest.streams:
        if stream.startswith("depth"):
            channels += ["depthUpdate", "depthSnapshot"]
        elif stream in ("trade", "aggTrade", "bookTicker") or stream.startswith("kline_"):
            channels.append(stream)
    return {keys.stream(channel, symbol): channel for symbol in settings.ingest.symbols for channel in channels}
