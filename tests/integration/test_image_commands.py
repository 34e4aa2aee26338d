"""Every command the image runs (`tradebot run`, `tradebot scheduler`, the HEALTHCHECK), run here outside Docker the way the
image runs it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

from bot.http.server import HttpServer
from bot.ingest.metrics import IngestMetrics
from container_support import (
    REPOSITORY,
    Stage,
    exec_form,
    copy_sources,
    healthcheck_command,
)


# --- the image's commands, run outside Docker -----------------------------------------------------


async def test_the_healthcheck_command_passes_against_a_live_http_server(runtime: Stage) -> None:
    server = HttpServer(IngestMetrics().registry, "127.0.0.1", 0)
    await server.start()
    try:
        status, output = await _run(healthcheck_command(runtime), {"TRADEBOT_METRICS__PORT": str(server.port)})
        assert status == 0, output
    finally:
        await server.stop()
    # Nothing listening: unhealthy.
    status, _ = await _run(healthcheck_command(runtime), {"TRADEBOT_METRICS__PORT": str(free_port())})
    assert status != 0


async def _run(command: list[str], extra_environment: dict[str, str]) -> tuple[int, str]:
    # "python" is the venv's interpreter in the image; here, this one.
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TRADEBOT_")} | extra_environment
    process = await asyncio.create_subprocess_exec(*argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.fixture
def app_directory(tmp_path: Path, runtime: Stage) -> Path:
    """A stand-in for the image's /app: what the runtime stage copies there, nothing else."""
    app = tmp_path / "app"
    app.mkdir()
    for instruction in runtime.all("COPY"):
        sources, destination, options = copy_sources(instruction)
        if "from" in options:
            continue
        for source in sources:
            shutil.copytree(REPOSITORY / source, app / destination, dirs_exist_ok=True)
    return app


def _image_environment(runtime: Stage, compose: dict, **overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TRADEBOT_")}
    image = runtime.environment()
    # /opt/venv/bin in the image; the venv running these tests here.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment |= {key: value for key, value in image.items() if key != "PATH"}
    environment |= compose["services"]["bot"]["environment"]
    # The checkout under test, not whichever copy of the project the venv installed (an editable
    # install may point at another worktree); the image installs this checkout.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPOSITORY), environment.get("PYTHONPATH"))))
    environment |= overrides
    return environment


def _healthy(command: list[str], environment: dict[str, str]) -> bool:
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    return subprocess.run(argv, env=environment, capture_output=True, timeout=10, check=False).returncode == 0


def _trades_counted(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'^tradebot_ingest_messages_total\{kind="trade"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def daemon_process(app_directory: Path, runtime: Stage, compose: dict, redis_url: str) -> Iterator[tuple[subprocess.Popen, dict[str, str], Path]]:
    """`tradebot run` (ENTRYPOINT + CMD) started as the compose service starts it, with the test's
    Redis in place of the compose `redis` service."""
    port = free_port()
    environment = _image_environment(runtime, compose, TRADEBOT_REDIS__URL=redis_url, TRADEBOT_METRICS__PORT=str(port))
    command = exec_form(runtime.last("ENTRYPOINT")) + exec_form(runtime.last("CMD"))
    executable = shutil.which(command[0], path=environment["PATH"])
    assert executable, f"{command[0]} is not on the image's PATH"
    log_path = app_directory / "daemon.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([executable, *command[1:]], cwd=app_directory, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, environment, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_tradebot_run_as_the_image_runs_it_gets_healthy_ingests_and_stops_cleanly(daemon_process: tuple[subprocess.Popen, dict[str, str], Path], runtime: Stage) -> None:
    process, environment, log_path = daemon_process
    port = int(environment["TRADEBOT_METRICS__PORT"])
    deadline = time.monotonic() + 60
    while not _healthy(healthcheck_command(runtime), environment):
        assert process.poll() is None, f"tradebot run exited early:\n{log_path.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"never healthy:\n{log_path.read_text(errors='replace')}"
        time.sleep(0.5)
    # The bundled recording (package data) is replayed and ingested.
    while _trades_counted(port) == 0:
        assert time.monotonic() < deadline, f"no trades ingested:\n{log_path.read_text(errors='replace')}"
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)  # `docker stop`
    assert process.wait(30) == 0, log_path.read_text(errors="replace")
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    assert "0.0.0.0" in log  # the metrics endpoint listened on every interface, as in the image


def _cron_half_a_year_away() -> str:
    """A nightly.cron whose next run is months away, so no pipeline run starts during the test."""
    month = (datetime.now(UTC).month + 5) % 12 + 1
    return f"0 3 1 {month} *"


def _metric_value(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_tradebot_scheduler_as_the_nightly_service_runs_it_serves_health_and_metrics_and_stops_cleanly(
    app_directory: Path, runtime: Stage, compose: dict, redis_url: str,
) -> None:
    """The compose `nightly` service: ENTRYPOINT + its command, its environment, the image's
    HEALTHCHECK. A failed night recorded in Redis before it starts shows on /metrics at once
    (what the TradebotNightlyFailed rule watches), and SIGTERM exits 0."""
    import redis as redis_sync

    from bot.bus.redis_keys import RedisKeys
    from bot.config import load_settings
    from bot.nightly.report import NightlyReport, encode_report

    service = compose["services"]["nightly"]
    port = free_port()
    environment = _image_environment(runtime, compose, TRADEBOT_REDIS__URL=redis_url, TRADEBOT_METRICS__PORT=str(port),
                                     TRADEBOT_NIGHTLY__CRON=_cron_half_a_year_away())
    environment |= service["environment"] | {"TRADEBOT_REDIS__URL": redis_url}
    namespace = load_settings(app_directory / "config" / "tradebot.yaml", {}).redis.namespace
    failed = NightlyReport(status="failed", started_at_ns=1_700_000_000_000_000_000, finished_at_ns=1_700_000_060_000_000_000,
                           error="constructed failure for the test")
    with redis_sync.Redis.from_url(redis_url) as client:
        client.hset(RedisKeys(namespace).nightly_last_run(), mapping={"report": encode_report(failed)})

    command = exec_form(runtime.last("ENTRYPOINT")) + [service["command"]]
    executable = shutil.which(command[0], path=environment["PATH"])
    assert executable
    log_path = app_directory / "scheduler.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([executable, *command[1:]], cwd=app_directory, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(healthcheck_command(runtime), environment):
            assert process.poll() is None, f"tradebot scheduler exited early:\n{log_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"never healthy:\n{log_path.read_text(errors='replace')}"
            time.sleep(0.5)
        assert _metric_value(port, "tradebot_nightly_last_run_success") == 0.0
        assert _metric_value(port, "tradebot_nightly_last_run_timestamp_seconds") == 1_700_000_060.0
        process.send_signal(signal.SIGTERM)  # `docker stop`
        assert process.wait(30) == 0, log_path.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    assert "nightly pipeline scheduled" in log and "0.0.0.0" in log
    assert "nightly run finished" not in log  # the cron is months away: no run started
