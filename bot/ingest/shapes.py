"""Depth diffs in the exact shape Binance writes, their numerals vouched for by their bytes.

Checking that every price and quantity of a depth diff is a plain numeral (digits and at most
one point: bot.ingest.wire.plain_numerals) cost ~16 µs a diff of ~90 values, about as much as
decoding it. For a diff in the exact shape Binance writes (its keys in Binance's order, no
spaces, every price and quantity with one point: "61837.63000000") the bytes say the same in a
few C calls: with the digits deleted and the levels (now all `[".","."]`) taken out, what is
left is the one skeleton known for the stream (~8 µs). A diff in any other shape (another field
order, an extra field, a value without a point, a sign, an exponent, an escape, a non-ASCII
digit) leaves another skeleton and takes the full check.

(Book tickers and trades do not gain: for their four or two values the bytes cost more than
bot.ingest.wire.plain_values.)
"""

from __future__ import annotations

_DIGITS = b"0123456789"
_LEVEL_AND_COMMA, _LEVEL = b'[".","."],', b'[".","."]'
_BARE_POINT = b'"."'  # a value that is only a point leaves the same skeleton as "1.5": refused apart


def depth_shape(stream: str) -> bytes:
    """The skeleton of a spot depth stream's diffs in Binance's shape."""
    name = stream.encode("ascii").translate(None, _DIGITS)
    symbol = stream.partition("@")[0].upper().encode("ascii").translate(None, _DIGITS)
    return b'{"stream":"%b","data":{"e":"depthUpdate","E":,"s":"%b","U":,"u":,"b":[],"a":[]}}' % (name, symbol)


def in_depth_shape(frame: bytes, shape: bytes) -> bool:
    """Whether every price and quantity of this diff is a plain numeral, told from its shape."""
    skeleton = frame.translate(None, _DIGITS).replace(_LEVEL_AND_COMMA, b"").replace(_LEVEL, b"")
    return skeleton == shape and _BARE_POINT not in frame
