"""Decision latency with and without an alert flood: do alerts stay off the trading path?

    .venv/bin/python scripts/bench_alerts.py            # 3 runs of each case, interleaved a b c a b c ...
    .venv/bin/python scripts/bench_alerts.py --quick    # 1 run of each
    .venv/bin/python scripts/bench_alerts.py --profile c  # one run of case c under cProfile

Each run is `bot.app.Daemon` as `tradebot run` wires it from config/tradebot.yaml (replay exchange
with the bundled BTCUSDT recording, ingest, private Redis in a fresh temporary directory, the
engine with the shipped strategies, the paper broker, scanner, metrics/API on port 0), logging at
the shipped INFO level as JSON lines into a file (what a container's stdout gets). Only the alert
channels differ:

  a  no channel beyond the built-in Redis alert stream (the peer)
  b  + a Telegram chat and a signed webhook, each at a realistic rate (Telegram's per-chat limit of
     one message a second; the webhook at 10 a second), Telegram commands on (getUpdates long-poll)
  c  as b, and a flood of 1,000 alerts published within one second (10 bursts of 100, 0.1 s apart)
     every --flood-every seconds while the engine trades, so floods overlap many decisions

The Telegram and webhook receivers run in a child process (they are another machine in real life;
on the daemon's event loop their request handling would be charged to the engine).

Decision latency is the daemon's own tradebot_engine_decision_latency_seconds: wall time when the
batch holding the deciding event is committed to the ledger minus the event's receive time
(ts_init), so it includes Redis in and out. The benchmark swaps that histogram's series for one
that also keeps every raw value; the product code is unchanged.

The replay runs at --speed (default 30: the 650 s recording in about 22 s). The engine must keep
up with the stream, or latency measures the backlog rather than the decision path: every run
samples the engine's backlog (entries in Redis not yet handled) and prints its maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import bot.app  # noqa: E402
from bot.alerts import Alert  # noqa: E402
from bot.app import Daemon  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.config.sections import DEFAULT_RECORDING  # noqa: E402
from bot.ingest.metrics import HistogramSeries  # noqa: E402
from bot.logging_setup import configure_logging  # noqa: E402
from bot.sim.exchange import ReplayExchange  # noqa: E402
from bot.sim.timeline import load_timeline  # noqa: E402
from bench_profiling import print_profile  # noqa: E402

CONFIG_PATH = REPOSITORY / "config" / "tradebot.yaml"
TOKEN = "123456:bench-token"
CHAT = 4242
SECRET = "a-webhook-signing-secret"
CASES = {
    "a": "Redis alert stream only (peer)",
    "b": "+ Telegram 1/s + signed webhook 10/s",
    "c": "as b + 1,000-alert floods",
}


# ---------------------------------------------------------------- receivers (child process)

def _receiver_process(connection, secret: str) -> None:
    """Telegram's Bot API stand-in (sendMessage, getUpdates) and a webhook receiver, on one port."""
    from aiohttp import web

    from bot.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

    arrivals: dict[str, list[float]] = {"telegram": [], "webhook": []}
    verified = [0]

    async def send_message(request: web.Request) -> web.Response:
        await request.read()
        arrivals["telegram"].append(time.monotonic())
        return web.json_response({"ok": True, "result": {"message_id": len(arrivals["telegram"])}})

    async def get_updates(request: web.Request) -> web.Response:
        payload = await request.json()
        await asyncio.sleep(float(payload.get("timeout", 0)))  # a real long-poll: nothing new
        return web.json_response({"ok": True, "result": []})

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrivals["webhook"].append(time.monotonic())
        headers = request.headers
        if verify_signature(secret.encode(), headers.get(TIMESTAMP_HEADER, ""), body, headers.get(SIGNATURE_HEADER, ""), time.time()):
            verified[0] += 1
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        answer = {name: {"received": len(times), "most_in_1s": _most_in_any_window(times, 1.0)} for name, times in arrivals.items()}
        answer["webhook"]["signatures_verified"] = verified[0]
        if request.query.get("reset"):
            for times in arrivals.values():
                times.clear()
            verified[0] = 0
        return web.json_response(answer)

    async def serve() -> None:
        application = web.Application()
        application.router.add_post(f"/bot{TOKEN}/sendMessage", send_message)
        application.router.add_post(f"/bot{TOKEN}/getUpdates", get_updates)
        application.router.add_post("/hook", hook)
        application.router.add_get("/stats", stats)
        runner = web.AppRunner(application, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        connection.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(serve())


def _most_in_any_window(times: list[float], window_seconds: float) -> int:
    ordered, most, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window_seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def receiver_stats(url: str, reset: bool) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{url}/stats", params={"reset": "1"} if reset else {}) as response:
        return await response.json()


# ---------------------------------------------------------------- one run

class RecordingSeries(HistogramSeries):
    """The decision-latency series, keeping every raw value (with when it was observed)."""

    __slots__ = ("samples",)

    def __init__(self, bounds: list[float]) -> None:
        super().__init__(bounds)
        self.samples: list[tuple[float, float]] = []

    def observe(self, value: float) -> None:
        self.samples.append((time.perf_counter(), value))
        HistogramSeries.observe(self, value)


@dataclass
class RunResult:
    case: str
    latencies: list[float] = field(default_factory=list)  # seconds
    in_flood: list[bool] = field(default_factory=list)  # per latency: committed while a flood was being published
    backlog: list[int] = field(default_factory=list)  # engine backlog (entries), sampled every 50 ms
    loop_lags: list[float] = field(default_factory=list)  # seconds late, 5 ms sleeps
    burst_seconds: list[float] = field(default_factory=list)  # wall time of each burst of 100 publish() calls
    floods: int = 0
    fills: int = 0
    channels: dict[str, dict[str, float]] = field(default_factory=dict)
    receivers: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0


def settings_for(case: str, directory: Path, speed: float, receiver_url: str, webhook_rate: int):
    environment = {
        "TRADEBOT_DATA_DIRECTORY": str(directory),
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": str(speed),
        "TRADEBOT_METRICS__PORT": "0",
        # Also the shutdown grace for queued alerts: a flood's leftovers would hold each run 10 s.
        "TRADEBOT_ALERTS__REQUEST_TIMEOUT_SECONDS": "2",
    }
    if case in ("b", "c"):
        environment |= {
            "TRADEBOT_ALERTS__TELEGRAM__ENABLED": "true",
            "TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN": TOKEN,
            "TRADEBOT_ALERTS__TELEGRAM__CHAT_IDS": f"[{CHAT}]",
            "TRADEBOT_ALERTS__TELEGRAM__API_BASE_URL": receiver_url,
            "TRADEBOT_ALERTS__TELEGRAM__MAX_MESSAGES": "1",
            "TRADEBOT_ALERTS__TELEGRAM__PER_SECONDS": "1",
            "TRADEBOT_ALERTS__WEBHOOKS": json.dumps([{"name": "ops", "url": f"{receiver_url}/hook",
                                                      "max_messages": webhook_rate, "per_seconds": 1}]),
            "TRADEBOT_ALERTS__WEBHOOK_SIGNING_SECRET": SECRET,
        }
    return load_settings(CONFIG_PATH, environment)


async def _flood(daemon: Daemon, result: RunResult, windows: list[list[float]], every_seconds: float, size: int) -> None:
    await daemon.ready.wait()
    await daemon.runner.ready.wait()
    publish = daemon.alerts.dispatcher.publish
    bursts, per_burst = 10, size // 10
    # Floods stop when the recording has been sent. Shutting down while the Redis alert worker
    # still has a flood to write hangs the daemon: redis-py 8.1 can swallow the cancellation
    # that AlertDispatcher.close() sends a worker in the middle of an XADD (see the README).
    replayed = asyncio.ensure_future(daemon.simulator.wait_finished())
    while not replayed.done():
        started = time.perf_counter()
        windows.append([started, float("inf")])
        for burst in range(bursts):
            began = time.perf_counter()
            for number in range(per_burst):
                publish(Alert(kind="order_placed", severity="info", at_ns=time.time_ns(),
                              message=f"flood {result.floods} alert {burst * per_burst + number}"))
            result.burst_seconds.append(time.perf_counter() - began)
            await asyncio.sleep(0.1 if burst < bursts - 1 else 0)
        windows[-1][1] = time.perf_counter()
        result.floods += 1
        await asyncio.sleep(max(0.0, every_seconds - (time.perf_counter() - started)))


async def _sample_backlog(daemon: Daemon, result: RunResult) -> None:
    await daemon.ready.wait()
    while True:
        if daemon.writer is not None and daemon.runner is not None:
            result.backlog.append(daemon.writer.statistics.entries_written - daemon.runner.events_handled)
        await asyncio.sleep(0.05)


async def _sample_loop_lag(result: RunResult, interval: float = 0.005) -> None:
    lags = result.loop_lags
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append(max(0.0, time.perf_counter() - started - interval))


async def run_case(case: str, directory: Path, arguments: argparse.Namespace, receiver_url: str,
                   profiler: cProfile.Profile | None = None) -> RunResult:
    settings = settings_for(case, directory, arguments.speed, receiver_url, arguments.webhook_rate)
    daemon = Daemon(settings)
    histogram = daemon.engine_metrics.decision_latency
    series = histogram._series[""] = RecordingSeries(histogram._bounds)  # the bench's only hook into the daemon
    result = RunResult(case)
    windows: list[list[float]] = []
    helpers = [asyncio.create_task(_sample_backlog(daemon, result)), asyncio.create_task(_sample_loop_lag(result))]
    if case == "c":
        helpers.append(asyncio.create_task(_flood(daemon, result, windows, arguments.flood_every, arguments.flood_size)))
    if case in ("b", "c"):
        await receiver_stats(receiver_url, reset=True)
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        await asyncio.wait_for(daemon.run(asyncio.Event()), 600)
    finally:
        if profiler is not None:
            profiler.disable()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    result.wall_seconds, result.cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    for at, latency in series.samples:
        result.latencies.append(latency)
        result.in_flood.append(any(start <= at <= end for start, end in windows))
    result.fills = sum(daemon.engine_metrics.fills.counts.values())
    value = daemon.metrics.registry.get_sample_value
    for worker in daemon.alerts.dispatcher.workers:
        name = worker.channel.name
        result.channels[name] = {
            "sent": value("tradebot_alerts_sent_total", {"channel": name}) or 0,
            "failed": value("tradebot_alerts_failed_total", {"channel": name}) or 0,
            **{f"dropped {reason}": value("tradebot_alerts_dropped_total", {"channel": name, "reason": reason}) or 0
               for reason in ("queue_full", "gave_up", "shutdown")},
        }
    if case in ("b", "c"):
        result.receivers = await receiver_stats(receiver_url, reset=True)
    return result


# ---------------------------------------------------------------- report

def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def ms(value: float) -> str:
    return f"{value * 1e3:8.1f}"


def _backlog(result: RunResult) -> str:
    backlog = result.backlog or [0]
    return f"{percentile(backlog, 0.5):,}/{percentile(backlog, 0.99):,}/{max(backlog):,}"


def print_report(results: list[RunResult], arguments: argparse.Namespace, info: list[tuple[str, str]]) -> None:
    print()
    for name, value in info:
        print(f"  {name:<14} {value}")
    print()
    print("per run     decisions   p50 ms   p99 ms   max ms  backlog p50/p99/max  loop lag p99/max ms  fills  floods  wall s  cpu s")
    for index, result in enumerate(results):
        lags = result.loop_lags
        print(f"  {result.case} run {index // len(arguments.cases) + 1}  {len(result.latencies):>9,} {ms(percentile(result.latencies, 0.5))} "
              f"{ms(percentile(result.latencies, 0.99))} {ms(max(result.latencies, default=float('nan')))}  {_backlog(result):>19}"
              f"  {percentile(lags, 0.99) * 1e3:>9.1f} / {max(lags, default=0) * 1e3:>6.1f}  {result.fills:>5}  {result.floods:>6}"
              f"  {result.wall_seconds:>6.1f}  {result.cpu_seconds:>5.1f}")
    pooled: dict[str, list[float]] = {}
    for result in results:
        pooled.setdefault(result.case, []).extend(result.latencies)
    print()
    print(f"decision latency, all runs of a case pooled (ts_init -> ledger commit, replay speed {arguments.speed:g})")
    print("  case                                        decisions   p50 ms   p99 ms   max ms")
    for case, latencies in pooled.items():
        print(f"  {case}  {CASES[case]:<40} {len(latencies):>9,} {ms(percentile(latencies, 0.5))} {ms(percentile(latencies, 0.99))} "
              f"{ms(max(latencies))}")
    peer = percentile(pooled.get("a", []), 0.99)
    for case in ("c", "b"):
        if case in pooled and "a" in pooled:
            print(f"  ratio p99({case}) / p99(a)  {percentile(pooled[case], 0.99) / peer:.2f}")
    flooded = [result for result in results if result.case == "c"]
    if flooded:
        during = [latency for result in flooded for latency, flag in zip(result.latencies, result.in_flood) if flag]
        outside = [latency for result in flooded for latency, flag in zip(result.latencies, result.in_flood) if not flag]
        bursts = [seconds for result in flooded for seconds in result.burst_seconds]
        print(f"  c, decisions committed while a flood was being published: {len(during):,}, p50 {ms(percentile(during, 0.5)).strip()}"
              f" p99 {ms(percentile(during, 0.99)).strip()} ms; outside: {len(outside):,}, p50 {ms(percentile(outside, 0.5)).strip()}"
              f" p99 {ms(percentile(outside, 0.99)).strip()} ms")
        print(f"  c, one burst of {arguments.flood_size // 10} publish() calls: p50 {ms(percentile(bursts, 0.5)).strip()} ms, "
              f"max {ms(max(bursts)).strip()} ms ({len(bursts):,} bursts, {sum(r.floods for r in flooded)} floods of {arguments.flood_size:,})")
    print()
    print("alerts per channel, per run (daemon metrics; receiver: arrived at the stand-in, most in any 1 s)")
    for index, result in enumerate(results):
        if result.case == "a" and index >= len(arguments.cases):
            continue  # the peer's Redis-only figures are the same every run; show the first
        for channel, counts in result.channels.items():
            received = ""
            kind = "telegram" if channel.startswith("telegram") else "webhook" if channel.startswith("webhook") else None
            if kind and result.receivers:
                stand_in = result.receivers[kind]
                received = f"  receiver {stand_in['received']:,} (most in 1 s: {stand_in['most_in_1s']})"
                if kind == "webhook":
                    received += f", signatures verified {stand_in['signatures_verified']:,}"
            cells = "  ".join(f"{name} {int(count):,}" for name, count in counts.items())
            print(f"  {result.case} run {index // len(arguments.cases) + 1}  {channel:<15} {cells}{received}")


# ---------------------------------------------------------------- main

async def main_async(arguments: argparse.Namespace, receiver_url: str) -> int:
    started = time.perf_counter()
    recordings = list(load_settings(CONFIG_PATH, {}).replay_exchange.recordings)  # the market, exchangeInfo, tickers
    timeline = await asyncio.to_thread(load_timeline, recordings)
    # Every run's replay exchange serves this one decoded recording (1.8 s to load otherwise).
    bot.app.ReplayExchange = functools.partial(ReplayExchange, timeline=timeline)
    info = [
        ("cpu count", f"{os.cpu_count()} (load average at start {os.getloadavg()[0]:.2f})"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("recording", f"{DEFAULT_RECORDING.name}, 650.6 s at speed {arguments.speed:g}"),
        ("flood", f"{arguments.flood_size:,} alerts in 10 bursts 0.1 s apart, one flood every {arguments.flood_every:g} s (case c)"),
        ("logging", f"{arguments.log_level} as JSON lines to a file"),
    ]
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as temporary:
        directory = Path(temporary)
        with open(directory / "daemon.log", "w") as log_file:
            configure_logging(arguments.log_level, "json", stream=log_file)
            if arguments.profile:
                profiler = cProfile.Profile()
                results.append(await run_case(arguments.profile, directory / "profiled", arguments, receiver_url, profiler))
            else:
                for run in range(arguments.runs):
                    for case in arguments.cases:
                        result = await run_case(case, directory / f"{case}{run}", arguments, receiver_url)
                        print(f"  run {run + 1}/{arguments.runs} case {case}: {len(result.latencies):,} decisions, "
                              f"p99 {percentile(result.latencies, 0.99) * 1e3:.1f} ms, backlog p50/p99/max {_backlog(result)}, "
                              f"{result.wall_seconds:.1f} s", file=sys.stderr)
                        results.append(result)
        info.append(("log written", f"{(directory / 'daemon.log').stat().st_size / 1e3:,.0f} kB"))
    if arguments.profile:
        arguments.cases = [arguments.profile]
    print_report(results, arguments, info)
    if arguments.profile:
        print("\n(latencies above are under cProfile)")
        print_profile(profiler, arguments.top, by_package=False)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")
    return 0


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run of each case")
    parser.add_argument("--cases", default="abc", help="which cases, in order (default abc)")
    parser.add_argument("--speed", type=float, default=30.0, help="replay speed (default 30)")
    parser.add_argument("--flood-every", type=float, default=3.0, help="seconds between flood starts (default 3)")
    parser.add_argument("--flood-size", type=int, default=1000, help="alerts per flood (default 1000)")
    parser.add_argument("--webhook-rate", type=int, default=10, help="webhook messages per second (default 10)")
    parser.add_argument("--log-level", default="INFO", help="daemon log level (default INFO, the shipped config's)")
    parser.add_argument("--profile", choices=sorted(CASES), help="run this case once under cProfile")
    parser.add_argument("--top", type=int, default=30)
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.runs = 1
    arguments.cases = [case for case in arguments.cases if case in CASES]
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    receivers = context.Process(target=_receiver_process, args=(child, SECRET), daemon=True)
    receivers.start()
    try:
        port = parent.recv()
        return asyncio.run(main_async(arguments, f"http://127.0.0.1:{port}"))
    finally:
        receivers.terminate()
        receivers.join(5)


if __name__ == "__main__":
    sys.exit(main())
