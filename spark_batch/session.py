"""The SparkSession of the batch jobs: local mode by default, the same job on a cluster by URL.

Local mode (`local[2]`) is tuned for a quick start and small data: few shuffle partitions, no UI,
quiet logs. Every session computes in UTC (dates of partitions and hours of features must not
depend on the machine's zone). On a cluster (`spark://host:port`, `k8s://...`, `yarn`) the
executors do not have this project installed, so its python packages are zipped and shipped with
`addPyFile`: the applyInPandas functions import `spark_batch` and `bot` on the workers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

from pyspark.sql import SparkSession

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PACKAGES = ("bot", "spark_batch", "strategies")
LOCAL_MASTER = "local[2]"

_COMMON_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    # Rebuild only the partitions a run writes; the rest of the layer stays as it is.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # Partition values stay text: `date=2025-09-22` must not become a DateType, nor a symbol
    # that looks like a number a number.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}

_LOCAL_SETTINGS = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # Small local jobs: broadcast and adaptive planning help little, start-up matters more.
    "spark.sql.adaptive.enabled": "false",
}


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def package_archive(directory: Path | None = None) -> Path:
    """A zip of the project's python sources (only .py files: the recordings stay home)."""
    target_directory = Path(directory or tempfile.mkdtemp(prefix="tradebot-pyfiles-"))
    archive = target_directory / "tradebot_packages.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for package in SHIPPED_PACKAGES:
            for source in sorted((PROJECT_ROOT / package).rglob("*.py")):
                bundle.write(source, source.relative_to(PROJECT_ROOT).as_posix())
    return archive


def build_session(master: str | None = None, app_name: str = "tradebot-batch", settings: dict[str, str] | None = None) -> SparkSession:
    """A session on `master` (default local[2]); `settings` override the defaults above.

    Under spark-submit (the driver then runs with PYSPARK_GATEWAY_PORT set) and no explicit
    `master`, the master given to spark-submit is used unchanged.
    """
    under_submit = master is None and "PYSPARK_GATEWAY_PORT" in os.environ
    resolved_master = None if under_submit else (master or LOCAL_MASTER)
    local = resolved_master is not None and is_local(resolved_master)
    builder = SparkSession.builder.appName(app_name)
    if resolved_master is not None:
        builder = builder.master(resolved_master)
    for key, value in {**_COMMON_SETTINGS, **(_LOCAL_SETTINGS if local else {}), **(settings or {})}.items():
        builder = builder.config(key, value)
    if resolved_master is not None and not local and any(host in resolved_master for host in ("//127.0.0.1:", "//localhost:")):
        # A cluster on loopback: its executors reach the driver on loopback too.
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    # Executors run python workers with the driver's PYSPARK_PYTHON. Unset, use this interpreter
    # (right for local mode and a cluster on this machine; a remote cluster's operator sets it to
    # the executors' own python, which needs the same packages).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if local:
        # The python workers must run this interpreter and import this checkout (not another
        # installed copy of the project), so the job runs the code next to it.
        python_path = os.pathsep.join(filter(None, (str(PROJECT_ROOT), os.environ.get("PYTHONPATH"))))
        builder = builder.config("spark.executorEnv.PYTHONPATH", python_path)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    if not is_local(session.sparkContext.master):
        session.sparkContext.addPyFile(str(package_archive()))
    return session
