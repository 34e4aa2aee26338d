"""Frames in the exact shape Binance writes, told from their bytes alone.

Checking that every price and quantity of a frame is a plain numeral (digits and at most one
point: bot.ingest.wire.plain_values and plain_numerals) cost a book ticker about as much as
decoding it. For a frame in the exact shape Binance writes (its keys in Binance's order, no
spaces, every price and quantity with one point: "61837.63000000") the bytes with their digits
deleted say the same in one C call: what is left is one of a few skeletons known per stream,
with "." where each value was. A frame in any other shape (another field order, an extra field,
a value without a point, a sign, an exponent, an escape, a non-ASCII digit) leaves another
skeleton and takes the full check.
"""

from __future__ import annotations

from collections.abc import Callable

_DIGITS = b"0123456789"
_LEVEL_AND_COMMA, _LEVEL = b'[".","."],', b'[".","."]'
_BARE_POINT = b'"."'  # a value that is only a point leaves the same skeleton as "1.5": refused apart


def skeleton(frame: bytes) -> bytes:
    return frame.translate(None, _DIGITS)


def depth_skeleton(frame: bytes) -> bytes:
    """A depth diff's skeleton with its levels taken out, so that every diff of a stream has the
    same one however many levels it carries."""
    return frame.translate(None, _DIGITS).replace(_LEVEL_AND_COMMA, b"").replace(_LEVEL, b"")


def known_shapes(stream: str, kind: str) -> tuple[frozenset[bytes], Callable[[bytes], bytes]] | None:
    """The skeletons of a spot stream's frames in Binance's shape, and how to take one; None for
    kinds without them."""
    name = stream.encode("ascii").translate(None, _DIGITS)
    symbol = stream.partition("@")[0].upper().encode("ascii").translate(None, _DIGITS)
    head = b'{"stream":"%b","data":{' % name
    if kind == "bookTicker":
        return frozenset({head + b'"u":,"s":"%b","b":".","B":".","a":".","A":"."}}' % symbol}), skeleton
    if kind == "trade":
        # m: the buyer was the maker; M: Binance's "best match" flag, read by nobody.
        return frozenset(
            head + b'"e":"trade","E":,"s":"%b","t":,"p":".","q":".","T":,"m":%b,"M":%b}}' % (symbol, maker, best_match)
            for maker in (b"true", b"false") for best_match in (b"true", b"false")
        ), skeleton
    if kind == "depthUpdate":
        return frozenset({head + b'"e":"depthUpdate","E":,"s":"%b","U":,"u":,"b":[],"a":[]}}' % symbol}), depth_skeleton
    return None


def in_known_shape(frame: bytes, shapes: frozenset[bytes], skeleton_of: Callable[[bytes], bytes]) -> bool:
    """Whether every price and quantity of this frame is a plain numeral, told from its shape."""
    return skeleton_of(frame) in shapes and _BARE_POINT not in frame
