"""What one nightly run did: written by the pipeline process, read by whoever started it."""

from __future__ import annotations

from typing import Literal

import msgspec

RunStatus = Literal["ok", "failed", "timeout"]


class NightlyReport(msgspec.Struct, kw_only=True):
    status: RunStatus
    started_at_ns: int
    finished_at_ns: int
    # Seconds per stage, in the order run: archive, clean, features, train, publish.
    stages: dict[str, float] = {}
    # Rows per stage: archived entries, raw rows read, clean rows, feature rows, training rows.
    rows: dict[str, int] = {}
    model_name: str = ""
    model_version: str = ""  # the version trained tonight ("" when none was stored)
    promoted: bool = False
    decision: str = ""  # why it was or was not promoted
    metrics: dict[str, float] = {}
    # The version the daemon should trade on after this run (CURRENT), and when its data ends.
    current_version: str = ""
    current_trained_until_ms: int = 0
    error: str = ""
    summary: str = ""  # the human-readable report

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at_ns - self.started_at_ns) / 1e9

    @property
    def rows_processed(self) -> int:
        return sum(self.rows.values())


def encode_report(report: NightlyReport) -> bytes:
    return msgspec.json.encode(report)


def decode_report(data: bytes) -> NightlyReport:
    return msgspec.json.decode(data, type=NightlyReport)
