"""docker-compose.yml resolved by the real Compose v2 binary, and .env.example checked against the settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.config import load_settings
from container_support import (
    REPOSITORY,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    METRICS_PORT,
    SECRET_NAME,
    Stage,
    compose_config,
)


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_file_is_valid_without_an_env_file(compose_project: Path) -> None:
    resolved = compose_config(compose_project)
    assert set(resolved["services"]) == {"redis", "bot"}
    assert resolved["services"]["bot"]["environment"] == {"TRADEBOT_REDIS__URL": "redis://redis:6379/0"}


def test_compose_reads_an_env_file_made_from_the_example(compose_project: Path) -> None:
    shutil.copy(ENV_EXAMPLE, compose_project / ".env")
    environment = compose_config(compose_project)["services"]["bot"]["environment"]
    assert environment["TRADEBOT_INGEST__SYMBOLS"] == '["BTCUSDT"]'
    # The compose file's own Redis wins over anything in .env.
    (compose_project / ".env").write_text("TRADEBOT_REDIS__URL=redis://elsewhere:6379/0\n", encoding="utf-8")
    environment = compose_config(compose_project)["services"]["bot"]["environment"]
    assert environment["TRADEBOT_REDIS__URL"] == "redis://redis:6379/0"


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


def test_compose_has_no_placeholder_services(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), f"service {name} runs nothing"
    comments = COMPOSE_FILE.read_text(encoding="utf-8").lower()
    assert "prometheus" in comments and "grafana" in comments and "spark" in comments


def test_the_compose_environment_and_the_example_env_are_valid_settings(compose: dict, runtime: Stage) -> None:
    """What the container's `tradebot` sees: the image's ENV, the .env made from the example, the
    compose environment on top; validated by the same loader as `tradebot config check`."""
    environ = {key: value for key, value in runtime.environment().items() if key.startswith("TRADEBOT_")}
    environ |= active_assignments(ENV_EXAMPLE)
    environ |= compose["services"]["bot"]["environment"]
    settings = load_settings(REPOSITORY / "config" / "tradebot.yaml", environ)
    assert settings.exchange.venue == "replay" and settings.replay_exchange.enabled
    assert settings.redis.url == "redis://redis:6379/0"
    assert (settings.metrics.host, settings.metrics.port) == ("0.0.0.0", METRICS_PORT)


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
                   "TRADEBOT_EXCHANGE__API_SECRET", "TRADEBOT_EXCHANGE__API_KEY_FILE", "TRADEBOT_EXCHANGE__API_SECRET_FILE"):
        assert wanted in names
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
    environ = active_assignments(ENV_EXAMPLE) | {name: value}
    secret = re.fullmatch(r"TRADEBOT_EXCHANGE__(API_KEY|API_SECRET)(_FILE)?", name)
    if secret:
        partner = f"TRADEBOT_EXCHANGE__{_PARTNER[secret[1]]}{secret[2] or ''}"
        environ[partner] = dict(example_assignments(ENV_EXAMPLE))[partner]
        if secret[2]:  # the files named would be compose secrets under /run/secrets
            for variable in (name, partner):
                stand_in = tmp_path / Path(environ[variable]).name
                stand_in.write_text("example-not-a-real-secret\n", encoding="utf-8")
                environ[variable] = str(stand_in)
    load_settings(None, environ)
