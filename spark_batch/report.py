"""What a training run did, for the log, the alert and the operator: rows, folds, metrics beside
their baselines, the gate's decision, the stored version and how long each phase took."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from spark_batch.evaluation import FoldResult
from spark_batch.promotion import PromotionDecision


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


@dataclass
class TrainingReport:
    name: str
    kind: str
    engine: str
    symbols: tuple[str, ...]
    interval: str
    horizon: int
    threshold: float
    rows_input: int
    rows_usable: int  # every feature known and a label
    rows_training: int  # the candidate's training rows
    folds: list[FoldResult]
    recent_metrics: dict[str, float]  # the candidate on the most recent test window
    overall_metrics: dict[str, float]  # every fold's test rows pooled
    backtest_metrics: dict[str, float]
    decision: PromotionDecision
    primary_metric: str
    version: str
    model_directory: Path
    promoted: bool
    pruned: list[str]
    data_fingerprint: str
    durations: dict[str, float] = field(default_factory=dict)

    def _metric_line(self, metrics: dict[str, float]) -> str:
        if self.kind == "classifier":
            keys = ("log_loss", "log_loss_prior", "accuracy", "accuracy_always_flat", "precision_down", "precision_flat", "precision_up")
        else:
            keys = ("rmse", "rmse_zero", "rmse_last_value", "mae", "mae_zero", "mae_last_value")
        return ", ".join(f"{key} {metrics[key]:.6g}" if key in metrics else f"{key} n/a" for key in keys)

    def render(self) -> str:
        decision = self.decision
        lines = [
            (f"{self.name} {self.version} ({self.kind}, engine {self.engine}, {self.interval} bars, horizon {self.horizon}, "
             f"flat threshold {self.threshold:g}) on {', '.join(self.symbols)}"),
            f"rows: {self.rows_input} in, {self.rows_usable} with features and label, {self.rows_training} trained the candidate",
        ]
        for fold in self.folds:
            plan = fold.plan
            lines.append(
                f"fold {plan.index}: train {_iso(plan.train.start_ms)}..{_iso(plan.train.end_ms)} ({fold.train_rows} rows), "
                f"purge {plan.purge_bars} bars, test {_iso(plan.test.start_ms)}..{_iso(plan.test.end_ms)} "
                f"({fold.test_rows} rows): {self._metric_line(fold.metrics)}"
            )
        lines.append("walk-forward (all test rows): " + self._metric_line(self.overall_metrics))
        lines.append("candidate on the recent window: " + self._metric_line(self.recent_metrics))
        if self.backtest_metrics:
            lines.append("signal backtest: " + ", ".join(f"{key} {value:.6g}" for key, value in sorted(self.backtest_metrics.items())))
        lines.append(
            f"gate ({decision.metric}): candidate {_figure(decision.candidate_score)}, current {_figure(decision.current_score)}, "
            f"baseline {_figure(decision.baseline_score)} -> {'PROMOTED' if self.promoted else 'stored, not promoted'}: {decision.reason}"
        )
        if self.pruned:
            lines.append(f"pruned: {', '.join(self.pruned)}")
        lines.append("durations: " + ", ".join(f"{key} {value:.1f}s" for key, value in self.durations.items()))
        return "\n".join(lines)
