"""Deterministic client order ids.

An order id is derived from what caused the order (strategy, symbol, side and the triggering
event), never from a counter or the clock, so re-handling the same event after a crash or a retry
asks for the same id, and the ledger (or Binance, which refuses a duplicate open
`newClientOrderId`) turns the second attempt into a no-op.

Binance accepts `^[a-zA-Z0-9-_]{1,36}$`; ours are `tb-` plus 32 hex digits of a SHA-256: 35
characters, and collision-free for any realistic number of orders.
"""

from __future__ import annotations

import hashlib

PREFIX = "tb-"
MAX_LENGTH = 36


def client_order_id(strategy: str, symbol: str, side: str, trigger: str) -> str:
    """The id of the order `strategy` places on `symbol` (`side`) because of event `trigger`."""
    material = "\x1f".join((strategy, symbol, side, trigger)).encode()
    identifier = PREFIX + hashlib.sha256(material).hexdigest()[:32]
    assert len(identifier) <= MAX_LENGTH
    return identifier
