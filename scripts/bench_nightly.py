"""The nightly pipeline's costs, each beside a peer or a ceiling measured in the same run.

    .venv/bin/python scripts/bench_nightly.py                 # all 1m files of ../shared/data/binance/klines
    .venv/bin/python scripts/bench_nightly.py --quick         # 2 files (the ETHUSDT spot days)
    .venv/bin/python scripts/bench_nightly.py --json out.json # also write the figures

1. FEATURES over every `*_1m_*.csv` in --data-dir (symbol from the file name; several files of one
   symbol go to one series, the clean layer deduplicates). Setup, reported but in no ratio: the
   CSVs are read with the backtest's loader (bot.features_command.load_klines) and written into a
   fresh raw lake with the daemon's RawWriter (records.kline_row, source "file").
     spark        spark_batch.session.build_session() (start-up, reported apart), then
                  spark_batch.features.build_features: raw -> clean -> features, whole lake.
     pandas       one process: each symbol's clean partitions read with pyarrow, then
                  spark_batch.feature_frame.compute_feature_frame, then one Parquet file each.
     incremental  the daemon's FeatureSet bar by bar (bot.features.table.feature_rows) over the
                  same bars as Kline events (Decimal prices, as live).
   Check: on a sample of rows after 1,000 bars of warm-up, Spark's features layer and the pandas
   frame agree to 1e-9 relative (or 1e-12 absolute near zero); the run fails otherwise.
2. TRAINING: spark_batch.train_job.train_and_publish on the features layer (read with
   spark_batch.training_data.read_training_table), local XGBoost, classifier, into a temp registry
   (walk-forward folds included: that is the nightly cost). --spark-training adds the xgboost.spark
   engine on the same table.
3. PREDICTION LATENCY in the daemon's path: ml_signal's on_bar (FeatureSet update + inplace_predict
   on one row) with the model from 2 pinned by model_directory, over real bars, counted only on
   bars where a prediction was made. Peer: the same rows through Booster.predict(DMatrix(row)).
4. HOT-SWAP STALL (acceptance 3): bot.models.stall.measure_swap_stall (load off the loop, as the
   watcher does) N times, against the same probe with no swap (idle ceiling) and with the load ON
   the loop (blocking, what the watcher avoids). Target: worst stall under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bot.domain.events import Kline
from bot.features.spec import FEATURE_SPEC, FeatureSet
from bot.features.table import feature_rows
from bot.features_command import load_klines
from bot.lake import KLINES, LakeLayout, RawWriter
from bot.lake.records import kline_row

DEFAULT_DATA_DIRECTORY = REPOSITORY.parent / "shared" / "data" / "binance" / "klines"
QUICK_FILES = ("spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv", "spot_ETHUSDT_1m_2025-10-29_2025-11-01.csv")
FILE_SYMBOL = re.compile(r"^(?:spot|futures_um|futures_cm)_(?P<symbol>[A-Z0-9]+)_1m_")
INTERVAL = "1m"
MODEL_NAME = "bench"
WARM_UP_BARS = 1_000  # contract A: parity is promised after this many bars of a series
SAMPLE_ROWS = 2_000  # compared rows per run (spread over every symbol)
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
STALL_TARGET_MS = 10.0


def symbol_of(path: Path) -> str:
    match = FILE_SYMBOL.match(path.name)
    if match is None:
        raise SystemExit(f"{path.name}: cannot tell the symbol from the file name")
    return match["symbol"]


def percentile(values, fraction: float) -> float:
    if len(values) == 0:
        return float("nan")
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return float(ordered[min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)])


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


# ---------------------------------------------------------------- 1. setup and features


def load_series(files: list[Path]) -> dict[str, list[Kline]]:
    """Each symbol's closed bars, oldest first, one bar per open time (files of one symbol may
    overlap; the incremental engine refuses repeats, the clean layer collapses them)."""
    by_symbol: dict[str, dict[int, Kline]] = {}
    for path in files:
        for bar in load_klines(path, symbol_of(path), INTERVAL):
            by_symbol.setdefault(bar.symbol, {}).setdefault(bar.open_time, bar)
    return {symbol: [bars[key] for key in sorted(bars)] for symbol, bars in sorted(by_symbol.items())}


def write_raw_lake(lake_root: Path, files: list[Path]) -> int:
    writer = RawWriter(LakeLayout(lake_root))
    ingested_at_ns = time.time_ns()
    rows = 0
    for path in files:  # file by file, as `tradebot backfill` would store them
        bars = load_klines(path, symbol_of(path), INTERVAL)
        result = writer.write(KLINES, symbol_of(path), [kline_row(bar, "file", ingested_at_ns) for bar in bars], "file", interval=INTERVAL)
        rows += result.rows_written
    return rows


def read_clean_symbol(lake_root: Path, symbol: str) -> pd.DataFrame:
    directory = lake_root / "clean" / "klines" / f"interval={INTERVAL}" / f"symbol={symbol}"
    files = sorted(path for path in directory.rglob("*.parquet") if not path.name.startswith((".", "_")))
    table = pa.concat_tables([pq.read_table(path) for path in files], promote_options="permissive")
    return table.to_pandas().sort_values("open_time_ms", kind="stable").reset_index(drop=True)


def pandas_features(lake_root: Path, symbols: list[str], output: Path) -> dict[str, pd.DataFrame]:
    from spark_batch.feature_frame import compute_feature_frame

    frames = {}
    output.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        frame = compute_feature_frame(read_clean_symbol(lake_root, symbol))
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), output / f"{symbol}.parquet", compression="zstd")
        frames[symbol] = frame
    return frames


def read_spark_features(lake_root: Path, symbol: str) -> pd.DataFrame:
    directory = lake_root / "features" / f"interval={INTERVAL}" / f"symbol={symbol}"
    files = sorted(path for path in directory.rglob("*.parquet") if not path.name.startswith((".", "_")))
    table = pa.concat_tables([pq.read_table(path, columns=["open_time_ms", *FEATURE_SPEC.names]) for path in files],
                             promote_options="permissive")
    return table.to_pandas().sort_values("open_time_ms", kind="stable").reset_index(drop=True)


def compare(reference: pd.DataFrame, other: pd.DataFrame, rows: int, seed: int = 0) -> tuple[int, float, list[str]]:
    """Rows after the warm-up compared feature by feature: (rows compared, worst relative error,
    mismatches). Both sides null, or both equal within tolerance, agree."""
    joined = reference.merge(other, on="open_time_ms", suffixes=("_a", "_b"))
    joined = joined.iloc[WARM_UP_BARS:]
    if joined.empty:
        return 0, 0.0, []
    sample = joined.sample(n=min(rows, len(joined)), random_state=seed)
    worst, mismatches = 0.0, []
    for name in FEATURE_SPEC.names:
        a = pd.to_numeric(sample[f"{name}_a"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        b = pd.to_numeric(sample[f"{name}_b"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        null_differs = np.isnan(a) != np.isnan(b)
        both = ~np.isnan(a) & ~np.isnan(b)
        difference = np.abs(a[both] - b[both])
        scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
        bad = difference > RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE
        relative = difference / np.where(scale > 0, scale, 1.0)
        finite = relative[scale > 1e-6]  # the worst relative error where relative error means something
        if finite.size:
            worst = max(worst, float(finite.max()))
        if null_differs.any() or bad.any():
            mismatches.append(f"{name}: {int(null_differs.sum())} null mismatches, {int(bad.sum())} value mismatches")
    return len(sample), worst, mismatches


def incremental_frame(bars: list[Kline]) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    rows = feature_rows(bars)
    seconds = time.perf_counter() - started
    frame = pd.DataFrame([values for _, values in rows], columns=list(FEATURE_SPEC.names), dtype="float64")
    frame.insert(0, "open_time_ms", [open_time for open_time, _ in rows])
    return frame, seconds


# ---------------------------------------------------------------- 3. prediction latency


def prediction_latency(model_directory: Path, bars: list[Kline]) -> dict[str, float]:
    import xgboost

    from strategies.ml_signal import MlSignal, MlSignalConfig

    config = MlSignalConfig(model_directory=str(model_directory), max_model_age_minutes=1e12)
    strategy = MlSignal(bars[0].symbol, config)
    clock = time.perf_counter_ns
    on_bar_ns = []
    for bar in bars:
        started = clock()
        signal = strategy.on_bar(bar)
        elapsed = clock() - started
        if "P(up)=" in signal.reason:  # a prediction was made on this bar
            on_bar_ns.append(elapsed)
    if not on_bar_ns:
        raise SystemExit(f"ml_signal made no prediction on {len(bars)} {bars[0].symbol} bars (last reason: {signal.reason})")
    model = strategy.holder.model
    assert model is not None
    # The same feature rows again, outside the strategy: in-place (the daemon's call) vs a DMatrix per event.
    features = FeatureSet(FEATURE_SPEC)
    rows = []
    for bar in bars:
        values = features.update(bar)
        if all(value is not None for value in values.values()):
            rows.append(np.array([values[name] for name in model.manifest.feature_names], dtype=np.float64))
    rows = rows[: len(on_bar_ns)]
    inplace_ns, dmatrix_ns = [], []
    booster = model.booster
    names = list(model.manifest.feature_names)
    for row in rows:
        started = clock()
        fast = model.predict(row)
        inplace_ns.append(clock() - started)
        started = clock()
        slow = booster.predict(xgboost.DMatrix(row.reshape(1, -1), feature_names=names if booster.feature_names else None))
        dmatrix_ns.append(clock() - started)
    assert np.allclose(fast, np.asarray(slow).reshape(-1), rtol=1e-6), "inplace_predict and DMatrix predict disagree"
    return {
        "bars": len(bars), "predictions": len(on_bar_ns),
        "on_bar_p50_us": percentile(on_bar_ns, 0.5) / 1e3, "on_bar_p99_us": percentile(on_bar_ns, 0.99) / 1e3,
        "inplace_p50_us": percentile(inplace_ns, 0.5) / 1e3, "inplace_p99_us": percentile(inplace_ns, 0.99) / 1e3,
        "dmatrix_p50_us": percentile(dmatrix_ns, 0.5) / 1e3, "dmatrix_p99_us": percentile(dmatrix_ns, 0.99) / 1e3,
    }


# ---------------------------------------------------------------- 4. hot-swap stall


async def swap_stalls(registry_root: Path, version: str, swaps: int) -> dict[str, float]:
    from bot.models.holder import ModelHolder
    from bot.models.loader import load_version
    from bot.models.registry import ModelRegistry
    from bot.models.stall import LoopLagProbe, measure_swap_stall

    off_loop, load_seconds = [], []
    for _ in range(swaps):
        stall = await measure_swap_stall(registry_root, MODEL_NAME, version)
        off_loop.append(stall.worst_loop_lag_seconds)
        load_seconds.append(stall.load_seconds)
    idle = []
    for seconds in load_seconds:  # the probe alone, as long as each swap took: the loop's own noise
        async with LoopLagProbe() as probe:
            await asyncio.sleep(seconds)
        idle.append(probe.worst_seconds)
    blocking = []
    registry = ModelRegistry(registry_root)
    for _ in range(swaps):
        holder = ModelHolder(MODEL_NAME)
        async with LoopLagProbe() as probe:
            await asyncio.sleep(0.002)
            holder.swap(load_version(registry, MODEL_NAME, version))  # ON the loop: what the watcher avoids
        blocking.append(probe.worst_seconds)
    return {
        "swaps": swaps,
        "load_ms_median": statistics.median(load_seconds) * 1e3,
        "off_loop_worst_ms": max(off_loop) * 1e3, "off_loop_p99_ms": percentile(off_loop, 0.99) * 1e3,
        "off_loop_median_ms": statistics.median(off_loop) * 1e3,
        "idle_worst_ms": max(idle) * 1e3, "idle_p99_ms": percentile(idle, 0.99) * 1e3,
        "blocking_worst_ms": max(blocking) * 1e3, "blocking_median_ms": statistics.median(blocking) * 1e3,
    }


# ---------------------------------------------------------------- the run


def machine_info() -> dict[str, str]:
    import pyspark
    import xgboost

    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20, check=False).stderr.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        java = "unknown"
    return {
        "cpu count": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))}; shared with other work)",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyspark": pyspark.__version__, "xgboost": xgboost.__version__, "pandas": pd.__version__,
        "pyarrow": pa.__version__, "java": java,
    }


def run(arguments: argparse.Namespace) -> tuple[dict, list[str]]:
    from bot.models.registry import ModelRegistry
    from spark_batch.features import build_features
    from spark_batch.session import build_session
    from spark_batch.train_job import train_and_publish
    from spark_batch.training_data import read_training_table

    figures: dict = {"machine": machine_info()}
    failures: list[str] = []
    files = sorted(arguments.data_dir.glob("*_1m_*.csv"))
    if arguments.quick:
        files = [path for path in files if path.name in QUICK_FILES]
    if not files:
        raise SystemExit(f"{arguments.data_dir}: no *_1m_*.csv files")
    figures["files"] = [path.name for path in files]
    step = lambda text: print(f"  .. {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as temporary:
        directory = Path(temporary)
        lake_root = directory / "lake"
        step(f"reading {len(files)} files")
        started = time.perf_counter()
        series = load_series(files)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        raw_rows = write_raw_lake(lake_root, files)
        raw_seconds = time.perf_counter() - started
        bars = sum(len(bars) for bars in series.values())
        figures["setup"] = {"symbols": list(series), "bars": bars, "raw_rows": raw_rows,
                            "csv_to_klines_seconds": load_seconds, "raw_write_seconds": raw_seconds}

        step("spark session")
        started = time.perf_counter()
        spark = build_session(arguments.master)
        session_seconds = time.perf_counter() - started
        try:
            step("spark build_features (raw -> clean -> features)")
            started = time.perf_counter()
            counts = build_features(spark, str(lake_root))
            spark_seconds = time.perf_counter() - started
            figures["spark"] = {"session_start_seconds": session_seconds, "job_seconds": spark_seconds,
                                "raw_rows": counts.rows_read, "clean_rows": counts.rows_written,
                                "feature_rows": counts.feature_rows_written, "duplicates_dropped": counts.duplicates_dropped,
                                "gaps": counts.gaps, "rows_per_second": counts.feature_rows_written / spark_seconds}

            step("pandas peer")
            started = time.perf_counter()
            frames = pandas_features(lake_root, list(series), directory / "pandas_features")
            pandas_seconds = time.perf_counter() - started
            pandas_rows = sum(len(frame) for frame in frames.values())
            figures["pandas"] = {"seconds": pandas_seconds, "rows": pandas_rows, "rows_per_second": pandas_rows / pandas_seconds}

            step("incremental engine")
            incremental_seconds, incremental_frames = 0.0, {}
            for symbol, symbol_bars in series.items():
                incremental_frames[symbol], seconds = incremental_frame(symbol_bars)
                incremental_seconds += seconds
            figures["incremental"] = {"seconds": incremental_seconds, "rows": bars, "rows_per_second": bars / incremental_seconds}

            step("agreement check")
            per_symbol = max(1, SAMPLE_ROWS // len(series))
            compared, worst_spark, worst_incremental = 0, 0.0, 0.0
            for symbol in series:
                spark_frame = read_spark_features(lake_root, symbol)
                checked, worst, mismatches = compare(frames[symbol], spark_frame, per_symbol)
                compared += checked
                worst_spark = max(worst_spark, worst)
                failures += [f"spark vs pandas, {symbol}: {text}" for text in mismatches]
                if len(spark_frame) != len(frames[symbol]):
                    failures.append(f"{symbol}: spark wrote {len(spark_frame)} feature rows, pandas {len(frames[symbol])}")
                _, worst, _ = compare(frames[symbol], incremental_frames[symbol], per_symbol)
                worst_incremental = max(worst_incremental, worst)
            figures["agreement"] = {"rows_compared": compared, "spark_vs_pandas_worst_relative": worst_spark,
                                    "incremental_vs_pandas_worst_relative": worst_incremental}

            step("training (local engine, classifier)")
            registry = ModelRegistry(directory / "models")
            started = time.perf_counter()
            table = read_training_table(str(lake_root), interval=INTERVAL, symbols=list(series))
            read_seconds = time.perf_counter() - started
            started = time.perf_counter()
            report = train_and_publish(table, registry=registry, name=MODEL_NAME, kind="classifier", engine="local", now_ns=time.time_ns())
            training_seconds = time.perf_counter() - started
            figures["training"] = {"read_table_seconds": read_seconds, "seconds": training_seconds,
                                   "rows_input": report.rows_input, "rows_training": report.rows_training,
                                   "folds": len(report.folds), "rows_per_second": report.rows_input / training_seconds,
                                   "phases": {key: round(value, 3) for key, value in report.durations.items()},
                                   "promoted": report.promoted, "version": report.version,
                                   "log_loss": report.recent_metrics.get("log_loss")}
            if arguments.spark_training:
                step("training (spark engine)")
                started = time.perf_counter()
                spark_report = train_and_publish(table, registry=ModelRegistry(directory / "models-spark"), name=MODEL_NAME,
                                                 kind="classifier", engine="spark", spark=spark, now_ns=time.time_ns())
                figures["training_spark"] = {"seconds": time.perf_counter() - started, "rows_input": spark_report.rows_input}
        finally:
            spark.stop()

        step("prediction latency")
        latency_symbol = max((symbol for symbol in series if series[symbol][0].taker_buy_base_volume is not None),
                             key=lambda symbol: len(series[symbol]))
        latency_bars = series[latency_symbol][: arguments.latency_bars]
        figures["latency"] = {"symbol": latency_symbol, **prediction_latency(report.model_directory, latency_bars)}

        step(f"hot-swap stall x {arguments.swaps}")
        figures["stall"] = asyncio.run(swap_stalls(directory / "models", report.version, arguments.swaps))
    return figures, failures


def print_report(figures: dict) -> None:
    setup, spark, pandas_, incremental = figures["setup"], figures["spark"], figures["pandas"], figures["incremental"]
    training, latency, stall, agreement = figures["training"], figures["latency"], figures["stall"], figures["agreement"]
    print("\nmachine")
    for name, value in figures["machine"].items():
        print(f"  {name:<10} {value}")
    print(f"\ndata: {len(figures['files'])} files, {len(setup['symbols'])} symbols ({', '.join(setup['symbols'])}), {setup['bars']:,} bars")
    print(f"setup (not in any ratio): CSV -> Kline {setup['csv_to_klines_seconds']:.1f} s, raw lake write {setup['raw_write_seconds']:.1f} s ({setup['raw_rows']:,} rows)")
    spark_rate = spark["rows_per_second"]
    rows = [
        ("FEATURES", "", ""),
        ("spark session start-up", f"{spark['session_start_seconds']:.1f} s", ""),
        ("spark job raw->clean->features", f"{spark['job_seconds']:.1f} s", f"{spark_rate:,.0f} rows/s ({spark['feature_rows']:,} rows, {spark['duplicates_dropped']} dups dropped, {spark['gaps']} gaps)"),
        ("pandas peer (1 process)", f"{pandas_['seconds']:.1f} s", f"{pandas_['rows_per_second']:,.0f} rows/s"),
        ("incremental FeatureSet", f"{incremental['seconds']:.1f} s", f"{incremental['rows_per_second']:,.0f} rows/s"),
        ("ratio spark job / pandas (time)", f"{ratio(spark['job_seconds'], pandas_['seconds']):.1f}x", "spark session start-up excluded"),
        ("ratio incremental / pandas (time)", f"{ratio(incremental['seconds'], pandas_['seconds']):.1f}x", ""),
        ("agreement spark vs pandas", f"{agreement['rows_compared']:,} rows", f"worst relative {agreement['spark_vs_pandas_worst_relative']:.1e} (tolerance {RELATIVE_TOLERANCE:.0e})"),
        ("agreement incremental vs pandas", "", f"worst relative {agreement['incremental_vs_pandas_worst_relative']:.1e} (reported, not asserted)"),
        ("TRAINING", "", ""),
        ("read training table", f"{training['read_table_seconds']:.1f} s", ""),
        ("train_and_publish (local, classifier)", f"{training['seconds']:.1f} s",
         f"{training['rows_per_second']:,.0f} rows/s ({training['rows_input']:,} rows in, {training['folds']} folds, last fold {training['rows_training']:,} training rows)"),
    ]
    if "training_spark" in figures:
        spark_training = figures["training_spark"]
        rows.append(("train_and_publish (spark engine)", f"{spark_training['seconds']:.1f} s",
                     f"{ratio(spark_training['seconds'], training['seconds']):.1f}x local"))
    rows += [
        ("PREDICTION", "", f"{latency['symbol']}, {latency['predictions']:,} predictions"),
        ("ml_signal on_bar p50 / p99", f"{latency['on_bar_p50_us']:.0f} / {latency['on_bar_p99_us']:.0f} us", "FeatureSet update + inplace_predict"),
        ("inplace_predict alone p50 / p99", f"{latency['inplace_p50_us']:.0f} / {latency['inplace_p99_us']:.0f} us", ""),
        ("peer DMatrix + predict p50 / p99", f"{latency['dmatrix_p50_us']:.0f} / {latency['dmatrix_p99_us']:.0f} us",
         f"ratio DMatrix / inplace p50 {ratio(latency['dmatrix_p50_us'], latency['inplace_p50_us']):.1f}x"),
        ("HOT SWAP", "", f"{stall['swaps']} swaps, load {stall['load_ms_median']:.1f} ms median"),
        ("loop stall, load off the loop", f"{stall['off_loop_worst_ms']:.2f} ms worst",
         (f"p99 {stall['off_loop_p99_ms']:.2f}, median {stall['off_loop_median_ms']:.2f} ms (target < {STALL_TARGET_MS:.0f} ms: "
          f"{'MET' if stall['off_loop_worst_ms'] < STALL_TARGET_MS else 'NOT MET'})")),
        ("idle ceiling (probe, no swap)", f"{stall['idle_worst_ms']:.2f} ms worst", f"p99 {stall['idle_p99_ms']:.2f} ms; off-loop / idle {ratio(stall['off_loop_worst_ms'], stall['idle_worst_ms']):.1f}x"),
        ("load ON the loop (blocking)", f"{stall['blocking_worst_ms']:.2f} ms worst",
         f"median {stall['blocking_median_ms']:.2f} ms; blocking / off-loop {ratio(stall['blocking_worst_ms'], stall['off_loop_worst_ms']):.1f}x"),
    ]
    width = max(len(name) for name, _, _ in rows)
    print()
    for name, value, note in rows:
        if not value and name.isupper():
            print(f"{name}  {note}".rstrip())
            continue
        print(f"  {name:<{width}}  {value:>16}  {note}".rstrip())


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIRECTORY,
                        help=f"directory of the *_1m_*.csv kline files (default {DEFAULT_DATA_DIRECTORY})")
    parser.add_argument("--quick", action="store_true", help=f"only {' and '.join(QUICK_FILES)}")
    parser.add_argument("--master", default=None, help="Spark master (default local[2])")
    parser.add_argument("--swaps", type=int, default=20, help="hot swaps to measure (default 20)")
    parser.add_argument("--latency-bars", type=int, default=20_000, help="bars fed to ml_signal for the latency (default 20000)")
    parser.add_argument("--spark-training", action="store_true", help="also train with the xgboost.spark engine")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the figures here as JSON")
    arguments = parser.parse_args(argv)
    if arguments.swaps < 1:
        parser.error("--swaps must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    import logging
    import warnings

    logging.basicConfig(level=logging.WARNING)
    # pyspark warns on every import that it "does not yet fully support pandas >= 3": noise here,
    # the agreement check below is what says whether the numbers are right.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\..*)?")
    started = time.perf_counter()
    figures, failures = run(arguments)
    figures["total_seconds"] = time.perf_counter() - started
    figures["failures"] = failures
    print_report(figures)
    print(f"\ntotal benchmark time {figures['total_seconds']:.0f} s")
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
        print(f"figures written to {arguments.json}")
    for failure in failures:
        print(f"!! {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
