"""A backtest is a paper-trading run of the daemon's own engine over recorded data.

`backtest_settings` turns the command line into the daemon's `Settings` (strategy, paper account,
fill model, risk, guards); `build_engine` (bot.engine.assembly, the daemon's own) builds the
engine from them; `run_in_process` feeds it the data's events in time order on an in-memory bus:
no Redis, no sleeping, the engine clock moved by the events' exchange times. `--through-daemon`
(bot.backtest.through_daemon) runs the same Settings through the whole daemon instead.

Backtest risk: every entry spends all free cash (`all_cash` sizing, a quote-amount order), no
position or exposure caps, no stop-loss or take-profit, no daily loss limit: the strategy alone
decides, as the README's fill convention says. Guards stay on unless `--no-guards`.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.data import MarketData
from bot.backtest.run import BacktestRun
from bot.config.settings import Settings
from bot.config.trading import EngineSettings, PaperSettings, StrategyEntry
from bot.domain.events import AggTrade, Kline, MarketEvent, Trade
from bot.domain.symbols import SymbolRules, rules_from_exchange_info
from bot.domain.trading import Fill, Order
from bot.engine.assembly import build_engine
from bot.engine.metrics import EngineMetrics
from bot.engine.records import EngineOutputs
from bot.execution.fees import FeeSettings
from bot.execution.paper import FillModel
from bot.features.intervals import interval_nanoseconds
from bot.guards import GuardSettings
from bot.risk import AllCashSizing, RiskSettings
from bot.sim.source import read_bytes
from bot.sim.timeline import RECORDINGS_DIRECTORY
from bot.strategy import StrategyConfigError, load_strategy, refuse_missing_kline_fields

# The exchange rules a backtest trades under: the bundled spot exchangeInfo (2021-10-12).
EXCHANGE_INFO = RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz"
_GUARD_NAMES = ("extreme_move", "abnormal_volume", "suspicious_spread", "pump_dump", "wash_trading", "data_quality")
# How often the engine takes outputs off its hands: decisions are counted, not kept.
_COLLECT_EVERY = 4096


class BacktestError(Exception):
    """A backtest that cannot run as asked; the message says why and what to change."""


@dataclass(frozen=True)
class BacktestOptions:
    strategy: str
    parameters: Mapping[str, Any]
    cash: Decimal = Decimal(10_000)
    fee_bps: Decimal = Decimal(10)
    fill: FillModel | None = None  # None: next-open for klines, close for trades
    exchange_filters: bool = True
    guards: bool = True
    start_ns: int | None = None
    end_ns: int | None = None


@dataclass(frozen=True)
class Plan:
    """What both paths run: the daemon's settings and the exchange rules, checked against the data."""

    settings: Settings
    rules: dict[str, SymbolRules]
    interval: str
    parameters: dict[str, Any]
    fill: FillModel


def plan_backtest(options: BacktestOptions, data: MarketData) -> Plan:
    rules = _exchange_rules(data.symbols)
    quote_assets = sorted({rules[symbol].quote_asset for symbol in data.symbols})
    if len(quote_assets) != 1:
        raise BacktestError(f"the symbols are quoted in {', '.join(quote_assets)}; a backtest account holds one quote asset")
    parameters = dict(options.parameters)
    kline_intervals = sorted({stream.removeprefix("kline_") for stream in data.streams if stream.startswith("kline_")})
    if "interval" not in parameters and len(kline_intervals) == 1:
        parameters["interval"] = kline_intervals[0]  # the data's bars, unless asked otherwise
    try:
        strategy = load_strategy(options.strategy, data.symbols[0], parameters)
        missing_by_source: dict[str, list[str]] = {}
        for source, kline_field in data.missing_kline_fields:
            missing_by_source.setdefault(source, []).append(kline_field)
        for source, fields in missing_by_source.items():
            refuse_missing_kline_fields(options.strategy, fields, source)
    except StrategyConfigError as error:
        raise BacktestError(str(error)) from None
    has_trades = any(stream in ("trade", "aggTrade") for stream in data.streams)
    if kline_intervals and strategy.interval not in kline_intervals and not has_trades:
        raise BacktestError(
            f"strategy {options.strategy} trades {strategy.interval} bars, the data has {', '.join(kline_intervals)} "
            f"klines and no trades to build others from; pass --param interval={kline_intervals[0]}"
        )
    fill = options.fill or (FillModel.NEXT_OPEN if kline_intervals or has_trades else FillModel.BOOK)
    fee_rate = options.fee_bps / Decimal(10_000)
    if options.guards:
        # Exchange times of recorded history are years behind the receiving clock of a replay.
        guards = GuardSettings(data_quality={"check_clock_skew": False})
    else:
        guards = GuardSettings(**{name: {"enabled": False} for name in _GUARD_NAMES})
    settings = Settings(
        data_directory=Path("var/backtest"),
        ingest={"symbols": data.symbols, "streams": data.streams},
        engine=EngineSettings(
            enabled=True,
            strategies=(StrategyEntry(name=options.strategy, parameters=parameters),),
            guard_interval_seconds=interval_nanoseconds(strategy.interval) / 1e9,
            record_features=False,
            record_holds=False,
        ),
        paper=PaperSettings(
            starting_balances={quote_assets[0]: options.cash},
            fees=FeeSettings(taker_bps=options.fee_bps, maker_bps=options.fee_bps),
            slippage_bps=Decimal(0),
            fill=fill,
            exchange_filters=options.exchange_filters,
        ),
        risk=RiskSettings(
            quote_asset=quote_assets[0], sizing=AllCashSizing(), max_position_value=None, max_total_exposure=None,
            max_open_positions=max(len(data.symbols), 1), stop_loss_pct=None, fee_rate=fee_rate,
            # With filters on, dust left by lot rounding is not sent to be refused by NOTIONAL.
            min_order_value=RiskSettings().min_order_value if options.exchange_filters else Decimal(0),
        ),
        guards=guards,
        scanner={"enabled": False},
        metrics={"enabled": False},
    )
    return Plan(settings=settings, rules=rules, interval=strategy.interval, parameters=parameters, fill=fill)


def run_in_process(
    options: BacktestOptions, data: MarketData, progress: Callable[[int], None] | None = None,
) -> BacktestRun:
    """The backtest on an in-memory bus; `progress(events_done)` is called now and then."""
    plan = plan_backtest(options, data)
    return asyncio.run(_run(options, plan, data, progress))


async def _run(options: BacktestOptions, plan: Plan, data: MarketData, progress: Callable[[int], None] | None) -> BacktestRun:
    engine, _ = build_engine(plan.settings, plan.rules, {}, EngineMetrics())
    closes = CloseSampler(plan.interval)
    orders: dict[str, Order] = {}
    fills: list[Fill] = []
    handle, observe = engine.handle, closes.observe
    for index, event in enumerate(data.events, start=1):
        await handle(event)
        observe(event)
        if index % _COLLECT_EVERY == 0:
            _collect(engine.take_outputs(), orders, fills)
            if progress is not None:
                progress(index)
    _collect(engine.take_outputs(), orders, fills)
    closes.finish()
    if progress is not None:
        progress(len(data.events))
    return backtest_run(options, plan, data, list(orders.values()), fills, closes.closes)


def _collect(outputs: EngineOutputs, orders: dict[str, Order], fills: list[Fill]) -> None:
    orders.update(outputs.orders)
    fills.extend(outputs.fills)


def backtest_run(
    options: BacktestOptions, plan: Plan, data: MarketData, orders: list[Order], fills: list[Fill],
    closes: Mapping[str, list[tuple[int, Decimal]]],
) -> BacktestRun:
    """The finished run, whichever path produced its orders and fills."""
    return BacktestRun(
        strategy=options.strategy,
        parameters=plan.parameters,
        settings={
            "cash": str(options.cash), "fee_bps": str(options.fee_bps), "fill": plan.fill.value,
            "exchange_filters": options.exchange_filters, "guards": options.guards,
        },
        symbols=data.symbols,
        quote_asset=plan.settings.risk.quote_asset,
        starting_cash=options.cash,
        fills=sorted(fills, key=lambda fill: fill.ts),
        orders=sorted(orders, key=lambda order: (order.ts_created, order.client_order_id)),
        closes=dict(closes),
        bar_interval_ns=interval_nanoseconds(plan.interval),
        data_start_ns=data.start_ns,
        data_end_ns=data.end_ns,
        warnings=tuple(data.warnings),
    )


class CloseSampler:
    """Each symbol's close per bar of the strategy's interval, for the equity curve: a closed
    kline of that interval gives its close; trades give the last price of each interval."""

    def __init__(self, interval: str) -> None:
        self._interval = interval
        self._interval_ns = interval_nanoseconds(interval)
        self.closes: dict[str, list[tuple[int, Decimal]]] = {}
        self._open_bar: dict[str, tuple[int, Decimal]] = {}  # symbol -> (bar end, last price)

    def observe(self, event: MarketEvent) -> None:
        if type(event) is Kline:
            if event.is_closed and event.interval == self._interval:
                self.closes.setdefault(event.symbol, []).append((event.close_time, event.close))
        elif isinstance(event, (Trade, AggTrade)):
            end = event.ts_event - event.ts_event % self._interval_ns + self._interval_ns - 1
            current = self._open_bar.get(event.symbol)
            if current is not None and current[0] < end:
                self.closes.setdefault(event.symbol, []).append(current)
            self._open_bar[event.symbol] = (end, event.price)

    def finish(self) -> None:
        for symbol, bar in sorted(self._open_bar.items()):
            self.closes.setdefault(symbol, []).append(bar)
        self._open_bar.clear()


@functools.cache
def _listed_rules() -> dict[str, SymbolRules]:
    """The bundled exchangeInfo, read and parsed once per process (1,695 symbols)."""
    return rules_from_exchange_info(json.loads(read_bytes(EXCHANGE_INFO)))


def _exchange_rules(symbols: tuple[str, ...]) -> dict[str, SymbolRules]:
    listed = _listed_rules()
    missing = [symbol for symbol in symbols if symbol not in listed]
    if missing:
        raise BacktestError(
            f"{', '.join(missing)}: not in the exchange rules a backtest trades under ({EXCHANGE_INFO.name}); "
            "a backtest needs the symbol's base and quote asset and filters from there"
        )
    return {symbol: listed[symbol] for symbol in symbols}
