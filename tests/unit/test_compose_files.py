"""docker-compose.yml resolved by the real Compose v2 binary, and .env.example checked against the settings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from container_support import (
    REPOSITORY,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    METRICS_PORT,
    SECRET_NAME,
    Stage,
    compose_config,
    exec_form,
)


# --- docker-compose.yml -----------------------------------------------------------------------


SERVICES = {"redis", "bot", "nightly", "prometheus", "grafana"}
SPARK_SERVICES = {"spark-master", "spark-worker"}
BOT_ENVIRONMENT = {"TRADEBOT_REDIS__URL": "redis://redis:6379/0", "TRADEBOT_NIGHTLY__ENABLED": "false"}


def test_compose_file_is_valid_without_an_env_file(compose_project: Path) -> None:
    resolved = compose_config(compose_project)
    assert set(resolved["services"]) == SERVICES
    assert resolved["services"]["bot"]["environment"] == BOT_ENVIRONMENT
    assert resolved["services"]["nightly"]["environment"] == {"TRADEBOT_REDIS__URL": "redis://redis:6379/0"}
    # No .env: Grafana's own default, which it makes the user change at the first login.
    assert resolved["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "admin"
    assert set(resolved["volumes"]) >= {"redis-data", "bot-data", "prometheus-data", "grafana-data"}


def test_compose_file_is_valid_with_the_spark_profile(compose_project: Path) -> None:
    resolved = compose_config(compose_project, "spark")
    assert set(resolved["services"]) == SERVICES | SPARK_SERVICES
    worker = resolved["services"]["spark-worker"]
    assert worker["depends_on"]["spark-master"]["condition"] == "service_healthy"


def test_compose_reads_an_env_file_made_from_the_example(compose_project: Path) -> None:
    shutil.copy(ENV_EXAMPLE, compose_project / ".env")
    resolved = compose_config(compose_project, "spark")
    for name in ("bot", "nightly"):
        assert resolved["services"][name]["environment"]["TRADEBOT_INGEST__SYMBOLS"] == '["BTCUSDT"]'
    # The compose file's own Redis wins over anything in .env, and the bot never runs the cron.
    (compose_project / ".env").write_text(
        "TRADEBOT_REDIS__URL=redis://elsewhere:6379/0\nTRADEBOT_NIGHTLY__ENABLED=true\n"
        "TRADEBOT_NIGHTLY__SPARK_MASTER=spark://spark-master:7077\nGF_SECURITY_ADMIN_PASSWORD=example-not-a-real-one\n",
        encoding="utf-8",
    )
    resolved = compose_config(compose_project, "spark")
    # (env_file passes the whole .env, Grafana's password too; tradebot reads only TRADEBOT_*.)
    assert resolved["services"]["bot"]["environment"] == BOT_ENVIRONMENT | {
        "TRADEBOT_NIGHTLY__SPARK_MASTER": "spark://spark-master:7077", "GF_SECURITY_ADMIN_PASSWORD": "example-not-a-real-one"}
    nightly = resolved["services"]["nightly"]["environment"]
    assert nightly["TRADEBOT_REDIS__URL"] == "redis://redis:6379/0"
    assert nightly["TRADEBOT_NIGHTLY__SPARK_MASTER"] == "spark://spark-master:7077"
    grafana = resolved["services"]["grafana"]["environment"]
    # Only its own password: the tradebot secrets in .env never reach the Grafana container.
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "example-not-a-real-one"
    assert not [key for key in grafana if key.startswith("TRADEBOT_")]
    assert not [key for key in resolved["services"]["prometheus"].get("environment", {}) if key.startswith("TRADEBOT_")]


def test_every_published_port_is_on_loopback(compose_project: Path) -> None:
    resolved = compose_config(compose_project, "spark")
    published = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port['published']} on every interface"
            published[name] = port["target"]
    assert published == {"bot": METRICS_PORT, "prometheus": 9090, "grafana": 3000, "spark-master": 8080}


def test_every_service_has_a_healthcheck(compose: dict, runtime: Stage) -> None:
    """Declared in the compose file, or the image's HEALTHCHECK (/healthz) for the tradebot commands
    that serve it."""
    assert "/healthz" in " ".join(exec_form(runtime.last("HEALTHCHECK"), prefix="CMD"))
    for name, service in compose["services"].items():
        healthcheck = service.get("healthcheck")
        if name in ("bot", "nightly"):
            assert healthcheck is None, f"{name} keeps the image's HEALTHCHECK"
            continue
        assert healthcheck and healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"


def test_compose_redis_service(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    command = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    [volume] = redis["volumes"]
    name, target = volume.split(":")[:2]
    assert target == "/data" and name in compose["volumes"]  # a named volume, not a host path
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])


def test_compose_bot_service(compose: dict) -> None:
    bot = compose["services"]["bot"]
    assert bot["build"] == "."
    assert bot["command"] == "run"
    assert bot["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert bot["environment"]["TRADEBOT_REDIS__URL"] == "redis://redis:6379/0"
    assert {"path": ".env", "required": False} in bot["env_file"]
    assert [port.split(":")[-1] for port in bot["ports"]] == [str(METRICS_PORT)]
    assert bot["restart"] == "unless-stopped"
    [volume] = bot["volumes"]
    name, target = volume.split(":")[:2]
    assert target == "/app/var" and name in compose["volumes"]
    # Paper/replay by default: nothing in the compose file picks a real venue.
    assert not [key for key in bot["environment"] if key.startswith("TRADEBOT_EXCHANGE__")]


def test_compose_nightly_service(compose: dict) -> None:
    bot, nightly = compose["services"]["bot"], compose["services"]["nightly"]
    assert nightly["command"] == "scheduler"
    assert (nightly["build"], nightly["image"]) == (bot["build"], bot["image"])
    assert nightly["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert {"path": ".env", "required": False} in nightly["env_file"]
    # The lake and the model registry are the bot's: the same volume at the same path.
    assert nightly["volumes"] == bot["volumes"]
    assert "ports" not in nightly  # scraped over the compose network only
    assert nightly["init"] is True and nightly["restart"] == "unless-stopped"


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and tag not in ("", "latest") and bool(re.search(r"\d", tag))


def test_compose_prometheus_service(compose: dict) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:") and _pinned(prometheus["image"])
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    storage = next(volume for volume in prometheus["volumes"] if volume.split(":")[1] == "/prometheus")
    assert storage.split(":")[0] in compose["volumes"]


def test_compose_grafana_service(compose: dict) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:") and _pinned(grafana["image"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    storage = next(volume for volume in grafana["volumes"] if volume.split(":")[1] == "/var/lib/grafana")
    assert storage.split(":")[0] in compose["volumes"]
    # The password comes from .env by interpolation, never from a value in the compose file.
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GF_SECURITY_ADMIN_PASSWORD")
    assert "env_file" not in grafana  # the tradebot secrets in .env stay out of this container


def test_compose_spark_services_run_the_clusters_daemons_from_the_projects_image(compose: dict) -> None:
    """The same daemons tests/spark_cluster.py starts (and the cluster test runs a job on), from
    the tradebot image: its pyspark is the driver's, and its Python has the packages the
    executors import."""
    bot = compose["services"]["bot"]
    cluster_support = (REPOSITORY / "tests" / "spark_cluster.py").read_text(encoding="utf-8")
    for name, daemon in (("spark-master", "org.apache.spark.deploy.master.Master"), ("spark-worker", "org.apache.spark.deploy.worker.Worker")):
        service = compose["services"][name]
        assert service["profiles"] == ["spark"]
        assert (service["build"], service["image"]) == (bot["build"], bot["image"])
        assert service["entrypoint"] == ["spark-class"] and service["command"][0] == daemon
        assert daemon in cluster_support and "spark-class" in cluster_support
    # The worker joins the master's URL, the one .env.example gives the nightly runner.
    master = compose["services"]["spark-master"]["command"]
    url = f"spark://{compose['services']['spark-master']['hostname']}:{master[master.index('--port') + 1]}"
    assert compose["services"]["spark-worker"]["command"][-1] == url
    assert f"TRADEBOT_NIGHTLY__SPARK_MASTER={url}" in ENV_EXAMPLE.read_text(encoding="utf-8")
    assert compose["services"]["spark-worker"]["volumes"] == bot["volumes"]  # the lake the executors read
    # spark-class comes from the pyspark wheel, on the image's PATH (/opt/venv/bin) as on this venv's.
    assert (Path(sys.executable).parent / "spark-class").is_file()


def test_compose_has_no_placeholder_services(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), f"service {name} runs nothing"


def test_the_compose_environment_and_the_example_env_are_valid_settings(compose: dict, runtime: Stage) -> None:
    """What the container's `tradebot` sees: the image's ENV, the .env made from the example, the
    compose environment on top; validated by the same loader as `tradebot config check`."""
    environ = {key: value for key, value in runtime.environment().items() if key.startswith("TRADEBOT_")}
    environ |= active_assignments(ENV_EXAMPLE)
    for name in ("bot", "nightly"):
        settings = load_settings(REPOSITORY / "config" / "tradebot.yaml", environ | compose["services"][name]["environment"])
        assert settings.exchange.venue == "replay" and settings.replay_exchange.enabled
        assert settings.redis.url == "redis://redis:6379/0"
        assert (settings.metrics.host, settings.metrics.port) == ("0.0.0.0", METRICS_PORT)
        assert settings.nightly.enabled is False  # the bot never schedules; the nightly service's scheduler does


# --- .env.example -------------------------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^(#\s*)?(TRADEBOT_[A-Z0-9_]+)=(.*)$")


def active_assignments(path: Path) -> dict[str, str]:
    return {match[2]: match[3] for line in path.read_text(encoding="utf-8").splitlines() if (match := _ASSIGNMENT.match(line)) and not match[1]}


def example_assignments(path: Path) -> list[tuple[str, str]]:
    """The commented-out `# TRADEBOT_X=value` examples."""
    return [(match[2], match[3]) for line in path.read_text(encoding="utf-8").splitlines() if (match := _ASSIGNMENT.match(line)) and match[1]]


def test_env_file_is_git_ignored_and_the_example_is_not() -> None:
    if shutil.which("git") is None or not (REPOSITORY / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "-C", str(REPOSITORY), "check-ignore", "-q", ".env"], check=False)
    assert ignored.returncode == 0, ".env must be in .gitignore"
    example = subprocess.run(["git", "-C", str(REPOSITORY), "check-ignore", "-q", ".env.example"], check=False)
    assert example.returncode == 1, ".env.example must stay under version control"


def test_env_example_documents_the_user_settings() -> None:
    names = set(active_assignments(ENV_EXAMPLE)) | {name for name, _ in example_assignments(ENV_EXAMPLE)}
    for wanted in ("TRADEBOT_EXCHANGE__VENUE", "TRADEBOT_INGEST__SYMBOLS", "TRADEBOT_EXCHANGE__API_KEY",
                   "TRADEBOT_EXCHANGE__API_SECRET", "TRADEBOT_EXCHANGE__API_KEY_FILE", "TRADEBOT_EXCHANGE__API_SECRET_FILE",
                   "TRADEBOT_API__TOKEN", "TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN", "TRADEBOT_NIGHTLY__SPARK_MASTER"):
        assert wanted in names
    # Grafana's admin password, a compose interpolation rather than a tradebot setting: commented,
    # an obvious placeholder.
    grafana = re.findall(r"^(#\s*)?GF_SECURITY_ADMIN_PASSWORD=(.*)$", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    assert grafana and all(comment and "replace" in value for comment, value in grafana)
    # The compose file sets the Redis URL; an active one in .env would only mislead.
    assert "TRADEBOT_REDIS__URL" not in active_assignments(ENV_EXAMPLE)
    for name, value in active_assignments(ENV_EXAMPLE).items():
        assert not SECRET_NAME.search(name.removeprefix("TRADEBOT_")), f"{name} is set in the example"
    for name, value in example_assignments(ENV_EXAMPLE):
        if SECRET_NAME.search(name.removeprefix("TRADEBOT_")) and not name.endswith("_FILE"):
            assert "replace" in value, f"{name} in the example must be an obvious placeholder"


_PARTNER = {"API_KEY": "API_SECRET", "API_SECRET": "API_KEY"}


@pytest.mark.parametrize(("name", "value"), example_assignments(ENV_EXAMPLE), ids=[name for name, _ in example_assignments(ENV_EXAMPLE)])
def test_every_example_in_env_example_is_accepted(name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting any example line gives a configuration `tradebot config check` accepts."""
    monkeypatch.chdir(REPOSITORY)  # as /app in the image: TRADEBOT_CONFIG=config/... is relative
    section = name.removeprefix("TRADEBOT_").split("__")[0].lower()
    if "__" in name and section not in Settings.model_fields:
        pytest.skip(f"settings section {section!r} is not in bot.config.Settings on this branch (issue 6 adds it)")
    environ = active_assignments(ENV_EXAMPLE) | {name: value}
    secret = re.fullmatch(r"TRADEBOT_EXCHANGE__(API_KEY|API_SECRET)(_FILE)?", name)
    if name.endswith("_FILE") and not secret:
        stand_in = tmp_path / Path(value).name
        stand_in.write_text("example-not-a-real-secret\n", encoding="utf-8")
        environ[name] = str(stand_in)
    if secret:
        partner = f"TRADEBOT_EXCHANGE__{_PARTNER[secret[1]]}{secret[2] or ''}"
        environ[partner] = dict(example_assignments(ENV_EXAMPLE))[partner]
        if secret[2]:  # the files named would be compose secrets under /run/secrets
            for variable in (name, partner):
                stand_in = tmp_path / Path(environ[variable]).name
                stand_in.write_text("example-not-a-real-secret\n", encoding="utf-8")
                environ[variable] = str(stand_in)
    load_settings(None, environ)
