"""`tradebot backtest`: arguments in, the run, files out, a short summary on the terminal.

Every refusal is one line on stderr and exit status 2, and it happens before anything is written:
the output directory only ever receives a complete set of files (bot.backtest.report).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from bot.backtest.data import DataError, DataSpec, MarketData, load_market_data
from bot.backtest.report import BacktestOutputError, write_outputs
from bot.backtest.run import BacktestRun
from bot.backtest.runner import BacktestError, BacktestOptions, run_in_process
from bot.execution.paper import FillModel

_NANOSECONDS = 1_000_000_000


def add_backtest_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "backtest", help="paper-trade a strategy over recorded data with the daemon's own engine",
        description="Paper-trade a strategy over recorded market data with the daemon's own engine, "
        "guards, risk and paper broker; writes trades.csv, orders.csv, equity.csv, summary.json and report.html.",
    )
    parser.add_argument("--strategy", required=True, help="a strategy in strategies/, e.g. sma_cross")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a strategy parameter (repeatable)")
    parser.add_argument(
        "--data", action="append", required=True, metavar="[SYMBOL[:INTERVAL]=]FILE",
        help="klines / trades / aggTrades CSV, websocket JSONL or Parquet (repeatable, several symbols at once)",
    )
    parser.add_argument("--from", dest="start", metavar="ISO", help="first moment to trade, e.g. 2023-09-01 or 2023-09-01T12:00Z")
    parser.add_argument("--to", dest="end", metavar="ISO", help="end of the run (exclusive)")
    parser.add_argument("--cash", default="10000", help="starting cash in the quote asset (default 10000)")
    parser.add_argument("--fee-bps", default="10", help="fee per fill in basis points of its value (default 10 = 0.1%%)")
    parser.add_argument(
        "--fill", choices=[model.value for model in FillModel],
        help="when a market order fills (default: next-open for klines and trades, book for depth data)",
    )
    parser.add_argument("--exchange-filters", action=argparse.BooleanOptionalAction, default=True,
                        help="apply Binance's LOT_SIZE, tick size and NOTIONAL filters (default on)")
    parser.add_argument("--guards", action=argparse.BooleanOptionalAction, default=True,
                        help="run the anomaly guards (default on)")
    parser.add_argument("--through-daemon", action="store_true",
                        help="run through the whole daemon: replay exchange -> websocket -> Redis -> engine -> paper broker")
    parser.add_argument("--out", required=True, type=Path, help="directory for the results")


def run_backtest_command(arguments: argparse.Namespace) -> int:
    try:
        options = _options(arguments)
        data = load_market_data([DataSpec.parse(text) for text in arguments.data], options.start_ns, options.end_ns)
        for warning in data.warnings:
            print(f"tradebot backtest: warning: {warning}", file=sys.stderr)
        if arguments.through_daemon:
            from bot.backtest.through_daemon import (
                run_through_daemon,  # starts Redis and the replay exchange
            )

            run = run_through_daemon(options, data)
        else:
            run = _run_with_progress(options, data)
        paths = write_outputs(run, arguments.out)
    except (DataError, BacktestError, BacktestOutputError) as error:
        print(f"tradebot backtest: error: {error}", file=sys.stderr)
        return 2
    _print_summary(run, paths["summary.json"].parent)
    return 0


def _options(arguments: argparse.Namespace) -> BacktestOptions:
    return BacktestOptions(
        strategy=arguments.strategy,
        parameters=_parameters(arguments.param),
        cash=_positive_decimal("--cash", arguments.cash),
        fee_bps=_fee_bps(arguments.fee_bps),
        fill=FillModel(arguments.fill) if arguments.fill else None,
        exchange_filters=arguments.exchange_filters,
        guards=arguments.guards,
        start_ns=_moment("--from", arguments.start),
        end_ns=_moment("--to", arguments.end),
    )


def _parameters(pairs: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise BacktestError(f"--param {pair}: expected KEY=VALUE, e.g. --param fast_period=20")
        # YAML scalars, as in the settings file: 20 is an int, 0.5 a float, 1m a string.
        parameters[key] = yaml.safe_load(value) if value else value
    return parameters


def _positive_decimal(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BacktestError(f"{option} {text}: not a number") from None
    if not value.is_finite() or value <= 0:
        raise BacktestError(f"{option} {text}: must be a positive number")
    return value


def _fee_bps(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BacktestError(f"--fee-bps {text}: not a number") from None
    if not value.is_finite() or not 0 <= value <= 1000:
        raise BacktestError(f"--fee-bps {text}: must be between 0 and 1000 basis points (10 = 0.1%)")
    return value


def _moment(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BacktestError(f"{option} {text}: not an ISO-8601 date or time, e.g. 2023-09-01 or 2023-09-01T12:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # exchange data is in UTC; so is a bare date
    seconds = moment.timestamp()
    return int(seconds) * _NANOSECONDS + moment.microsecond * 1000


def _run_with_progress(options: BacktestOptions, data: MarketData) -> BacktestRun:
    if not sys.stderr.isatty():
        return run_in_process(options, data)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("backtest {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task(options.strategy, total=len(data.events))
        return run_in_process(options, data, lambda done: progress.update(task, completed=done))


def _print_summary(run: BacktestRun, out_dir: Path) -> None:
    import json

    summary = json.loads((out_dir / "summary.json").read_text())

    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.2f}%"

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    print(f"{run.strategy} on {', '.join(run.symbols)}: {summary['bars']} bars, {summary['data_start']} .. {summary['data_end']}")
    print(
        f"final equity {Decimal(summary['final_equity']):.2f} {run.quote_asset} ({percent(summary['total_return'])}), "
        f"{summary['n_trades']} trades, win rate {percent(summary['win_rate'])}, "
        f"max drawdown {percent(summary['max_drawdown'])}, sharpe {number(summary['sharpe'])}, fees {Decimal(summary['fees_paid']):.2f}"
    )
    print(f"results in {out_dir}/ (report.html, summary.json, trades.csv, orders.csv, equity.csv)")
