"""Every guard over the whole real BTCUSDT recording: it runs, and twice gives the same verdicts
byte for byte. Also: the guards package is pure (no I/O imports, no wall clock)."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
from guard_data import btc_recording_events

from bot.domain.trading import GuardLevel
from bot.guards import build_guards

GUARDS = Path(__file__).parents[2] / "bot/guards"


def verdict_sequence() -> bytes:
    guards = build_guards("BTCUSDT")
    verdicts = []
    events = btc_recording_events()
    for index, event in enumerate(events):
        for guard in guards:
            guard.observe(event)
        if index % 25 == 0 or index == len(events) - 1:
            verdicts.extend(guard.verdict(event.ts_init) for guard in guards)
    return msgspec.json.encode(verdicts)


def test_all_guards_over_the_whole_recording_are_deterministic() -> None:
    first, second = verdict_sequence(), verdict_sequence()
    assert first == second
    verdicts = msgspec.json.decode(first)
    assert len(btc_recording_events()) == 99_573
    assert len(verdicts) == 6 * (99_573 // 25 + 1 + 1)
    levels = {(verdict["guard"], verdict["level"]) for verdict in verdicts}
    # What the real data holds: the recorder's clock skew throughout, five brief spread blow-outs.
    assert ("data_quality", GuardLevel.MODERATE) in levels
    assert max(level for guard, level in levels if guard != "data_quality") <= GuardLevel.HIGH


def test_guards_package_is_pure() -> None:
    io_libraries = {"asyncio", "redis", "websockets", "aiohttp", "binance", "socket", "subprocess", "requests", "httpx", "urllib", "http"}
    clock_calls = {("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"), ("datetime", "now"), ("datetime", "utcnow")}
    for module in sorted(GUARDS.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {alias.name.split(".")[0] for alias in node.names} & io_libraries, module
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] not in io_libraries | {"time", "datetime"}, module
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in clock_calls, module
