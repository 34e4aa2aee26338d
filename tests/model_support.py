"""Small REAL XGBoost models for the hot-load tests, trained on real bars.

Features: the daemon's own FeatureSet over real BTCUSDT 1m klines (2025-09-22..25, bundled in
bot/sim/recordings). Labels: the 10-bar forward return of each bar's close, as a regression
target and as three classes (down / flat / up beyond +/-0.1 %), as the nightly pipeline labels
them. Few trees, one thread, a fixed seed: the same bytes on every run.
"""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec
import numpy
import xgboost

from bot.backtest.data import DataSpec, load_market_data
from bot.domain.events import Kline
from bot.features.spec import FEATURE_SPEC, FeatureSet
from bot.models.manifest import LabelDefinition, ModelManifest, TimeWindow, sha256_of
from bot.models.registry import ModelRegistry

RECORDING = Path(__file__).resolve().parents[1] / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
HORIZON_BARS = 10
FLAT_THRESHOLD = 0.001
MILLISECONDS = 1_000_000  # nanoseconds per millisecond


@functools.lru_cache(maxsize=1)
def bars() -> tuple[Kline, ...]:
    events = load_market_data([DataSpec(RECORDING)]).events
    return tuple(event for event in events if isinstance(event, Kline))


@functools.lru_cache(maxsize=1)
def feature_table() -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """(open times in ms, features (bars x spec names, NaN where not known), closes)."""
    features = FeatureSet(FEATURE_SPEC)
    rows = []
    for bar in bars():
        values = features.update(bar)
        rows.append([numpy.nan if values[name] is None else values[name] for name in FEATURE_SPEC.names])
    open_times = numpy.array([bar.open_time // MILLISECONDS for bar in bars()], dtype=numpy.int64)
    closes = numpy.array([float(bar.close) for bar in bars()])
    return open_times, numpy.array(rows, dtype=numpy.float64), closes


def forward_returns() -> numpy.ndarray:
    """close[t + H] / close[t] - 1; NaN for the last H bars."""
    _, _, closes = feature_table()
    returns = numpy.full(len(closes), numpy.nan)
    returns[:-HORIZON_BARS] = closes[HORIZON_BARS:] / closes[:-HORIZON_BARS] - 1
    return returns


def training_rows(end: int) -> numpy.ndarray:
    """Indexes of bars before `end` with every feature known and a label."""
    _, features, _ = feature_table()
    returns = forward_returns()
    usable = ~numpy.isnan(features).any(axis=1) & ~numpy.isnan(returns)
    return numpy.flatnonzero(usable[:end]) if end else numpy.flatnonzero(usable)


def train(kind: str, end: int, rounds: int = 12, depth: int = 3, columns: tuple[int, ...] | None = None) -> bytes:
    """A booster in XGBoost's UBJSON format trained on bars [0, end)."""
    _, features, _ = feature_table()
    rows = training_rows(end)
    matrix = features[rows] if columns is None else features[rows][:, list(columns)]
    returns = forward_returns()[rows]
    if kind == "classifier":
        labels = numpy.where(returns > FLAT_THRESHOLD, 2, numpy.where(returns < -FLAT_THRESHOLD, 0, 1))
        parameters = {"objective": "multi:softprob", "num_class": 3}
    else:
        labels = returns
        parameters = {"objective": "reg:squarederror"}
    parameters |= {"max_depth": depth, "eta": 0.3, "nthread": 1, "seed": 0, "tree_method": "hist"}
    booster = xgboost.train(parameters, xgboost.DMatrix(matrix, label=labels), num_boost_round=rounds)
    return bytes(booster.save_raw("ubj"))


def manifest_for(name: str, version: str, kind: str, model_bytes: bytes, end: int, **changes) -> ModelManifest:
    open_times, _, _ = feature_table()
    last_labelled = int(open_times[training_rows(end)[-1]])
    manifest = ModelManifest(
        name=name, version=version, kind=kind, created_at_ns=1_758_800_000_000_000_000,
        feature_names=FEATURE_SPEC.names, feature_spec_version=FEATURE_SPEC.version,
        feature_spec_fingerprint=FEATURE_SPEC.fingerprint,
        label=LabelDefinition(
            horizon_bars=HORIZON_BARS, interval="1m",
            kind="direction_3class" if kind == "classifier" else "forward_return", flat_threshold=FLAT_THRESHOLD,
        ),
        training_window=TimeWindow(start_ms=int(open_times[0]), end_ms=last_labelled),
        test_window=TimeWindow(start_ms=last_labelled + 60_000, end_ms=int(open_times[-1])),
        symbols=("BTCUSDT",), data_fingerprint=sha256_of(feature_table()[1][:end].tobytes()),
        metrics={}, library_versions={"xgboost": xgboost.__version__}, model_sha256=sha256_of(model_bytes),
    )
    return msgspec.structs.replace(manifest, **changes) if changes else manifest


def store(registry: ModelRegistry, name: str, version: str, kind: str, model_bytes: bytes, end: int, **changes) -> ModelManifest:
    manifest = manifest_for(name, version, kind, model_bytes, end, **changes)
    registry.store(manifest, model_bytes)
    return manifest
