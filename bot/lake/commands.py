"""`tradebot archive` and `tradebot backfill`: argument parsing and the runs behind them.

Exit codes: 0 done, 1 an operational failure (Redis or the exchange unreachable), 2 bad input
(arguments, an unknown symbol, an unreadable or malformed file) with nothing written for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import date
from pathlib import Path

from bot.clock import WallClock
from bot.config import Settings, lake_root
from bot.errors import StartupError
from bot.ingest.rest import RestError, RestGateway
from bot.lake.backfill import BackfillInputError, BackfillRequest, BackfillSummary, KlineBackfill
from bot.lake.coverage import RawCoverage
from bot.lake.layout import LakeLayout
from bot.lake.vision_files import KlineFileError, find_kline_files
from bot.lake.writer import RawWriter

_CONFIG_HELP = "settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)"


def add_lake_parsers(commands: argparse._SubParsersAction) -> None:
    archive = commands.add_parser("archive", help="move closed klines, trades and aggTrades from Redis into the history lake (one pass)")
    archive.add_argument("--config", type=Path, help=_CONFIG_HELP)
    backfill = commands.add_parser("backfill", help="fill the history lake's raw klines from REST or data.binance.vision files")
    backfill.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    backfill.add_argument("--from", dest="first_day", required=True, help="first UTC day, YYYY-MM-DD")
    backfill.add_argument("--to", dest="last_day", required=True, help="last UTC day, YYYY-MM-DD (inclusive)")
    backfill.add_argument("--interval", default="1m", help="kline interval (default 1m)")
    backfill.add_argument("--files", type=Path, help="read data.binance.vision CSV/ZIP kline files from this directory instead of REST")
    backfill.add_argument("--config", type=Path, help=_CONFIG_HELP)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BackfillInputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def backfill_request(arguments: argparse.Namespace) -> BackfillRequest:
    symbols = tuple(dict.fromkeys(part.strip().upper() for part in arguments.symbols.split(",") if part.strip()))
    return BackfillRequest(symbols, _day(arguments.first_day, "--from"), _day(arguments.last_day, "--to"), arguments.interval)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_backfill(settings: Settings, request: BackfillRequest, files: Path | None,
                 progress=_progress) -> BackfillSummary:
    """Raises BackfillInputError / KlineFileError for bad input, RestError or StartupError otherwise."""
    layout = LakeLayout(lake_root(settings))
    backfill = KlineBackfill(RawWriter(layout), RawCoverage(layout), WallClock(), progress)
    if files is not None:
        return backfill.from_files(find_kline_files(files, request.symbols, request.interval), request)
    return asyncio.run(_backfill_from_rest(settings, backfill, request))


async def _backfill_from_rest(settings: Settings, backfill: KlineBackfill, request: BackfillRequest) -> BackfillSummary:
    from bot.resources import exchange_endpoints  # late: it pulls in the replay exchange

    async with contextlib.AsyncExitStack() as stack:
        rest_url, _, simulator = await stack.enter_async_context(exchange_endpoints(settings))
        if simulator is not None:
            # A replay exchange started just for this holds its whole recording as history.
            simulator.advance_unattended()
            await simulator.wait_finished()
        gateway = RestGateway(rest_url, WallClock(), timeout_seconds=settings.exchange.request_timeout_seconds,
                              weight_limit_per_minute=settings.exchange.rest_weight_limit_per_minute)
        await gateway.start()
        stack.push_async_callback(gateway.close)
        return await backfill.from_rest(gateway, request)


def run_backfill_command(arguments: argparse.Namespace, settings: Settings) -> int:
    try:
        request = backfill_request(arguments)
        summary = run_backfill(settings, request, arguments.files)
    except (BackfillInputError, KlineFileError) as error:
        print(f"tradebot backfill: {error}", file=sys.stderr)
        return 2
    except (RestError, StartupError, OSError) as error:
        print(f"tradebot backfill: {error}", file=sys.stderr)
        return 1
    print(summary.line())
    return 0


def run_archive_command(settings: Settings) -> int:
    from bot.bus.redis_keys import RedisKeys
    from bot.lake.archive import StreamArchiver
    from bot.resources import redis_connection

    async def archive() -> int:
        async with redis_connection(settings) as client:
            archiver = StreamArchiver(
                client, RedisKeys(settings.redis.namespace), RawWriter(LakeLayout(lake_root(settings))), WallClock(),
                settings.lake.archive_batch_size, dict(settings.redis.stream_max_length),
            )
            report = await archiver.archive_once()
        print(f"archive: {report.streams} streams, {report.entries_archived} entries read, {report.rows_written} rows "
              f"in {len(report.files_written)} files written, {report.entries_lost} entries lost to trimming before archive")
        return 0

    try:
        return asyncio.run(archive())
    except (StartupError, OSError) as error:
        print(f"tradebot archive: {error}", file=sys.stderr)
        return 1
