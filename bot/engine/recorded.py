"""Typed events straight from a recorded websocket file, in the order they were received.

For benchmarks and tests that drive the engine without ingest and Redis (and, later, in-process
backtests over recorded JSONL). Each line is `{"recv_time_ns": .., "msg": <frame>}` as the
bundled recordings store it; the recorder's REST depth snapshot (the object with
`lastUpdateId`) becomes a `DepthSnapshot`, which is what ingest records when its book syncs.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import msgspec

from bot.domain.events import DepthSnapshot, MarketEvent, StreamMessage
from bot.ingest.wire import FrameDecoder


class _Line(msgspec.Struct):
    recv_time_ns: int
    msg: msgspec.Raw


class _Snapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


def recorded_events(path: Path, symbol: str = "BTCUSDT") -> list[MarketEvent]:
    """Every market event of a recorded websocket file; `symbol` names the snapshot's book (the
    REST answer does not say)."""
    decoder = FrameDecoder()
    line_decoder = msgspec.json.Decoder(_Line)
    snapshot_decoder = msgspec.json.Decoder(_Snapshot)
    opener = gzip.open if path.suffix == ".gz" else open
    events: list[MarketEvent] = []
    with opener(path, "rb") as lines:
        for raw in lines:
            line = line_decoder.decode(raw)
            frame = bytes(line.msg)
            if b'"lastUpdateId"' in frame[:40]:
                snapshot = snapshot_decoder.decode(frame)
                events.append(DepthSnapshot(
                    symbol=symbol, ts_event=line.recv_time_ns, ts_init=line.recv_time_ns,
                    last_update_id=snapshot.lastUpdateId, bids=tuple(snapshot.bids), asks=tuple(snapshot.asks),
                ))
                continue
            decoded = decoder.decode(frame, line.recv_time_ns)
            if isinstance(decoded, StreamMessage):
                events.append(decoded.event)
    return events
