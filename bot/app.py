"""The only place that wires concrete classes together.

`Daemon.run()` brings the pieces up in dependency order (Redis, the namespace lease, the replay
exchange when the venue is `replay`, the HTTP endpoint, REST, the writer, the ingest service, the
trading engine), and tears them down in the reverse order within one grace period
(`lifecycle.shutdown_grace_seconds`): the engine finishes and commits the batch in hand, ingest
flushes what was received to Redis, the archive makes its last pass, the shutdown hooks run (the
alert queue's flush), and only then are the lease released and the connections let go.
The engine's own parts are assembled by `bot.engine.assembly`, shared with tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from operator import itemgetter
from pathlib import Path

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from bot.alerts.assembly import AlertService
from bot.alerts.kinds import AlertKind
from bot.alerts.metrics import AlertMetrics
from bot.bus.namespace_lease import LeaseLostError, NamespaceLease, new_owner_id
from bot.bus.redis_consumer import RedisEventConsumer
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import running_server_url
from bot.bus.redis_writer import RedisStreamWriter
from bot.clock import Clock, WallClock
from bot.config import Settings, lake_root
from bot.domain.orderbook import OrderBook
from bot.domain.symbols import SymbolRules, rules_from_exchange_info
from bot.engine.assembly import UnknownSymbolError, build_engine, engine_streams
from bot.engine.ledger import RedisLedger
from bot.engine.metrics import EngineMetrics
from bot.engine.runner import EngineRunner
from bot.errors import StartupError
from bot.http.queries import TradingQueries
from bot.http.readiness import models_check, redis_check, started_check, streams_check
from bot.http.server import HttpServer
from bot.ingest.metrics import IngestMetrics, log_ingest_status
from bot.ingest.rest import RestError, RestGateway
from bot.ingest.service import IngestService
from bot.lake.archive import StreamArchiver
from bot.lake.layout import LakeLayout
from bot.lake.writer import RawWriter
from bot.models.metrics import ModelMetrics
from bot.models.registry import ModelRegistry
from bot.models.watcher import ModelWatcher, hot_loaded_models
from bot.replay_end import until_stopped_or_replayed
from bot.resources import (
    claim_namespace,
    exchange_endpoints,
    ingest_settings,
    redis_connection,
)
from bot.scanner.service import ScannerService
from bot.shutdown import (
    EXIT_FORCED,
    EXIT_INCOMPLETE,
    EXIT_OK,
    HardExit,
    ShutdownDeadline,
    finish_within,
)
from bot.sim.exchange import ReplayExchange

log = structlog.get_logger(__name__)

_STATUS_INTERVAL_SECONDS = 10.0
# The shutdown's steps share ONE grace period (lifecycle.shutdown_grace_seconds); each must be done
# by its point in it, so time a step leaves unused rolls over to the later ones:
#   engine  by 20%: a batch is milliseconds of work and one MULTI; cut short, the uncommitted batch
#                   is still pending in the consumer group and handled again on restart (no loss).
#   flush   by 55%: market data received but not written to Redis is lost for good (Binance cannot
#                   resend depth diffs), so it gets the largest share.
#   archive by 70%: cut short, the next start's pass takes over from the cursors (no loss).
#   hooks   by 85%: the alert queue's flush; alerts not sent are dropped and counted.
#   The rest (at least 15%): release the lease, close connections, SHUTDOWN the private
#   redis-server (its AOF fsynced). At 100% the watchdog ends the process (exit code 4).
_ENGINE_DONE_BY = 0.20
_FLUSH_DONE_BY = 0.55
_ARCHIVE_DONE_BY = 0.70
_HOOKS_DONE_BY = 0.85


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        metrics: IngestMetrics | None = None,
        book_listener: Callable[[OrderBook], None] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        hard_exit: HardExit | None = None,
    ) -> None:
        """`hard_exit`: the process's watchdog (`bot.shutdown.process_exit`), armed for the grace
        period when the shutdown starts; None (in-process tests) arms nothing."""
        self.settings = settings
        self.book_listener = book_listener
        self.clock = clock or WallClock()
        self.metrics = metrics or IngestMetrics()
        self.engine_metrics = EngineMetrics(self.metrics.registry)
        self.model_metrics = ModelMetrics(self.metrics.registry)
        self.alert_metrics = AlertMetrics(self.metrics.registry)
        self.alerts: AlertService | None = None
        self.model_watchers: list[ModelWatcher] = []
        self.runner: EngineRunner | None = None
        self.scanner: ScannerService | None = None
        self.service: IngestService | None = None
        self.writer: RedisStreamWriter | None = None
        self.http: HttpServer | None = None
        self.ready = asyncio.Event()
        self.simulator: ReplayExchange | None = None
        self.archiver: StreamArchiver | None = None
        self._entries_failed_seen = 0
        self.nightly = None  # the NightlyScheduler, when nightly.enabled
        # Awaited in order during the shutdown, after the archive's last pass and before the
        # connections close; each gets the seconds it has left (the alert queue's flush).
        self.shutdown_hooks: list[Callable[[float], Awaitable[None]]] = []
        self.leases: list[NamespaceLease] = []  # one per role this daemon runs (engine, ingest)
        # 0, or EXIT_INCOMPLETE when a shutdown step ran out of time (bot.shutdown's exit codes).
        self.exit_code = EXIT_OK
        self.shutdown_step = ""  # what the shutdown is doing now, for the watchdog's report
        self._monotonic = monotonic
        self._hard_exit = hard_exit
        self._deadline: ShutdownDeadline | None = None
        self._watchdog: object | None = None

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        finally:
            if self._hard_exit is not None:
                self._hard_exit.disarm(self._watchdog)
            if self._deadline is not None:
                log.info("daemon stopped", exit_code=self.exit_code, shutdown_seconds=round(self._deadline.elapsed(), 3),
                         grace_seconds=self._deadline.grace_seconds)

    async def _run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        keys = RedisKeys(settings.redis.namespace)
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(redis_connection(settings, self._seconds_left, self._hard_exit))
            # Before anything is written: a second daemon running the same role (ingest, engine)
            # on this namespace stops here. An ingest-only and an engine-only process coexist.
            lifecycle = settings.lifecycle
            owner = new_owner_id()  # one process, one owner id for every role it holds
            for role, enabled in (("engine", settings.engine.enabled), ("ingest", settings.ingest.enabled)):
                if enabled:
                    lease = NamespaceLease(client, keys, role, lifecycle.lock_lease_seconds, lifecycle.lock_renew_seconds,
                                           self.clock, owner=owner)
                    await lease.acquire()
                    self.leases.append(lease)
                    stack.push_async_callback(self._release_lease, lease)
            rest_url, websocket_url, simulator = await stack.enter_async_context(exchange_endpoints(settings))
            self.simulator = simulator
            # Only a process that ingests a replay restarts its record; an engine-only process uses the
            # replay exchange just for its REST answers (exchangeInfo) and keeps the record.
            replaying_here = simulator is not None and settings.ingest.enabled
            deleted = await claim_namespace(client, keys, settings.exchange.venue, replay_here=replaying_here)
            if deleted:
                log.info("cleared the previous replay's record", namespace=keys.namespace, keys=deleted)
            # Alerts first: everything after may need to tell the operator something.
            self.alerts = AlertService(settings, client, keys, self.clock, self.alert_metrics)
            await self.alerts.start(queries=TradingQueries(client, keys))
            # Stopping, the queued alerts go out within the hooks' share of the grace period; the
            # stack's close only matters when start-up fails before the shutdown sequence runs.
            self.shutdown_hooks.append(self.alerts.close)
            stack.push_async_callback(self.alerts.close, 0.0)
            if settings.metrics.enabled:
                # Readiness checks and API queries read the daemon's parts at request time: most are built below.
                checks = {"redis": redis_check(client), "daemon": started_check(self.ready)}
                if settings.ingest.enabled:
                    checks["streams"] = streams_check(lambda: self.service.client if self.service else None)
                if settings.engine.enabled and (expected := hot_loaded_models(settings.engine.strategies)):
                    checks["models"] = models_check(expected, lambda: {watcher.name: watcher.version for watcher in self.model_watchers})
                queries = TradingQueries(client, keys, model_watchers=lambda: self.model_watchers) if settings.api.enabled else None
                self.http = HttpServer(self.metrics.registry, settings.metrics.host, settings.metrics.port,
                                       readiness_checks=checks, queries=queries, api_token=settings.api.token)
                try:
                    await self.http.start()
                except OSError as error:
                    raise StartupError(
                        f"cannot serve metrics on {settings.metrics.host}:{settings.metrics.port} "
                        f"(metrics.port / TRADEBOT_METRICS__PORT): {error.strerror or error}"
                    ) from error
                stack.push_async_callback(self.http.stop)
                log.info("metrics endpoint listening", url=f"{self.http.url}/metrics")
            rest = RestGateway(
                rest_url, self.clock, timeout_seconds=settings.exchange.request_timeout_seconds,
                weight_limit_per_minute=settings.exchange.rest_weight_limit_per_minute,
                api_key=_reveal(settings.exchange.api_key), api_secret=_reveal(settings.exchange.api_secret),
                on_weight=self.metrics.rest_weight.set,
            )
            await rest.start()
            stack.push_async_callback(rest.close)
            self.writer = RedisStreamWriter(
                client, keys, dict(settings.redis.stream_max_length), settings.redis.write_batch_size,
                on_batch_written=self._observe_batch,
            )
            writer = self.writer
            # Read at scrape time, so the gauge moves while Redis is down and no batch completes.
            self.metrics.backlog.set_function(lambda: writer.backlog)
            rules = await self._symbol_rules(rest) if settings.engine.enabled else None
            if settings.scanner.enabled:
                self.scanner = ScannerService(
                    rest, client, settings.redis.namespace, settings.scanner, self.clock,
                    quote_assets={symbol: rule.quote_asset for symbol, rule in rules.items()} if rules else None,
                )
                if settings.scanner.select_symbols:
                    settings = self.settings = await self._symbols_from_scanner(client, keys, self.scanner)
            if settings.ingest.enabled:
                self.service = IngestService(
                    ingest_settings(settings), self.clock, keys, self.writer, rest, websocket_url,
                    self.metrics, self.book_listener,
                )
            if rules is not None:
                # Models first: the engine's first bars already see the current version.
                self.model_watchers = await self._model_watchers(client, keys)
                self.runner = await self._engine(client, keys, rules)
            if settings.lake.archive_enabled:
                self.archiver = StreamArchiver(
                    client, keys, RawWriter(LakeLayout(lake_root(settings))), self.clock,
                    settings.lake.archive_batch_size, dict(settings.redis.stream_max_length),
                )
            if settings.nightly.enabled:
                self._schedule_nightly(client, keys, stack)
            self.alerts.watch(self.runner, self.service.client if self.service else None)
            await self._run_until_stopped(stop)

    def _schedule_nightly(self, client: redis.Redis, keys: RedisKeys, stack: contextlib.AsyncExitStack) -> None:
        from bot.nightly.metrics import NightlyMetrics
        from bot.nightly.runner import NightlyRunner
        from bot.nightly.scheduler import NightlyScheduler
        from bot.nightly.session import with_redis_url

        # The pipeline process must use this daemon's Redis, private server included.
        url = self.settings.redis.url or running_server_url(Path(self.settings.data_directory))
        if url is None:
            raise StartupError("the nightly pipeline needs the daemon's Redis URL, and the private server's is unknown")
        runner = NightlyRunner(
            with_redis_url(self.settings, url), client, keys, self.alerts.dispatcher, WallClock(),
            NightlyMetrics(self.metrics.registry),
        )
        self.nightly = NightlyScheduler(runner, self.settings.nightly.cron)
        self.nightly.start()
        stack.callback(self.nightly.shutdown)

    async def _symbols_from_scanner(self, client: redis.Redis, keys: RedisKeys, scanner: ScannerService) -> Settings:
        """The settings with ingest.symbols replaced by the scanner's pair list (and the symbols
        the ledger holds positions in, so none is left unmanaged). The scan it makes is the
        scanner's first; its loop then waits an interval before the next."""
        settings = self.settings
        if not await scanner.refresh_once() or not scanner.pairs:
            raise StartupError("scanner.select_symbols is on, but the first market scan failed or selected no pair "
                               "(see the scanner's log line above; scanner.pair_filters decide the list)")
        held: list[str] = []
        snapshot = (await RedisLedger(client, keys, settings.engine.consumer_group).load_snapshots()).get("portfolio")
        if snapshot is not None:
            from bot.risk import Portfolio

            held = sorted(Portfolio.restore(snapshot).positions)
        symbols = tuple(dict.fromkeys([*scanner.pairs, *held]))
        log.info("trading the scanner's pair list", symbols=list(symbols), held_positions=held)
        return settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"symbols": symbols})})

    async def _symbol_rules(self, rest: RestGateway) -> dict[str, SymbolRules]:
        """The exchange's symbol rules (exchangeInfo), fetched once: the paper broker applies their
        filters and the scanner reads each pair's quote asset from them."""
        try:
            return rules_from_exchange_info(await rest.call("get_exchange_info"))
        except RestError as error:
            raise StartupError(f"the engine needs the exchange's symbol rules and could not fetch exchangeInfo: {error}") from None

    async def _model_watchers(self, client: redis.Redis, keys: RedisKeys) -> list[ModelWatcher]:
        """One watcher per model an ml_signal strategy hot-loads, each with its initial load done."""
        settings = self.settings
        root = settings.models.root_under(settings.data_directory)
        alerts = self.alerts.dispatcher
        watchers = []
        for name in hot_loaded_models(settings.engine.strategies):
            watcher = ModelWatcher(
                name, ModelRegistry(root), client, keys, alerts, self.model_metrics, settings.models, self.clock,
            )
            await watcher.start()
            log.info("model watcher ready", model=name, version=watcher.version, registry=str(root),
                     channel=watcher.channel, poll_seconds=settings.models.poll_seconds)
            watchers.append(watcher)
        return watchers

    async def _engine(self, client: redis.Redis, keys: RedisKeys, rules: dict[str, SymbolRules]) -> EngineRunner:
        settings = self.settings
        ledger = RedisLedger(client, keys, settings.engine.consumer_group)
        snapshots = await ledger.load_snapshots()
        try:
            engine, sources = build_engine(settings, rules, snapshots, self.engine_metrics)
        except UnknownSymbolError as error:
            raise StartupError(str(error)) from None
        consumer = RedisEventConsumer(
            client, engine_streams(settings, keys), settings.engine.consumer_group, consumer="engine",
            read_count=settings.engine.read_batch_size,
        )
        await consumer.ensure_groups()
        cursor = snapshots.get("commands_cursor", b"0").decode()
        snapshot_sources = {name: source.snapshot for name, source in sources.items()}
        log.info("engine ready", mode=settings.engine.mode, strategies=[s.name + ":" + s.symbol for s in engine.strategies],
                 resumed=bool(snapshots))
        return EngineRunner(engine, consumer, ledger, self.clock, snapshot_sources, cursor)

    async def _run_until_stopped(self, stop: asyncio.Event) -> None:
        assert self.writer is not None
        writer_task = asyncio.create_task(self.writer.run(), name="redis-writer")
        ingest_task = asyncio.create_task(self.service.run() if self.service else asyncio.Event().wait(), name="ingest")
        engine_stop = asyncio.Event()
        engine_task = asyncio.create_task(self.runner.run(engine_stop) if self.runner else asyncio.Event().wait(), name="engine")
        status_task = asyncio.create_task(self._report_status(), name="status")
        scanner_task = asyncio.create_task(self.scanner.run() if self.scanner else asyncio.Event().wait(), name="scanner")
        archive_stop = asyncio.Event()
        archive_task = asyncio.create_task(
            self.archiver.run(self.settings.lake.archive_interval_seconds, archive_stop) if self.archiver else asyncio.Event().wait(),
            name="archive",
        )
        lease_task = asyncio.create_task(self._hold_leases(), name="namespace-leases")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        model_tasks = [asyncio.create_task(watcher.run(), name=f"model-watcher-{watcher.name}") for watcher in self.model_watchers]
        if self.simulator is not None and self.service is not None and not self.settings.replay_exchange.loop:
            stop_task.cancel()
            stop_task = asyncio.create_task(
                until_stopped_or_replayed(stop, self.simulator, self.service, self.writer, self.runner, self.metrics), name="stop",
            )
        self.ready.set()
        log.info("daemon running", symbols=list(self.settings.ingest.symbols), streams=list(self.settings.ingest.streams))
        self.alerts.announce(AlertKind.DAEMON_STARTED, f"tradebot started: {self.settings.exchange.venue}, {self.settings.engine.mode} mode, "
                    f"{', '.join(self.settings.ingest.symbols)}", venue=self.settings.exchange.venue)
        try:
            done, _ = await asyncio.wait(
                {ingest_task, writer_task, engine_task, lease_task, stop_task}, return_when=asyncio.FIRST_COMPLETED,
            )
            for task in done & {ingest_task, writer_task, engine_task, lease_task}:
                task.result()  # a crashed component (or a lost lease) surfaces here with its own traceback
        finally:
            self.ready.clear()  # /readyz answers 503 from here on: a load balancer stops sending
            self.alerts.announce(AlertKind.DAEMON_STOPPING, "tradebot stopping" + ("" if stop.is_set() else " (a component ended; see the log)"))
            lease_lost = lease_task.done() and not lease_task.cancelled() and isinstance(lease_task.exception(), LeaseLostError)
            self._begin_shutdown()
            deadline = self._deadline
            assert deadline is not None
            lease_task.cancel()
            if lease_lost:
                # Another daemon owns the namespace now: whatever this one would still write (the
                # batch in hand, the backlog) would mix with its record and ledger. Write nothing.
                log.error("stopping without writing: the namespace lease was lost",
                          backlog_dropped=self.writer.backlog)
                for task in (engine_task, writer_task, archive_task):
                    task.cancel()
            # 1. The engine stops taking new events, finishes and commits the batch in hand.
            self.shutdown_step = "engine: committing the batch in hand"
            engine_stop.set()
            if self.runner is not None and not lease_lost:
                if not await finish_within(engine_task, deadline.until(_ENGINE_DONE_BY)):
                    self._left_undone("the engine's batch in hand was not committed in time; it stays pending in the "
                                      "consumer group and is handled again on restart")
                elif not engine_task.cancelled() and engine_task.exception() is not None:
                    self._left_undone("the engine's last commit failed; the batch stays pending in the consumer group "
                                      "and is handled again on restart", error=repr(engine_task.exception()))
            engine_task.cancel()
            await asyncio.gather(engine_task, return_exceptions=True)
            # 2. Ingest stops receiving; what it received is flushed to Redis.
            self.shutdown_step = "ingest: flushing what was received to Redis"
            log.info("stopping: flushing what was received to Redis", backlog=self.writer.backlog)
            for task in (ingest_task, status_task, stop_task, scanner_task, *model_tasks):
                task.cancel()
            await asyncio.gather(ingest_task, status_task, stop_task, scanner_task, *model_tasks, return_exceptions=True)
            if not lease_lost and not await finish_within(self.writer.drained(), deadline.until(_FLUSH_DONE_BY)):
                self._left_undone("could not flush everything received to Redis in time; the backlog is lost",
                                  backlog=self.writer.backlog)
            writer_task.cancel()
            await asyncio.gather(writer_task, return_exceptions=True)
            # 3. The archive finishes the pass in hand and makes a last one over what was flushed;
            # cut short, the next start's pass takes over from the cursors.
            self.shutdown_step = "archive: last pass"
            archive_stop.set()
            if self.archiver is not None and not lease_lost and not await finish_within(archive_task, deadline.until(_ARCHIVE_DONE_BY)):
                self._left_undone("the archive's last pass was cut short; the next start continues from its cursors")
            archive_task.cancel()
            await asyncio.gather(archive_task, return_exceptions=True)
            # 4. The hooks (the alert queue's flush), each with the time the hooks have left.
            for hook in self.shutdown_hooks:
                self.shutdown_step = f"shutdown hook {getattr(hook, '__qualname__', hook)!s}"
                seconds = deadline.until(_HOOKS_DONE_BY)
                try:
                    finished = await finish_within(hook(seconds), seconds)
                except Exception:  # one failing hook must not keep the others or the close from running
                    log.exception("a shutdown hook failed", hook=self.shutdown_step)
                else:
                    if not finished:
                        self._left_undone("a shutdown hook did not finish in time", hook=self.shutdown_step)
            self.shutdown_step = "closing connections"
            self._log_status()

    async def _hold_leases(self) -> None:
        """Renews every lease this daemon holds; ends with LeaseLostError when one was taken over
        (a task group, so the other renewals stop with it rather than re-take what is released)."""
        if not self.leases:
            await asyncio.Event().wait()
        try:
            async with asyncio.TaskGroup() as group:
                for lease in self.leases:
                    group.create_task(lease.hold(), name=f"namespace-lease-{lease.role}")
        except* LeaseLostError as lost:
            raise lost.exceptions[0] from None

    def _begin_shutdown(self) -> None:
        """Starts the one grace period every step shares, and arms the watchdog for its end."""
        grace = self.settings.lifecycle.shutdown_grace_seconds
        self._deadline = ShutdownDeadline(grace, self._monotonic)
        if self._hard_exit is not None:
            self._watchdog = self._hard_exit.arm(grace, EXIT_FORCED, f"the shutdown did not finish within its grace period of {grace:g} s "
                                "(lifecycle.shutdown_grace_seconds)", describe=self._shutdown_state)
        log.info("shutting down", grace_seconds=grace)

    def _shutdown_state(self) -> dict[str, object]:
        """What the watchdog reports when it has to end the process."""
        return {"step": self.shutdown_step, "backlog": self.writer.backlog if self.writer is not None else None}

    def _seconds_left(self) -> float:
        """What is left of the shutdown's grace period (all of it before the shutdown started)."""
        if self._deadline is None:
            return self.settings.lifecycle.shutdown_grace_seconds
        return self._deadline.left()

    def _left_undone(self, what: str, **details: object) -> None:
        log.error(what, step=self.shutdown_step, **details)
        self.exit_code = EXIT_INCOMPLETE

    async def _release_lease(self, lease: NamespaceLease) -> None:
        self.shutdown_step = f"releasing the namespace's {lease.role} lease"
        try:
            async with asyncio.timeout(max(0.1, self._seconds_left())):
                await lease.release()
        except (TimeoutError, RedisError, OSError) as error:
            # It runs out by itself within lifecycle.lock_lease_seconds; the next start waits that long.
            log.error("could not release the namespace lease; it runs out by itself", role=lease.role,
                      error=f"{type(error).__name__}: {error}", lease_seconds=self.settings.lifecycle.lock_lease_seconds)
            self.exit_code = EXIT_INCOMPLETE

    def _observe_batch(self, batch, elapsed_seconds: float) -> None:
        self.metrics.redis_write.observe(elapsed_seconds)
        self.metrics.redis_write_batch.observe(len(batch))
        if self.writer is not None:
            failed = self.writer.statistics.entries_failed
            self.metrics.redis_entries_failed.inc(failed - self._entries_failed_seen)
            self._entries_failed_seen = failed
        # entry[-1]: the frame's receive time; 0 for bookkeeping entries no frame caused.
        self.metrics.receive_to_redis.series().observe_since(self.clock.now_ns(), map(itemgetter(-1), batch))

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(_STATUS_INTERVAL_SECONDS)
            self._log_status()

    def _log_status(self) -> None:
        if self.writer is not None:
            log_ingest_status(self.metrics, self.writer)


def _reveal(secret) -> str | None:
    return secret.get_secret_value() if secret is not None else None
