"""Ingest throughput and latency benchmark: how close does the daemon get to the websocket ceiling?

    .venv/bin/python scripts/bench_ingest.py            # 3 ceiling + 3 pipeline runs, alternating
    .venv/bin/python scripts/bench_ingest.py --quick    # 1 of each
    .venv/bin/python scripts/bench_ingest.py --profile  # 1 pipeline run under cProfile

The bundled BTCUSDT recording (99,573 frames: trade, bookTicker, depth@100ms) is loaded once and
shared by every run. Each run gets a fresh ReplayExchange at max speed (speed=None: the exchange
sends as fast as the client reads) and, for the pipeline, an empty Redis database.

CEILING   a bare websockets client: recv(decode=False) + msgspec.json.decode, nothing else.
ALONE     the pipeline below with the network taken away: the stream client's websocket is a list
          of the same frames in memory, so neither the websockets library nor the exchange costs
          anything. Its ratio to the ceiling bounds what any receive path (another process, a
          faster library) could bring the pipeline to.
PIPELINE  bot.app.Daemon, as `tradebot run` wires it (MarketStreamClient -> FrameDecoder ->
          IngestService -> RedisStreamWriter -> Redis), from settings loaded with
          bot.config.load_settings. The only difference from `tradebot run`: the replay exchange is
          started here (to share the pre-loaded timeline) and handed to the daemon through
          exchange.rest_base_url / websocket_base_url, so the benchmark flushes Redis itself instead
          of the daemon's claim_namespace (which clears a replay namespace only when it starts the exchange itself).

Rates are frames / (first frame received -> last frame received) for the ceiling and
frames / (first frame received -> last entry acknowledged by Redis) for the pipeline, both on the
wall clock (time.time_ns, the daemon's WallClock), so connection set-up is excluded from both.
Latency is, per entry, the Redis acknowledgement time of its batch minus its frame's ts_init.

Note: the replay exchange, the client and (for the pipeline) the daemon share ONE event loop and
one CPU core in this process; only redis-server runs in another process.

The results of a run and the printed report: scripts/bench_ingest_results.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import sys
import tempfile
import time
from operator import itemgetter
from pathlib import Path
from unittest import mock

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import msgspec  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from bot.app import Daemon  # noqa: E402
from bot.bus.redis_keys import RedisKeys  # noqa: E402
from bot.bus.redis_server import EmbeddedRedis  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.config.sections import DEFAULT_RECORDING  # noqa: E402
from bot.ingest import client as stream_client_module  # noqa: E402
from bench_ingest_results import EXPECTED, EXPECTED_TOTAL, CeilingResult, PipelineResult, machine_info, print_report  # noqa: E402
from bench_profiling import print_profile  # noqa: E402
from memory_socket import MemorySocket  # noqa: E402
from bot.ingest.metrics import IngestMetrics  # noqa: E402
from bot.logging_setup import configure_logging  # noqa: E402
from bot.sim.exchange import ReplayExchange  # noqa: E402
from bot.sim.settings import ReplaySettings  # noqa: E402
from bot.sim.timeline import Timeline, load_timeline  # noqa: E402

SYMBOL = "BTCUSDT"
STREAMS = ("trade", "bookTicker", "depth@100ms")
STREAM_PATH = "/stream?streams=btcusdt@trade/btcusdt@bookTicker/btcusdt@depth@100ms"
NAMESPACE = "tradebot"
STALL_TIMEOUT_SECONDS = 10.0  # a run that makes no progress for this long has lost frames
CONFIG_PATH = REPOSITORY / "config" / "tradebot.yaml"


class BenchmarkDaemon(Daemon):
    """The production daemon; its per-batch hook also records exact latencies and completion."""

    def __init__(self, *args, result: PipelineResult, done: asyncio.Event, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.result = result
        self.done = done

    def _observe_batch(self, batch, elapsed_seconds: float) -> None:
        super()._observe_batch(batch, elapsed_seconds)  # the daemon's own metrics work stays in the path
        now = time.time_ns()
        result = self.result
        result.batches += 1
        if self.writer is not None and self.writer.backlog > result.peak_backlog:
            result.peak_backlog = self.writer.backlog
        # In C, not a Python loop per entry: this hook's own cost lands in the measured pipeline.
        received = list(filter(None, map(itemgetter(-1), batch)))  # 0: bookkeeping entries (gap audits) no frame caused
        if received:
            result.latencies_ns.extend(map(now.__sub__, received))
            first, last = min(received), max(received)
            if result.first_ns == 0 or first < result.first_ns:
                result.first_ns = first
            result.last_received_ns = max(result.last_received_ns, last)
        result.entries_acked += len(received)
        if result.entries_acked >= EXPECTED_TOTAL and not self.done.is_set():
            result.done_ns = now
            self.done.set()


def replay_settings() -> ReplaySettings:
    return ReplaySettings(recordings=(DEFAULT_RECORDING,), speed=None)


async def ceiling_run(timeline: Timeline) -> CeilingResult:
    exchange = ReplayExchange(replay_settings(), timeline=timeline)
    await exchange.start()
    try:
        result = CeilingResult(0, 0, 0, time.time_ns())
        async with connect(exchange.ws_base_url + STREAM_PATH, compression=None, max_size=16 * 2**20) as websocket:
            receiver = asyncio.create_task(_receive_all(websocket, result), name="bench-ceiling-receive")
            await _until_finished_or_stalled(receiver, lambda: result.frames)
        return result
    finally:
        await exchange.stop()


async def _receive_all(websocket, result: CeilingResult) -> None:
    # The tight loop under test: nothing but receive, timestamp and decode.
    recv = websocket.recv
    decode = msgspec.json.decode
    now_ns = time.time_ns
    frame = await recv(decode=False)
    result.first_ns = result.last_ns = now_ns()
    decode(frame)
    frames = 1
    while frames < EXPECTED_TOTAL:
        try:
            frame = await recv(decode=False)
        except ConnectionClosed:
            return  # the exchange hung up early: result.frames tells how many arrived
        result.last_ns = now_ns()
        decode(frame)
        frames += 1
        result.frames = frames
    result.frames = frames


async def _until_finished_or_stalled(task: asyncio.Task, progress) -> None:
    """Wait for task; cancel it if progress() has not moved for STALL_TIMEOUT_SECONDS (lost frames).
    A watchdog outside the loop keeps the loop itself free of per-frame timers."""
    last_count, last_progress = -1, time.monotonic()
    while not task.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 0.25)
        count = progress()
        if count != last_count:
            last_count, last_progress = count, time.monotonic()
        elif time.monotonic() - last_progress > STALL_TIMEOUT_SECONDS:
            print(f"!! stalled at {count:,} of {EXPECTED_TOTAL:,} frames", file=sys.stderr)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
    task.result()


def daemon_settings(data_directory: Path, redis_url: str, exchange: ReplayExchange):
    environ = {
        "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        "TRADEBOT_REDIS__URL": redis_url,
        "TRADEBOT_REDIS__NAMESPACE": NAMESPACE,
        "TRADEBOT_EXCHANGE__VENUE": "replay",
        "TRADEBOT_EXCHANGE__REST_BASE_URL": exchange.rest_base_url,
        "TRADEBOT_EXCHANGE__WEBSOCKET_BASE_URL": exchange.ws_base_url,
        "TRADEBOT_REPLAY_EXCHANGE__ENABLED": "true",
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "null",
        "TRADEBOT_INGEST__SYMBOLS": f'["{SYMBOL}"]',
        "TRADEBOT_INGEST__STREAMS": msgspec.json.encode(list(STREAMS)).decode(),
        "TRADEBOT_METRICS__ENABLED": "false",
        "TRADEBOT_LOGGING__LEVEL": "WARNING",
        # Ingest alone is measured here; the engine has scripts/bench_engine.py.
        "TRADEBOT_ENGINE__ENABLED": "false",
        "TRADEBOT_SCANNER__ENABLED": "false",
    }
    return load_settings(CONFIG_PATH, environ)


async def compact_append_only_file(client: aioredis.Redis) -> None:
    """Rewrites the AOF now and waits for it. Each run appends ~45 MB to it; left alone, Redis's
    automatic rewrite (past 64 MB, at double the last size) forks in the middle of whichever
    later run crosses the line, rewriting what earlier runs wrote and were flushed of, on the core
    the run needs for redis-server. A run then starts as on a freshly started daemon's Redis."""
    async with asyncio.timeout(60):  # a rewrite of an emptied database takes milliseconds
        while (await client.info("persistence"))["aof_rewrite_in_progress"]:
            await asyncio.sleep(0.02)  # an automatic rewrite already running: a second is refused
        await client.bgrewriteaof()
        while True:
            persistence = await client.info("persistence")
            if not (persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"]):
                return
            await asyncio.sleep(0.02)


async def redis_cpu_seconds(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0))


async def pipeline_run(
    timeline: Timeline, server: EmbeddedRedis, data_directory: Path, profiler: cProfile.Profile | None = None,
    frames_in_memory: bool = False,
) -> PipelineResult:
    """frames_in_memory: the ALONE variant (see the module's docstring); the exchange still runs,
    for the depth snapshot over REST, but no websocket is opened."""
    if frames_in_memory:
        async def memory_connect(url: str, create_connection, **options: object) -> MemorySocket:
            return MemorySocket(timeline.frames, create_connection)

        with mock.patch.object(stream_client_module, "connect", memory_connect):
            return await pipeline_run(timeline, server, data_directory, profiler)
    keys = RedisKeys(NAMESPACE)
    checker = aioredis.Redis.from_url(server.url)
    try:
        await checker.flushdb()
        await compact_append_only_file(checker)
        exchange = ReplayExchange(replay_settings(), timeline=timeline)
        await exchange.start()
        try:
            settings = daemon_settings(data_directory, server.url, exchange)
            result = PipelineResult()
            done = asyncio.Event()
            daemon = BenchmarkDaemon(settings, metrics=IngestMetrics(), result=result, done=done)
            stop = asyncio.Event()
            redis_cpu_before = await redis_cpu_seconds(checker)
            cpu_before = time.process_time()
            wall_before = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            task = asyncio.create_task(daemon.run(stop), name="bench-daemon")
            try:
                await _until_done_or_stalled(done, result, task)
            finally:
                stop.set()
                await asyncio.gather(task, return_exceptions=False)
                if profiler is not None:
                    profiler.disable()
            result.wall_seconds = time.perf_counter() - wall_before
            result.process_cpu_seconds = time.process_time() - cpu_before
            result.redis_cpu_seconds = await redis_cpu_seconds(checker) - redis_cpu_before
            if daemon.writer is not None:
                result.duplicates_refused = daemon.writer.statistics.duplicates_refused
        finally:
            await exchange.stop()
        for kind in EXPECTED:
            result.stream_lengths[kind] = await checker.xlen(keys.stream(kind, SYMBOL))
        if await checker.exists(keys.gaps()):
            result.gap_audits = await checker.xlen(keys.gaps())
        return result
    finally:
        await checker.aclose()


async def _until_done_or_stalled(done: asyncio.Event, result: PipelineResult, task: asyncio.Task) -> None:
    last_count, last_progress = -1, time.monotonic()
    while not done.is_set():
        if task.done():
            task.result()  # a crashed daemon surfaces with its own traceback
            return
        if result.entries_acked != last_count:
            last_count, last_progress = result.entries_acked, time.monotonic()
        elif time.monotonic() - last_progress > STALL_TIMEOUT_SECONDS:
            print(f"!! pipeline stalled at {result.entries_acked:,} of {EXPECTED_TOTAL:,} entries", file=sys.stderr)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.25)


async def main_async(arguments: argparse.Namespace) -> int:
    started = time.perf_counter()
    load_started = time.perf_counter()
    timeline = await asyncio.to_thread(load_timeline, [DEFAULT_RECORDING])
    load_seconds = time.perf_counter() - load_started
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temporary:
        directory = Path(temporary)
        server = EmbeddedRedis(directory)
        await asyncio.to_thread(server.start)
        try:
            info = machine_info(server)
            if arguments.profile:
                profiler = cProfile.Profile()
                result = await pipeline_run(timeline, server, directory, profiler)
                print_report(info, load_seconds, [], [result])
                print("\n(rates above are under cProfile, which slows Python code several times)")
                print_profile(profiler, arguments.top, arguments.profile_output)
                failed = not result.counts_ok
            else:
                ceilings: list[CeilingResult] = []
                pipelines: list[PipelineResult] = []
                alones: list[PipelineResult] = []
                for run in range(arguments.runs):
                    ceiling = await ceiling_run(timeline)
                    print(f"  run {run + 1}/{arguments.runs} ceiling:  {ceiling.frames:,} frames, {ceiling.rate:,.0f} msg/s", file=sys.stderr)
                    ceilings.append(ceiling)
                    if ceiling.frames != EXPECTED_TOTAL:
                        print(f"!! ceiling run received {ceiling.frames:,} frames, expected {EXPECTED_TOTAL:,}", file=sys.stderr)
                        failed = True
                    pipeline = await pipeline_run(timeline, server, directory)
                    print(f"  run {run + 1}/{arguments.runs} pipeline: {pipeline.entries_acked:,} entries, {pipeline.rate:,.0f} msg/s", file=sys.stderr)
                    pipelines.append(pipeline)
                    alone = await pipeline_run(timeline, server, directory, frames_in_memory=True)
                    print(f"  run {run + 1}/{arguments.runs} alone:    {alone.entries_acked:,} entries, {alone.rate:,.0f} msg/s", file=sys.stderr)
                    alones.append(alone)
                    if not (pipeline.counts_ok and alone.counts_ok):
                        failed = True
                print_report(info, load_seconds, ceilings, pipelines, alones)
                result = pipelines[-1] if pipelines else None
            for index, pipeline in enumerate([result] if arguments.profile else pipelines):
                if not pipeline.counts_ok:
                    print(
                        f"\n!! COUNT MISMATCH in pipeline run {index + 1}: XLEN {pipeline.stream_lengths} "
                        f"expected {EXPECTED}", file=sys.stderr,
                    )
                if pipeline.gap_audits:
                    print(f"\n!! pipeline run {index + 1}: {pipeline.gap_audits} gap audit entries in {RedisKeys(NAMESPACE).gaps()}", file=sys.stderr)
                if pipeline.duplicates_refused:
                    print(f"\n!! pipeline run {index + 1}: {pipeline.duplicates_refused} duplicates refused", file=sys.stderr)
        finally:
            await asyncio.to_thread(server.stop)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="ceiling/pipeline pairs to run (default 3; the median is reported)")
    parser.add_argument("--quick", action="store_true", help="one run of each")
    parser.add_argument("--profile", action="store_true", help="run the pipeline once under cProfile and print the top functions")
    parser.add_argument("--top", type=int, default=25, help="functions to list per profile table (default 25)")
    parser.add_argument("--profile-output", type=Path, default=None, help="also save the raw cProfile stats here")
    parser.add_argument("--log-level", default="WARNING", help="log level of the daemon and exchange (default WARNING)")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.runs = 1
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging(arguments.log_level, "console")
    return asyncio.run(main_async(arguments))


if __name__ == "__main__":
    sys.exit(main())
