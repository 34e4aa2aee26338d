"""SIGTERM on `tradebot run`, as Docker sends it: exit 0 within the grace period, nothing lost.

The daemon runs as a subprocess with the shipped settings on the bundled real BTCUSDT recording
(replay exchange in-process, ingest, the paper-trading engine), against a real redis-server, and is
stopped mid-stream once it has traded. Then:
- every frame it counted as received (its final "ingest status" log line) is in the Redis streams;
- the engine committed everything it had read: no entry is left pending in its consumer group;
- a restart (engine only, over the record) continues from that ledger, and ends with exactly the
  ledger of an uninterrupted engine run over the same record: nothing lost, nothing doubled.
While it runs, a second daemon on the same namespace is refused and clears nothing.

The failure paths: Redis dead at shutdown (exit 3 within the grace period, the backlog logged),
and a second signal during that slow shutdown (exit 130 at once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis
from bot.shutdown import EXIT_INCOMPLETE, EXIT_SECOND_SIGNAL

ROOT = Path(__file__).parents[2]
NAMESPACE = "sigterm"
KEYS = RedisKeys(NAMESPACE)
GRACE_SECONDS = 10.0  # the shipped default (lifecycle.shutdown_grace_seconds)
# Python's start and the imports take a second or two before the daemon can handle a signal;
# time is measured from the signal, so only a little slack for process exit and reaping.
EXIT_SLACK_SECONDS = 0.5

pytestmark = pytest.mark.slow


def environment(redis_url: str, data_directory: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRADEBOT_CONFIG": str(ROOT / "config/tradebot.yaml"),
        "TRADEBOT_REDIS__URL": redis_url,
        "TRADEBOT_REDIS__NAMESPACE": NAMESPACE,
        "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        # 20x real time: the 11-minute recording lasts ~35 s, so the stop comes mid-stream.
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "20",
        "TRADEBOT_METRICS__ENABLED": "false",
        "TRADEBOT_LOGGING__FORMAT": "json",
        "TRADEBOT_LOGGING__LEVEL": "INFO",
        **extra,
    }


class DaemonProcess:
    """`tradebot run` as a child process, its log in a file (a pipe could fill and block it)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=log)

    def events(self) -> list[dict]:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def last(self, event: str) -> dict:
        found = [record for record in self.events() if record.get("event") == event]
        assert found, f"no {event!r} log line in {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
        return found[-1]

    def alive(self) -> None:
        assert self.process.poll() is None, self.log_path.read_text()[-3000:]

    def stop(self, signal_number: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal_number)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


def wait_for(condition, daemon: DaemonProcess, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        daemon.alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stream_lengths(client: redis.Redis) -> dict[str, int]:
    prefix = f"{NAMESPACE}:stream:"
    return {key.decode().removeprefix(prefix): client.xlen(key) for key in client.scan_iter(match=f"{prefix}*")}


def pending_entries(client: redis.Redis) -> dict[str, int]:
    return {key.decode(): client.xpending(key, "engine")["pending"] for key in client.scan_iter(match=f"{NAMESPACE}:stream:*")}


def announced_start(daemon: DaemonProcess) -> bool:
    """The daemon_started alert is logged once the daemon runs (signal handlers long installed)."""
    return any(record.get("event") == "alert" and record.get("kind") == "daemon_started" for record in daemon.events())


def caught_up(client: redis.Redis) -> bool:
    """Every record stream fully delivered to the engine group and acknowledged."""
    for key in client.scan_iter(match=f"{NAMESPACE}:stream:*"):
        last = client.xinfo_stream(key)["last-generated-id"]
        group = {group["name"]: group for group in client.xinfo_groups(key)}.get(b"engine")
        if group is None or group["pending"] or (client.xlen(key) and group["last-delivered-id"] != last):
            return False
    return True


def ledger(client: redis.Redis) -> dict[str, object]:
    return {
        "orders": client.hgetall(KEYS.orders()),
        "positions": client.hgetall(KEYS.positions()),
        "balances": client.hgetall(KEYS.balances()),
        "fills": [fields for _, fields in client.xrange(KEYS.fills())],
        "decisions": [fields for _, fields in client.xrange(KEYS.decisions())],
        "account": {k: v for k, v in client.hgetall(KEYS.account()).items() if k != b"ts"},
    }


def engine_to_the_end(redis_url: str, data_directory: Path, client: redis.Redis, log_path: Path) -> None:
    """An engine-only daemon over the record until it has handled all of it, then SIGTERM."""
    daemon = DaemonProcess(environment(redis_url, data_directory, TRADEBOT_INGEST__ENABLED="false"), log_path)
    # Started first: a stopped engine may have left the record fully read already, and a SIGTERM
    # sent before the process has its signal handlers would kill it instead of stopping it.
    wait_for(lambda: announced_start(daemon) and caught_up(client), daemon, 120, "the engine to reach the end of the record")
    code, seconds = daemon.stop()
    assert code == 0 and seconds <= GRACE_SECONDS + EXIT_SLACK_SECONDS, (code, seconds)


def wipe_engine_state(client: redis.Redis) -> None:
    for key in (KEYS.orders(), KEYS.positions(), KEYS.balances(), KEYS.fills(), KEYS.decisions(), KEYS.account(),
                KEYS.assessments(), KEYS.engine_snapshots(), KEYS.state_changes()):
        client.delete(key)
    for key in client.scan_iter(match=f"{NAMESPACE}:stream:*"):
        client.xgroup_destroy(key, "engine")


def test_sigterm_exits_0_within_the_grace_period_and_loses_nothing(redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    daemon = DaemonProcess(environment(redis_url, tmp_path / "run"), tmp_path / "run.log")
    try:
        # Mid-stream, once the engine has traded: at least one filled order in the ledger.
        wait_for(lambda: client.hlen(KEYS.orders()) >= 1, daemon, 90, "the engine's first order")
        holder = client.get(KEYS.daemon_lock("engine")).decode()
        assert holder.split(":")[1] == str(daemon.process.pid)
        assert client.get(KEYS.daemon_lock("ingest")).decode() == holder

        # A second daemon on the namespace is refused, naming the first, and clears nothing
        # (a replay start would otherwise wipe the namespace's replay record).
        trades_before = client.xlen(KEYS.stream("trade", "BTCUSDT"))
        second = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=environment(redis_url, tmp_path / "second"), check=False,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"another tradebot daemon runs the engine on Redis namespace '{NAMESPACE}'" in second.stderr
        assert f"pid {daemon.process.pid}, holding it since" in second.stderr and "runs out in" in second.stderr
        assert client.xlen(KEYS.stream("trade", "BTCUSDT")) >= trades_before > 0
        assert client.get(KEYS.daemon_lock("engine")).decode() == holder

        code, seconds = daemon.stop(signal.SIGTERM)
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    print(f"SIGTERM to exit: {seconds:.3f} s (grace period {GRACE_SECONDS:g} s), exit code {code}")
    assert code == 0, daemon.log_path.read_text()[-3000:]
    assert seconds <= GRACE_SECONDS
    stopped = daemon.last("daemon stopped")
    assert stopped["exit_code"] == 0 and stopped["shutdown_seconds"] <= GRACE_SECONDS

    # Every frame counted as received is in Redis: per stream, and in total.
    status = daemon.last("ingest status")
    lengths = stream_lengths(client)
    counted = status["messages_by_kind"]
    assert status["backlog"] == 0
    assert 0 < lengths["trade:BTCUSDT"] == counted["trade"] < 19_904  # stopped mid-stream
    assert lengths["bookTicker:BTCUSDT"] == counted["bookTicker"]
    # Depth diffs received before the book's first snapshot are not part of the record.
    assert 0 < lengths["depthUpdate:BTCUSDT"] <= counted["depthUpdate"]
    assert status["written_to_redis"] == sum(lengths.values()) + client.xlen(KEYS.gaps())
    print(f"received and recorded: {counted}; streams: {lengths}")

    # The engine committed what it read: nothing pending, its ledger and the lease released.
    assert set(pending_entries(client).values()) == {0}
    assert client.exists(KEYS.daemon_lock("engine"), KEYS.daemon_lock("ingest")) == 0
    at_stop = ledger(client)
    assert at_stop["orders"] and at_stop["fills"] and at_stop["decisions"]
    booked_orders = {json.loads(fields[b"fill"])["client_order_id"] for fields in at_stop["fills"]}
    assert booked_orders <= {key.decode() for key in at_stop["orders"]}

    # A restart continues from that ledger (the lease was released: it starts at once) ...
    engine_to_the_end(redis_url, tmp_path / "restart", client, tmp_path / "restart.log")
    continued = ledger(client)
    count = len(at_stop["decisions"])
    assert continued["decisions"][:count] == at_stop["decisions"] and len(continued["decisions"]) >= count
    assert continued["fills"][:len(at_stop["fills"])] == at_stop["fills"]
    # ... and ends where an uninterrupted engine run over the same record ends.
    wipe_engine_state(client)
    engine_to_the_end(redis_url, tmp_path / "reference", client, tmp_path / "reference.log")
    reference = ledger(client)
    client.close()
    for part in ("orders", "positions", "balances", "fills", "decisions", "account"):
        assert continued[part] == reference[part], part


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, so the test can make it die."""
    server = EmbeddedRedis(tmp_path / "own-redis").start()
    try:
        yield server
    finally:
        server.stop()


def ingesting_daemon(own_redis: EmbeddedRedis, tmp_path: Path) -> DaemonProcess:
    # Ingest only: the writer retries a dead Redis for ever, so the daemon is still running (with
    # a growing backlog) when the signal comes; the engine would stop with an error by itself.
    env = environment(own_redis.url, tmp_path / "data", TRADEBOT_ENGINE__ENABLED="false")
    daemon = DaemonProcess(env, tmp_path / "daemon.log")
    client = redis.Redis.from_url(own_redis.url)
    wait_for(lambda: client.xlen(KEYS.stream("trade", "BTCUSDT")) > 100, daemon, 60, "ingest to write trades")
    client.close()
    return daemon


def test_a_daemon_whose_redis_dies_still_exits_within_the_grace_period(own_redis, tmp_path):
    daemon = ingesting_daemon(own_redis, tmp_path)
    try:
        own_redis.terminate()
        own_redis._process.wait(timeout=10)
        time.sleep(0.3)  # market data keeps arriving: a backlog that cannot be flushed
        code, seconds = daemon.stop(signal.SIGTERM)
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    print(f"Redis dead: SIGTERM to exit {seconds:.3f} s, exit code {code}")
    assert code == EXIT_INCOMPLETE, daemon.log_path.read_text()[-3000:]
    assert seconds <= GRACE_SECONDS
    failed_flush = daemon.last("could not flush everything received to Redis in time; the backlog is lost")
    assert failed_flush["level"] == "error" and failed_flush["backlog"] > 0
    assert daemon.last("could not release the namespace lease; it runs out by itself")["level"] == "error"
    assert daemon.last("daemon stopped")["exit_code"] == EXIT_INCOMPLETE


def test_a_second_signal_during_a_slow_shutdown_exits_at_once(own_redis, tmp_path):
    daemon = ingesting_daemon(own_redis, tmp_path)
    try:
        own_redis.terminate()  # the flush will wait for Redis: a slow shutdown
        own_redis._process.wait(timeout=10)
        daemon.process.send_signal(signal.SIGTERM)
        wait_for(lambda: any(r.get("event") == "stopping: flushing what was received to Redis" for r in daemon.events()),
                 daemon, 10, "the shutdown to reach the flush")
        code, seconds = daemon.stop(signal.SIGINT)
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    print(f"second signal to exit: {seconds:.3f} s, exit code {code}")
    assert code == EXIT_SECOND_SIGNAL
    assert seconds <= 0.5
    second = daemon.last("exiting now: second signal, the shutdown is left unfinished")
    assert second["signal"] == "SIGINT" and second["exit_code"] == EXIT_SECOND_SIGNAL and second["level"] == "error"
