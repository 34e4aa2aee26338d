"""Counters tests read to check what a client did to the replay exchange and what it was sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExchangeCounters:
    frames_sent_by_stream: Counter[str] = field(default_factory=Counter)
    connections_accepted: int = 0
    connections_closed: int = 0
    # By how: "abrupt", "clean", "server_shutdown".
    connections_dropped_by_fault: Counter[str] = field(default_factory=Counter)
    # Binance disconnects a connection that sends more than 5 messages a second ...
    control_message_limit_violations: int = 0
    # ... or listens to more than 1024 streams.
    stream_limit_violations: int = 0
    control_messages_received: int = 0
    control_message_errors: int = 0
    pong_timeouts: int = 0
    slow_consumer_disconnects: int = 0
    malformed_frames_sent: int = 0
    # Frames a stall or skip-ids fault kept from connections that were subscribed.
    frames_withheld_by_fault: Counter[str] = field(default_factory=Counter)
    rest_requests_by_path: Counter[str] = field(default_factory=Counter)
    rest_rate_limited: int = 0
    rest_errors: int = 0

    @property
    def frames_sent(self) -> int:
        return sum(self.frames_sent_by_stream.values())

    @property
    def drops_by_fault(self) -> int:
        return sum(self.connections_dropped_by_fault.values())

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in vars(self).items():
            values[name] = dict(value) if isinstance(value, Counter) else value
        values["frames_sent"] = self.frames_sent
        return values
