"""Settings of the replay exchange, validated once when built."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bot.sim.source import RecordingSpec


@dataclass(frozen=True)
class ReplaySettings:
    """How to run the replay exchange.

    speed: 1.0 is real time, 10.0 ten times faster, None (or "max") as fast as the slowest
        subscribed connection reads.
    ping_interval_s / pong_timeout_s: Binance pings every 20 s and drops a connection that has not
        answered within a minute.
    close_timeout_s: how long a closing handshake may take before the TCP connection is cut (a
        client that stopped reading never answers the close frame).
    weight_limit_per_minute: REST request weight allowed per minute before HTTP 429.
    loop: start the timeline again when it ends (for soak runs; ids and times then repeat).
    max_gap_s: in paced mode, a quiet stretch of the timeline longer than this is shortened to it
        (recordings from different days would otherwise wait out the days). None keeps all gaps.
    send_buffer_frames: frames one connection may have queued before a max-speed replay waits for
        it. In paced mode a connection that falls max_backlog_frames behind is disconnected, as
        Binance drops slow consumers.
    direct_frame_writes: write pre-built websocket frames to the socket in batches (fast path);
        False sends each frame through websockets' public send().
    """

    recordings: tuple[RecordingSpec, ...]
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    speed: float | None = None
    ping_interval_s: float | None = 20.0
    pong_timeout_s: float | None = 60.0
    close_timeout_s: float = 5.0
    weight_limit_per_minute: int = 6000
    loop: bool = False
    max_gap_s: float | None = None
    control_messages_per_second: int = 5
    max_streams_per_connection: int = 1024
    send_buffer_frames: int = 512
    max_backlog_frames: int = 100_000
    direct_frame_writes: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "recordings", tuple(RecordingSpec.of(item) for item in self.recordings)
        )
        speed: Any = self.speed
        if isinstance(speed, str):
            if speed.strip().lower() != "max":
                raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
            object.__setattr__(self, "speed", None)
        elif speed is not None and not speed > 0:
            raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
        for name in ("ws_port", "rest_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be 0..65535 (0 picks a free port), got {port}")
        positive = (
            "weight_limit_per_minute",
            "control_messages_per_second",
            "max_streams_per_connection",
            "send_buffer_frames",
            "max_backlog_frames",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.close_timeout_s > 0:
            raise ValueError(f"close_timeout_s must be positive, got {self.close_timeout_s}")
        for name in ("ping_interval_s", "pong_timeout_s", "max_gap_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ReplaySettings:
        """Build from plain config values; an unknown key is an error that names the key."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown replay exchange setting(s): {', '.join(unknown)}")
        converted = dict(values)
        converted["recordings"] = tuple(
            RecordingSpec(Path(item["path"]), item.get("symbol"), item.get("interval"))
            if isinstance(item, dict)
            else RecordingSpec.of(item)
            for item in values.get("recordings", ())
        )
        return cls(**converted)
