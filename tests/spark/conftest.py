"""One SparkSession for every Spark test: starting the JVM is the slow part (seconds), the jobs
on a few thousand real bars are fast."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from spark_batch.session import build_session

    session = build_session(app_name="tradebot-tests")
    yield session
    session.stop()
