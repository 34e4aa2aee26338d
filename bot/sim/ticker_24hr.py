"""GET /api/v3/ticker/24hr from a recorded all-symbols answer.

The recording is one moment of the exchange (Binance computes these rolling statistics
continuously; a recording cannot), so every request sees that same moment, whatever the replay
cursor's position. Parameters as on Binance: none (every symbol, the recorded bytes), `symbol`
(one object), or `symbols` (a JSON array of names; answered in the order asked). `symbol` and
`symbols` together are refused, as is a name the exchange does not know (-1121 "Invalid
symbol."). The `type=MINI` variant and `symbolStatus` filter are not served.

Weights (Binance's table): symbol 2; symbols 1-20: 2, 21-100: 40, 101 or more: 80; no
parameter 80.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from bot.sim.api_error import ApiError


def ticker_24hr_weight(query: Mapping[str, str]) -> int:
    if "symbol" in query:
        return 2
    if "symbols" in query:
        try:
            count = len(msgspec.json.decode(query["symbols"]))
        except (msgspec.DecodeError, TypeError):
            return 2  # refused before any work; charged as the cheapest form
        if count <= 20:
            return 2
        return 40 if count <= 100 else 80
    return 80


class Ticker24hrTable:
    """recorded: the answer's bytes, served unchanged when no symbol is asked for.
    rows: the same answer parsed. known_symbols: every symbol the exchange knows (from all
    recordings), so a known symbol missing from this recording is told apart from a bad name."""

    def __init__(self, recorded: bytes, rows: list[dict[str, Any]], known_symbols: set[str]) -> None:
        self.recorded = recorded
        self._by_symbol = {row["symbol"]: row for row in rows}
        self._known = known_symbols | set(self._by_symbol)

    @property
    def symbols(self) -> set[str]:
        return set(self._by_symbol)

    def answer(self, query: Mapping[str, str]) -> bytes | Any:
        """The recorded bytes for all symbols, else the object or list to encode."""
        if "symbol" in query and "symbols" in query:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if "symbol" in query:
            symbol = query["symbol"].upper()
            if not symbol:
                raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return self._row(symbol)
        if "symbols" in query:
            return [self._row(symbol) for symbol in self._names(query["symbols"])]
        return self.recorded

    def _names(self, text: str) -> list[str]:
        try:
            names = msgspec.json.decode(text)
        except msgspec.DecodeError:
            names = None
        if not isinstance(names, list) or not names or not all(isinstance(name, str) and name for name in names):
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
        return [name.upper() for name in names]

    def _row(self, symbol: str) -> dict[str, Any]:
        row = self._by_symbol.get(symbol)
        if row is not None:
            return row
        if symbol in self._known:
            raise ApiError(-1000, f"replay exchange: no recorded 24hr ticker for {symbol}")
        raise ApiError(-1121, "Invalid symbol.")
