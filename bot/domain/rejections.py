"""Order rejections in Binance's own words.

A rejection carries Binance's error code and message text exactly as the exchange sends them
(spot `errors.md`: the "Filter failures" table and the messages of -2010 NEW_ORDER_REJECTED and
-2011 CANCEL_REJECTED), so the paper broker and the live broker fail the same way, and logs,
alerts and the contract tests can compare the text itself.

Filter failures arrive under -1013 (documented as INVALID_MESSAGE; every real filter refusal seen
in client logs is `{"code": -1013, "msg": "Filter failure: ..."}`).
"""

from __future__ import annotations

FILTER_FAILURE = -1013
NO_DEPTH = -1112
BAD_SYMBOL = -1121
MANDATORY_PARAMETER = -1102
PARAMETER_NOT_REQUIRED = -1106
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011

INVALID_SYMBOL = "Invalid symbol."
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
UNKNOWN_ORDER = "Unknown order sent."
MARKET_CLOSED = "Market is closed."
NO_ORDERS_ON_BOOK = "No orders on book for symbol."
PRICE_REQUIRED = "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
PRICE_NOT_REQUIRED = "Parameter 'price' sent when not required."


def filter_failure(filter_type: str) -> str:
    """The text of a filter refusal, e.g. `Filter failure: LOT_SIZE`."""
    return f"Filter failure: {filter_type}"


class OrderRejected(Exception):
    """The exchange (or the paper broker acting as it) refused an order or a cancel.

    Nothing happened: no order exists, no funds moved. `code` and `message` are Binance's.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrderRejected) and (self.code, self.message) == (other.code, other.message)

    def __hash__(self) -> int:
        return hash((self.code, self.message))
