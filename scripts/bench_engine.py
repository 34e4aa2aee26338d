"""Engine throughput and decision latency on the bundled real recording.

    .venv/bin/python scripts/bench_engine.py            # 3 runs of each, medians
    .venv/bin/python scripts/bench_engine.py --quick    # 1 run of each

The bundled BTCUSDT recording (99,573 frames: 19,904 trades, 73,174 bookTickers, 6,495 depth
diffs, plus the recorder's REST depth snapshot) is decoded once into typed events, in arrival
order, each stamped with its recorded receive time. Then, in the same process and on the same
events:

CEILING  the least any engine must do per event: keep the market (books from the snapshot and
         diffs, best bid/ask, last price) -- `bot.engine.market.MarketState.apply`.
ENGINE   the whole engine as the daemon builds it (`bot.engine.assembly.build_engine` from the
         shipped config/tradebot.yaml): bars from trades, the shipped strategies (sma_cross,
         breakout on 1 s bars), the six guards, risk, the paper broker with BTCUSDT's real
         exchange filters, the portfolio and the trading-state machine. No Redis: this measures
         the engine, not the ledger round trip (the daemon's tradebot_engine_decision_latency_seconds
         metric includes that).

Decision latency is, for each event that produced a decision, the time `engine.handle(event)`
took (the decision is complete when it returns). Printed: events/s of both, their ratio, and
the latency p50 / p99, plus the orders and fills the run made (so a run that trades nothing is
visible).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from bot.config import load_settings  # noqa: E402
from bot.config.sections import DEFAULT_RECORDING, RECORDINGS_DIRECTORY  # noqa: E402
from bot.domain.events import MarketEvent  # noqa: E402
from bot.domain.symbols import rules_from_exchange_info  # noqa: E402
from bot.engine.assembly import build_engine  # noqa: E402
from bot.engine.market import MarketState  # noqa: E402
from bot.engine.metrics import EngineMetrics  # noqa: E402
from bot.engine.recorded import recorded_events  # noqa: E402


def ceiling_run(events: list[MarketEvent]) -> float:
    market = MarketState(["BTCUSDT"])
    started = time.perf_counter()
    for event in events:
        market.apply(event)
    return len(events) / (time.perf_counter() - started)


async def engine_run(events: list[MarketEvent], settings, rules) -> tuple[float, list[float], int, int, int]:
    engine, _ = build_engine(settings, rules, {}, EngineMetrics())
    latencies: list[float] = []
    decisions = orders = fills = 0
    started = time.perf_counter()
    for event in events:
        before = len(engine.outputs.decisions)
        began = time.perf_counter()
        await engine.handle(event)
        if len(engine.outputs.decisions) > before:
            latencies.append(time.perf_counter() - began)
        if len(engine.outputs.decisions) > 512:  # what the runner hands to the ledger per batch
            outputs = engine.take_outputs()
            decisions += len(outputs.decisions)
            orders += len(outputs.orders)
            fills += len(outputs.fills)
    elapsed = time.perf_counter() - started
    outputs = engine.take_outputs()
    decisions += len(outputs.decisions)
    orders += len(outputs.orders)
    fills += len(outputs.fills)
    return len(events) / elapsed, latencies, decisions, orders, fills


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each instead of three")
    arguments = parser.parse_args(argv)
    runs = 1 if arguments.quick else 3

    load_started = time.perf_counter()
    events = recorded_events(DEFAULT_RECORDING)
    settings = load_settings(REPOSITORY / "config/tradebot.yaml", {})
    with gzip.open(RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz", "rb") as file:
        rules = rules_from_exchange_info(json.load(file))
    print(f"loaded {len(events):,} events in {time.perf_counter() - load_started:.1f} s; "
          f"strategies: {', '.join(entry.name for entry in settings.engine.strategies)}")

    ceilings, engines, latencies = [], [], []
    counts = (0, 0, 0)
    for run in range(runs):
        ceilings.append(ceiling_run(events))
        rate, run_latencies, *counts = asyncio.run(engine_run(events, settings, rules))
        engines.append(rate)
        latencies += run_latencies
        print(f"run {run + 1}: ceiling {ceilings[-1]:,.0f} events/s, engine {rate:,.0f} events/s")

    ceiling, engine = statistics.median(ceilings), statistics.median(engines)
    decisions, orders, fills = counts
    print()
    print(f"ceiling (market state only)  {ceiling:>12,.0f} events/s")
    print(f"engine (full decision path)  {engine:>12,.0f} events/s")
    print(f"ratio engine / ceiling       {engine / ceiling:>12.2f}")
    print(f"decision latency p50 / p99   {percentile(latencies, 0.5) * 1e6:,.0f} / {percentile(latencies, 0.99) * 1e6:,.0f} µs "
          f"over {len(latencies):,} decisions")
    print(f"one run decided {decisions:,} signals, placed {orders:,} orders, booked {fills:,} fills")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
