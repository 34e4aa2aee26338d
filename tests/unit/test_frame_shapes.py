"""bot.ingest.shapes: a frame's digit-free skeleton vouches for its numerals only in Binance's exact
shape; every recorded frame has that shape, and no frame with a bad numeral does."""

from __future__ import annotations

import msgspec
import pytest

from bot.config.sections import DEFAULT_RECORDING
from bot.ingest.shapes import in_known_shape, known_shapes
from bot.sim.timeline import load_timeline

KINDS = {"btcusdt@trade": "trade", "btcusdt@bookTicker": "bookTicker", "btcusdt@depth@100ms": "depthUpdate"}


def test_every_recorded_frame_is_in_its_stream_s_known_shape():
    timeline = load_timeline([DEFAULT_RECORDING])
    seen = dict.fromkeys(KINDS, 0)
    for frame in timeline.frames:
        stream = msgspec.json.decode(frame)["stream"] if frame.startswith(b'{"stream"') else None
        if stream in KINDS:
            assert in_known_shape(frame, *known_shapes(stream, KINDS[stream])), frame[:200]
            seen[stream] += 1
    assert seen == {"btcusdt@trade": 19_904, "btcusdt@bookTicker": 73_174, "btcusdt@depth@100ms": 6_495}


BOOK_TICKER = b'{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
DEPTH = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}'


@pytest.mark.parametrize("bad", ["-1.0", "1e5", "1..2", "1.2.3", "", ".", " 1.0", "١.٢", "\\u0031.0", "NaN", "0x1.0", "1.0 "])
@pytest.mark.parametrize(("frame", "value", "stream"), [
    (BOOK_TICKER, b'"1.54698000"', "btcusdt@bookTicker"),
    (DEPTH, b'"0.32332000"', "btcusdt@depth@100ms"),
    (DEPTH, b'"55653.87000000"', "btcusdt@depth@100ms"),
])
def test_a_bad_numeral_never_passes_for_a_known_shape(frame, value, stream, bad):
    raw = b'"' + bad.encode() + b'"'  # as it would stand in the frame's bytes, escapes included
    assert not in_known_shape(frame.replace(value, raw), *known_shapes(stream, KINDS[stream]))


def test_other_shapes_are_not_known():
    shapes = known_shapes("btcusdt@bookTicker", "bookTicker")
    assert in_known_shape(BOOK_TICKER, *shapes)
    assert not in_known_shape(BOOK_TICKER.replace(b'"data":{', b'"data":{"e":"bookTicker","E":1,'), *shapes)  # futures
    assert not in_known_shape(BOOK_TICKER.replace(b'"BTCUSDT"', b'"ETHUSDT"'), *shapes)  # another symbol's event
    assert not in_known_shape(BOOK_TICKER.replace(b'","', b'", "'), *shapes)  # spaces
    assert known_shapes("btcusdt@kline_1m", "kline") is None
    depth = known_shapes("btcusdt@depth@100ms", "depthUpdate")
    assert in_known_shape(DEPTH.replace(b'"b":[["55653.87000000","0.00000000"]]', b'"b":[]'), *depth)
    assert not in_known_shape(DEPTH.replace(b'["55653.87000000","0.00000000"]', b'["55653.87000000","0.00000000","1.0"]'), *depth)
