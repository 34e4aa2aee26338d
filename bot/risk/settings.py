"""Risk settings: how big an order is, how much may be held, when to get out and when to stop.

Percentages are written as percent (`stop_loss_pct: 2` means 2%), fractions as fractions
(`fraction: 0.05` means 5% of equity), so the name always says which scale a number is on.
Money is Decimal; a YAML float such as `0.1` arrives as `Decimal("0.1")` through pydantic.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(gt=0, lt=100, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FixedQuoteSizing(_Frozen):
    """Every entry spends the same quote amount (e.g. 100 USDT), whatever the account's size."""

    mode: Literal["fixed_quote"] = "fixed_quote"
    amount: PositiveDecimal


class EquityFractionSizing(_Frozen):
    """Every entry spends a fraction of current equity, so size follows the account up and down."""

    mode: Literal["equity_fraction"] = "equity_fraction"
    fraction: Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False)]


class AllCashSizing(_Frozen):
    """Every entry spends all the free quote cash, its fee included, as one market order for a
    quote amount (Binance's quoteOrderQty): the quantity is cash / (fill price x (1 + fee)). The
    backtest convention of vectorised tools, so their results can be checked against ours."""

    mode: Literal["all_cash"] = "all_cash"


Sizing = Annotated[FixedQuoteSizing | EquityFractionSizing | AllCashSizing, Field(discriminator="mode")]


class RiskSettings(_Frozen):
    """Limits of one account. `None` for an optional limit means "no such limit"."""

    quote_asset: str = "USDT"
    sizing: Sizing = FixedQuoteSizing(amount=Decimal(100))
    # Caps are in the quote asset and apply to market value (quantity x latest price).
    max_position_value: PositiveDecimal | None = Decimal(1000)
    max_total_exposure: PositiveDecimal | None = Decimal(5000)
    max_open_positions: Annotated[int, Field(ge=1)] = 5
    # None: no stop-loss from the settings (a strategy's own stop price still applies).
    stop_loss_pct: Percent | None = Decimal(2)
    take_profit_pct: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    # After a stop-loss the symbol gets no new entry for this long: a market that just stopped us
    # out is the one most likely to do it again at once.
    stop_loss_cooldown_seconds: Annotated[int, Field(ge=0)] = 900
    # Either, both (whichever trips first) or neither. The percentage is of the UTC day's
    # starting equity (see bot.risk.state).
    daily_loss_limit_quote: PositiveDecimal | None = None
    daily_loss_limit_pct: Percent | None = None
    # Cash kept back for the fee when sizing an entry, so a buy never outruns the balance.
    fee_rate: Annotated[Decimal, Field(ge=0, lt=Decimal("0.1"), allow_inf_nan=False)] = Decimal("0.001")
    # Below this an entry is not worth sending (Binance's NOTIONAL filter is 5 USDT on BTCUSDT);
    # a cap that leaves less room than this denies instead of sending dust.
    min_order_value: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(5)

    @field_validator("quote_asset")
    @classmethod
    def _quote_asset_is_an_asset_code(cls, quote_asset: str) -> str:
        if not (quote_asset.isascii() and quote_asset.isalnum() and quote_asset.isupper()):
            raise ValueError(f"must be an upper-case asset code such as USDT, got {quote_asset!r}")
        return quote_asset

    @property
    def stop_loss_cooldown_ns(self) -> int:
        return self.stop_loss_cooldown_seconds * 1_000_000_000
