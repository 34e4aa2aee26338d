"""`tradebot ...` commands."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import structlog

from bot.config import ConfigError, check_config, load_settings, secret_values
from bot.errors import StartupError
from bot.logging_setup import configure_logging, register_secret

log = structlog.get_logger("bot.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebot", description="Event-driven crypto trading daemon.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the daemon (ingest Binance streams into Redis)")
    run.add_argument("--config", type=Path, help="settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)")

    simulator = commands.add_parser("exchange-sim", help="serve recorded Binance data over Binance's REST and websocket protocols")
    simulator.add_argument("recordings", nargs="*", type=Path, help="recording files (default: the bundled BTCUSDT recording)")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--ws-port", type=int, default=9443)
    simulator.add_argument("--rest-port", type=int, default=8080)
    simulator.add_argument("--speed", default="1", help="1 = real time, 10 = ten times faster, max = as fast as clients read")
    simulator.add_argument("--loop", action="store_true", help="start again when the recordings end")

    status = commands.add_parser("status", help="show what the record in Redis holds (streams, books, gaps)")
    status.add_argument("--config", type=Path, help="settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)")

    for name, text in (("halt", "kill switch: the engine places no more orders (TradingState HALTED)"),
                       ("reduce", "the engine only closes positions (TradingState REDUCING)"),
                       ("resume", "back to normal trading (TradingState ACTIVE)")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--reason", default="operator command", help="why (kept in the ledger)")
        command.add_argument("--config", type=Path, help="settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)")

    from bot.backtest.command import add_backtest_parser
    from bot.lake.commands import add_lake_parsers

    add_backtest_parser(commands)
    add_lake_parsers(commands)

    from bot.nightly.command import add_nightly_parsers

    add_nightly_parsers(commands)

    from bot.features_command import add_features_parser

    add_features_parser(commands)

    config = commands.add_parser("config", help="settings commands")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = config_commands.add_parser("check", help="validate a settings file and the TRADEBOT_* environment, then exit")
    check.add_argument("file", nargs="?", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "config":
        return check_config(arguments.file)
    if arguments.command == "backtest":
        from bot.backtest.command import run_backtest_command

        return run_backtest_command(arguments)
    if arguments.command in ("archive", "backfill"):
        return _lake(arguments)
    if arguments.command in ("train", "scheduler"):
        from bot.nightly.command import run_scheduler_command, run_train_command

        configure_logging("INFO", "console")
        if arguments.command == "train":
            return run_train_command(arguments, _settings_or_exit)
        return run_scheduler_command(arguments, _settings_or_exit, _run_until_signal)
    if arguments.command == "features":
        from bot.features_command import run_features_command

        return run_features_command(arguments)
    if arguments.command == "exchange-sim":
        return _exchange_sim(arguments)
    if arguments.command == "status":
        return _status(arguments)
    if arguments.command in ("halt", "reduce", "resume"):
        return _command(arguments)
    return _run(arguments)


def _settings_or_exit(path: Path | None):
    try:
        return load_settings(path)
    except ConfigError as error:
        print(f"tradebot: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _lake(arguments: argparse.Namespace) -> int:
    settings = _settings_or_exit(arguments.config)
    configure_logging(settings.logging.level, settings.logging.format)
    for secret in secret_values(settings):
        register_secret(secret)
    from bot.lake.commands import run_archive_command, run_backfill_command

    if arguments.command == "archive":
        return run_archive_command(settings)
    return run_backfill_command(arguments, settings)


def _status(arguments: argparse.Namespace) -> int:
    settings = _settings_or_exit(arguments.config)
    from bot.status import show_status

    try:
        return show_status(settings)
    except Exception as error:  # one clear line: a dead Redis, a locked data directory, ...
        print(f"tradebot status: {error}", file=sys.stderr)
        return 1


def _command(arguments: argparse.Namespace) -> int:
    """Queues an operator command in Redis; the running engine applies it within one batch."""
    settings = _settings_or_exit(arguments.config)
    from bot.status import send_command

    try:
        entry = send_command(settings, arguments.command, arguments.reason)
    except Exception as error:
        print(f"tradebot {arguments.command}: {error}", file=sys.stderr)
        return 1
    print(f"tradebot {arguments.command}: queued as {entry}; the engine applies it with its next batch")
    return 0


def _run(arguments: argparse.Namespace) -> int:
    settings = _settings_or_exit(arguments.config)
    from bot.live_view import ConsoleLogStream, show_live, terminal

    live = settings.engine.enabled and settings.logging.format != "json" and terminal(sys.stdout) and terminal(sys.stderr)
    console = None
    if live:
        from rich.console import Console

        console = Console()
        configure_logging(settings.logging.level, "console", stream=ConsoleLogStream(console))
    else:
        configure_logging(settings.logging.level, settings.logging.format)
    for secret in secret_values(settings):
        register_secret(secret)
    from bot.app import Daemon  # imported late so `tradebot --help` and `config check` stay fast
    from bot.shutdown import process_exit

    async def run(stop: asyncio.Event) -> int:
        # The watchdog: a shutdown that hangs past lifecycle.shutdown_grace_seconds ends the process.
        daemon = Daemon(settings, hard_exit=process_exit)
        if console is None:
            await daemon.run(stop)
            return daemon.exit_code
        view_stop = asyncio.Event()
        view = asyncio.create_task(show_live(daemon, console, view_stop))
        try:
            await daemon.run(stop)
        finally:
            view_stop.set()
            await asyncio.gather(view, return_exceptions=True)
        return daemon.exit_code

    code = asyncio.run(_run_until_signal(run))
    _end_process(code)
    return code  # not reached


def _end_process(code: int) -> None:
    """Ends `tradebot run` once its orderly stop is complete, skipping the interpreter's teardown.

    Everything that matters is done by now (Redis flushed and closed, the lease released, the
    private server stopped). The teardown only unloads the libraries (xgboost, pyarrow, pandas,
    ...), which took 1-1.5 s here: past a full grace period, that would push the exit beyond
    Docker's stop timeout (SIGKILL). Log handlers and the standard streams are flushed first."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _exchange_sim(arguments: argparse.Namespace) -> int:
    configure_logging("INFO", "console")
    from bot.sim.exchange import serve_forever
    from bot.sim.settings import ReplaySettings
    from bot.config.sections import DEFAULT_RECORDINGS

    try:
        settings = ReplaySettings(
            recordings=tuple(arguments.recordings) or DEFAULT_RECORDINGS, host=arguments.host,
            ws_port=arguments.ws_port, rest_port=arguments.rest_port,
            speed=None if arguments.speed == "max" else float(arguments.speed), loop=arguments.loop,
        )
    except ValueError as error:
        print(f"tradebot exchange-sim: {error}", file=sys.stderr)
        return 2
    async def serve_until(stop: asyncio.Event) -> None:
        server = asyncio.create_task(serve_forever(settings))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({server, stopped}, return_when=asyncio.FIRST_COMPLETED)
        server.cancel()
        stopped.cancel()
        await asyncio.gather(server, stopped, return_exceptions=True)

    return asyncio.run(_run_until_signal(serve_until))


async def _run_until_signal(start) -> int:
    """Runs a component until SIGINT/SIGTERM; a second signal exits at once (code 130).

    `start(stop)` may return an exit code (the daemon's: 3 when its shutdown left something undone)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop(signal_number: int) -> None:
        if stop.is_set():
            from bot.shutdown import EXIT_SECOND_SIGNAL, process_exit

            # At once means at once: no unwinding (it may be what hangs) and no interpreter
            # teardown (a second or more with the libraries loaded). The last resorts still run:
            # the private redis-server gets SIGTERM and fsyncs its AOF on its way out.
            name = signal.Signals(signal_number).name
            process_exit.exit_now(EXIT_SECOND_SIGNAL, "second signal, the shutdown is left unfinished",
                                  describe=lambda: {"signal": name})
        log.info("signal received: shutting down", signal=signal.Signals(signal_number).name)
        stop.set()

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, request_stop, signal_number)
    try:
        code = await start(stop)
    except StartupError as error:  # an operational problem the message fully explains
        print(f"tradebot: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug or a surprise: the traceback is worth having
        log.exception("fatal error")
        print(f"tradebot: {error}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
