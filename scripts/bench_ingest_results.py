"""What one run of scripts/bench_ingest.py measured, and the report printed from the runs.

Kept apart from the runs themselves (bench_ingest.py), which start the exchange, Redis and the
daemon; this module only counts and prints.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field

import msgspec
import redis
import websockets

from bot.bus.redis_server import EmbeddedRedis
from bot.config.sections import DEFAULT_RECORDING

# What the bundled recording holds, per Redis stream kind: every run must write exactly this.
EXPECTED = {"trade": 19_904, "bookTicker": 73_174, "depthUpdate": 6_495}
EXPECTED_TOTAL = sum(EXPECTED.values())  # 99,573
TARGET_RATIO = 0.50


@dataclass
class CeilingResult:
    frames: int
    first_ns: int
    last_ns: int
    connect_ns: int

    @property
    def rate(self) -> float:
        return self.frames / max((self.last_ns - self.first_ns) / 1e9, 1e-9)

    @property
    def rate_from_connect(self) -> float:
        return self.frames / max((self.last_ns - self.connect_ns) / 1e9, 1e-9)


@dataclass
class PipelineResult:
    entries_acked: int = 0
    first_ns: int = 0  # first frame's ts_init
    last_received_ns: int = 0  # latest ts_init seen
    done_ns: int = 0  # acknowledgement of the batch that completed the count
    latencies_ns: list[int] = field(default_factory=list)
    batches: int = 0
    peak_backlog: int = 0  # writer backlog right after a batch was acknowledged, at its highest
    stream_lengths: dict[str, int] = field(default_factory=dict)
    gap_audits: int = 0
    duplicates_refused: int = 0
    redis_cpu_seconds: float = 0.0
    process_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def rate(self) -> float:
        if not self.done_ns:  # never completed: frames were lost
            return float("nan")
        return EXPECTED_TOTAL / max((self.done_ns - self.first_ns) / 1e9, 1e-9)

    @property
    def receive_rate(self) -> float:
        return EXPECTED_TOTAL / max((self.last_received_ns - self.first_ns) / 1e9, 1e-9)

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        index = min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)
        return ordered[index] / 1e6

    @property
    def counts_ok(self) -> bool:
        return all(self.stream_lengths.get(kind) == count for kind, count in EXPECTED.items())


def machine_info(server: EmbeddedRedis) -> list[tuple[str, str]]:
    try:
        import hiredis

        hiredis_version = hiredis.__version__
    except ImportError:
        hiredis_version = "not installed"
    from redis.utils import HIREDIS_AVAILABLE

    return [
        ("cpu count", f"{os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))})"),
        ("platform", platform.platform()),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("websockets", websockets.__version__),
        ("redis-py", f"{redis.__version__} (hiredis parser in use: {HIREDIS_AVAILABLE})"),
        ("hiredis", hiredis_version),
        ("msgspec", msgspec.__version__),
        ("redis-server", f"{server.version} (AOF on, appendfsync everysec)"),
    ]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_report(
    info, load_seconds, ceilings: list[CeilingResult], pipelines: list[PipelineResult], alones: list[PipelineResult] = (),
) -> None:
    print()
    print("machine")
    for name, value in info:
        print(f"  {name:<13} {value}")
    print(f"  {'recording':<13} {DEFAULT_RECORDING.name} (loaded once in {load_seconds:.2f} s)")
    print()
    print("per run            ceiling msg/s  (from connect)   pipeline msg/s  (receive side)   p50 ms   p99 ms   max ms  batches  peak backlog  cpu s (bot/redis)   alone msg/s  cpu s")
    for index in range(max(len(ceilings), len(pipelines))):
        c = ceilings[index] if index < len(ceilings) else None
        p = pipelines[index] if index < len(pipelines) else None
        cells = [f"  run {index + 1:<12}"]
        cells.append(f"{c.rate:>13,.0f}  ({c.rate_from_connect:>12,.0f})" if c else " " * 29)
        if p:
            cells.append(
                f"   {p.rate:>14,.0f}  ({p.receive_rate:>12,.0f})   {p.percentile_ms(0.5):>6.1f}   {p.percentile_ms(0.99):>6.1f}"
                f"   {p.percentile_ms(1.0):>6.1f}  {p.batches:>7}  {p.peak_backlog:>12,}  {p.process_cpu_seconds:>5.2f} / {p.redis_cpu_seconds:.2f}"
            )
        a = alones[index] if index < len(alones) else None
        if a:
            cells.append(f"   {a.rate:>11,.0f}  {a.process_cpu_seconds:>5.2f}")
        print("".join(cells))
    ceiling_rate = _median([c.rate for c in ceilings])
    pipeline_rate = _median([p.rate for p in pipelines])
    # The verdict is the median of each run's ratio: a run's ceiling and pipeline ran back to back,
    # so on a machine whose speed drifts (a shared VM) their ratio is steadier than a ratio of
    # medians taken from different moments.
    run_ratios = [p.rate / c.rate for c, p in zip(ceilings, pipelines)]
    ratio = _median(run_ratios)
    last = pipelines[-1] if pipelines else None
    rows = [
        ("ceiling msgs/s (median)", f"{ceiling_rate:,.0f}" if ceilings else "(not run)"),
        ("pipeline msgs/s (median)", f"{pipeline_rate:,.0f}"),
        ("ratio pipeline/ceiling", (
            f"{ratio:.3f}  (median of the runs' ratios {' '.join(f'{value:.2f}' for value in run_ratios)}; "
            f"target >= {TARGET_RATIO:.2f}: {'MET' if ratio >= TARGET_RATIO else 'NOT MET'})"
            if ceilings else "(no ceiling run)"
        )),
        ("ratio of the medians", f"{pipeline_rate / ceiling_rate:.2f}" if ceilings else "-"),
        ("alone msgs/s (median)", (
            f"{_median([a.rate for a in alones]):,.0f}  (ratio to the ceiling {_median([a.rate for a in alones]) / ceiling_rate:.2f}: "
            "the bound for any receive path)" if alones and ceilings else "(not run)"
        )),
        ("latency p50 ms (median)", f"{_median([p.percentile_ms(0.5) for p in pipelines]):.1f}"),
        ("latency p99 ms (median)", f"{_median([p.percentile_ms(0.99) for p in pipelines]):.1f}"),
        ("redis entries written", (
            f"{sum(last.stream_lengths.values()):,}  (trade {last.stream_lengths.get('trade', 0):,}, "
            f"bookTicker {last.stream_lengths.get('bookTicker', 0):,}, depthUpdate {last.stream_lengths.get('depthUpdate', 0):,}; "
            f"expected {EXPECTED_TOTAL:,})" if last else "-"
        )),
    ]
    print()
    print(f"summary over {len(pipelines)} run(s) of {EXPECTED_TOTAL:,} frames")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print()
    print("  rates: frames / (first frame received -> last frame received [ceiling] or last entry")
    print("  acknowledged by Redis [pipeline]); '(from connect)' starts at connect(); '(receive side)'")
    print("  ends at the pipeline's last frame received. latency: batch ack time - frame ts_init.")
