"""The error answer of Binance's REST API: `{"code": <negative number>, "msg": <text>}` with an
HTTP status (400 unless said otherwise)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
