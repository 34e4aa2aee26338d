"""bot.ingest.shapes: a depth diff's bytes vouch for its numerals only in Binance's exact shape;
every recorded diff has that shape, and no diff with a bad numeral does."""

from __future__ import annotations

import pytest

from bot.config.sections import DEFAULT_RECORDING
from bot.ingest.shapes import depth_shape, in_depth_shape
from bot.sim.timeline import load_timeline

STREAM = "btcusdt@depth@100ms"
SHAPE = depth_shape(STREAM)
DEPTH = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}'


def test_every_recorded_depth_diff_is_in_its_stream_s_shape():
    timeline = load_timeline([DEFAULT_RECORDING])
    diffs = [frame for frame in timeline.frames if frame.startswith(b'{"stream":"btcusdt@depth@100ms"')]
    assert len(diffs) == 6_495
    assert all(in_depth_shape(frame, SHAPE) for frame in diffs)


@pytest.mark.parametrize("bad", ["-1.0", "1e5", "1..2", "1.2.3", "", ".", " 1.0", "١.٢", "\\u0031.0", "NaN", "0x1.0", "1.0 "])
@pytest.mark.parametrize("value", [b'"0.32332000"', b'"55653.87000000"'])
def test_a_bad_numeral_never_passes_for_the_known_shape(value, bad):
    raw = b'"' + bad.encode() + b'"'  # as it would stand in the frame's bytes, escapes included
    assert not in_depth_shape(DEPTH.replace(value, raw), SHAPE)


def test_other_shapes_are_not_known():
    assert in_depth_shape(DEPTH, SHAPE)
    assert in_depth_shape(DEPTH.replace(b'"b":[["55653.87000000","0.00000000"]]', b'"b":[]'), SHAPE)
    assert not in_depth_shape(DEPTH.replace(b'"u":50093239207,', b'"u":50093239207,"pu":50093239202,'), SHAPE)  # futures
    assert not in_depth_shape(DEPTH.replace(b'"BTCUSDT"', b'"ETHUSDT"'), SHAPE)  # another symbol's diff
    assert not in_depth_shape(DEPTH.replace(b'","', b'", "'), SHAPE)  # spaces
    assert not in_depth_shape(DEPTH.replace(b'"0.32332000"]', b'"0.32332000","1.0"]'), SHAPE)  # a level of three values
    assert not in_depth_shape(DEPTH.replace(b'"0.32332000"', b'"32332"'), SHAPE)  # plain, but not Binance's shape: full check
