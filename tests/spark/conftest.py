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


# PySpark 4.3 warns that it does not fully support pandas 3 on every Arrow conversion; the
# parity tests below are what checks the conversions, so the repeated notice is noise here.
_PYSPARK_PANDAS_NOTICES = (
    "ignore:PySpark does not yet fully support pandas:FutureWarning",
    "ignore:The copy keyword is deprecated:DeprecationWarning",
    "ignore:The copy keyword is deprecated",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            for notice in _PYSPARK_PANDAS_NOTICES:
                item.add_marker(pytest.mark.filterwarnings(notice))
