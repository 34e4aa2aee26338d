"""Decimal arithmetic that never depends on the caller's thread-local decimal context.

Accounting (products and sums of prices, quantities, fees) runs in `EXACT`, which traps
`Inexact`: a result that would need rounding raises instead of silently losing a digit. Only
genuine divisions (an average price, the share of cost a partial sell removes, an order size
from a quote amount) round, in `DIVISION`, with 34 significant digits.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

# 120 digits is far beyond any real balance; the Inexact trap, not the precision, is the guarantee.
EXACT = Context(prec=120, rounding=ROUND_HALF_EVEN, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
DIVISION = Context(prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
# Sizing rounds down so an order never asks for more than the cash or the limit allows.
DIVISION_DOWN = Context(prec=34, rounding=ROUND_DOWN, traps=[InvalidOperation, DivisionByZero, Overflow])

ZERO = Decimal(0)
NANOSECONDS_PER_SECOND = 1_000_000_000
NANOSECONDS_PER_DAY = 86_400 * NANOSECONDS_PER_SECOND
_EPOCH = date(1970, 1, 1)


def multiply(left: Decimal, right: Decimal) -> Decimal:
    return EXACT.multiply(left, right)


def add(left: Decimal, right: Decimal) -> Decimal:
    return EXACT.add(left, right)


def subtract(left: Decimal, right: Decimal) -> Decimal:
    return EXACT.subtract(left, right)


def total(values: list[Decimal]) -> Decimal:
    result = ZERO
    for value in values:
        result = EXACT.add(result, value)
    return result


def divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    return DIVISION.divide(numerator, denominator)


def divide_down(numerator: Decimal, denominator: Decimal) -> Decimal:
    return DIVISION_DOWN.divide(numerator, denominator)


def utc_day(ts_ns: int) -> str:
    """The UTC calendar day (ISO `YYYY-MM-DD`) of a nanosecond timestamp; floor division keeps
    it right for instants before the epoch too. Pure arithmetic: no clock is read."""
    return (_EPOCH + timedelta(days=ts_ns // NANOSECONDS_PER_DAY)).isoformat()
