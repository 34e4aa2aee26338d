"""Faults the replay exchange injects on demand: stalled streams, skipped trade ids, malformed
frames and scheduled connection drops. Connection-level actions live in the stream server; this
module holds what is pending and builds the malformed payloads.

A malformed frame is derived from the real frame it is inserted before (cut short, or one field
removed, retyped or its event type renamed), so it looks like a damaged copy of real data; by
default the real frame still follows it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import msgspec

from bot.sim.records import combined_frame

MALFORMED_KINDS = ("truncated_json", "unknown_event", "missing_field", "wrong_type")
DROP_MODES = ("abrupt", "clean")

# Fields removed / retyped, in order of preference, so each stream kind loses something it needs.
_REQUIRED_FIELDS = ("p", "u", "b", "k", "E", "s")
_INTEGER_FIELDS = ("t", "a", "u", "E")


@dataclass(frozen=True)
class InjectedFrame:
    """A frame that is not on the timeline: malformed copies and serverShutdown."""

    combined: bytes
    raw: bytes
    stream: str | None


@dataclass(frozen=True)
class CloseAfterFlush:
    """Queued behind pending frames: close the connection once they are written."""

    code: int
    reason: str
    fault: str


@dataclass
class ScheduledDrop:
    at_frames_sent: int
    mode: str
    outage_ns: int


@dataclass
class FaultState:
    # stream -> timeline time (ns) the stall ends, None: until released.
    stalled: dict[str, int | None] = field(default_factory=dict)
    skipped_ids: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # stream (None: whichever subscribed stream comes next) -> [(kind, replace)]
    malformed: dict[str | None, deque[tuple[str, bool]]] = field(default_factory=dict)
    scheduled_drops: list[ScheduledDrop] = field(default_factory=list)

    @property
    def affects_dispatch(self) -> bool:
        return bool(self.stalled or self.skipped_ids or self.malformed)

    def withhold(self, stream: str, item_id: int, time_ns: int) -> bool:
        """Whether the event must not reach websocket subscribers (it stays on the REST side)."""
        if stream in self.stalled:
            until = self.stalled[stream]
            if until is None or time_ns < until:
                return True
            del self.stalled[stream]
        ranges = self.skipped_ids.get(stream)
        if ranges and item_id >= 0:
            return any(first <= item_id <= last for first, last in ranges)
        return False

    def take_malformed(self, stream: str) -> tuple[str, bool] | None:
        for key in (stream, None):
            pending = self.malformed.get(key)
            if pending:
                item = pending.popleft()
                if not pending:
                    del self.malformed[key]
                return item
        return None

    def add_malformed(self, kind: str, stream: str | None, replace: bool) -> None:
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed frame kind {kind!r}; one of {', '.join(MALFORMED_KINDS)}")
        self.malformed.setdefault(stream, deque()).append((kind, replace))

    def next_drop_at(self) -> int | None:
        return self.scheduled_drops[0].at_frames_sent if self.scheduled_drops else None


def malformed_frame(kind: str, stream: str, frame: bytes, data_offset: int) -> InjectedFrame:
    data = frame[data_offset:-1]
    if kind == "truncated_json":
        return InjectedFrame(frame[: len(frame) // 2], data[: len(data) // 2], stream)
    payload = msgspec.json.decode(data)
    if not isinstance(payload, dict):
        # Only object payloads can lose or retype a field; a cut-short copy is still malformed.
        return InjectedFrame(frame[: len(frame) // 2], data[: len(data) // 2], stream)
    if kind == "unknown_event":
        payload.pop("e", None)
        payload = {"e": "simUnknownEvent", **payload}
    elif kind == "missing_field":
        name = next((name for name in _REQUIRED_FIELDS if name in payload), None)
        if name is not None:
            del payload[name]
    elif kind == "wrong_type":
        name = next((name for name in _INTEGER_FIELDS if isinstance(payload.get(name), int)), None)
        if name is not None:
            payload[name] = str(payload[name])
    else:
        raise ValueError(f"unknown malformed frame kind {kind!r}")
    raw = msgspec.json.encode(payload)
    return InjectedFrame(combined_frame(stream, raw)[0], raw, stream)


def server_shutdown_frame(event_time_ms: int) -> InjectedFrame:
    # Not a stream event: Binance sends it bare on both raw and combined connections.
    body = f'{{"e":"serverShutdown","E":{event_time_ms}}}'.encode()
    return InjectedFrame(body, body, None)
