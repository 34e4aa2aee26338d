"""A real Spark standalone cluster (one master, one worker) on loopback, for the test that proves
the nightly job runs unchanged on a cluster.

The master and the worker are the stock Spark daemons from the pyspark wheel, started with
`bin/spark-class`, exactly as an operator would start them; only the ports are private. Workers
run Python with this interpreter, so the project's packages (installed in the venv) import on the
executors just as they would from --py-files on a real cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyspark

from helpers import free_port

START_TIMEOUT_SECONDS = 120.0


def spark_home() -> Path:
    return Path(pyspark.__file__).parent


def _environment(work: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        SPARK_HOME=str(spark_home()),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOG_DIR=str(work / "logs"),
        SPARK_LOCAL_IP="127.0.0.1",
        # The daemons' own JVM heap: small, the worker's executors get their memory separately.
        SPARK_DAEMON_MEMORY="256m",
    )
    return environment


def _start(arguments: list[str], log: Path, environment: dict[str, str]) -> subprocess.Popen:
    command = [str(spark_home() / "bin" / "spark-class"), *arguments]
    with open(log, "wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True)


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            state = json.load(response)
    except (OSError, ValueError):  # not up yet, or a page that is not the master's JSON yet
        return 0
    return int(state.get("aliveworkers", 0))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def standalone_cluster(work: Path, cores: int = 1, memory: str = "1g") -> Iterator[str]:
    """Start a master and one worker; yield the master URL (`spark://127.0.0.1:<port>`)."""
    work.mkdir(parents=True, exist_ok=True)
    environment = _environment(work)
    ports: list[int] = []
    while len(ports) < 3:  # three distinct ports: two daemons must never be told the same one
        if (candidate := free_port()) not in ports:
            ports.append(candidate)
    port, ui_port, worker_ui_port = ports
    master_url = f"spark://127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui_port)], work / "master.log", environment))
        processes.append(_start(
            ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
             "--memory", memory, "--webui-port", str(worker_ui_port), "--work-dir", str(work / "worker"),
             master_url], work / "worker.log", environment))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while _alive_workers(ui_port) < 1:
            for process, log in zip(processes, ("master.log", "worker.log")):
                if process.poll() is not None:
                    raise RuntimeError(f"Spark {log[:-4]} exited: {(work / log).read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Spark worker registered within {START_TIMEOUT_SECONDS:.0f} s (logs in {work})")
            time.sleep(0.5)
        yield master_url
    finally:
        for process in reversed(processes):
            _stop(process)
