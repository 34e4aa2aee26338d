"""Settings of the trading side: which strategies run where, the paper account, the engine.

Guard and risk settings are the models their own packages define (`bot.guards.GuardSettings`,
`bot.risk.RiskSettings`), mounted as sections by `bot.config.settings`. Strategy parameters are
validated here, at load time, by each strategy's own config class, so `tradebot config check`
reports a bad parameter as precisely as start-up does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from bot.config.sections import SectionModel
from bot.execution.fees import FeeSettings
from bot.execution.paper import FillModel
from bot.strategy import StrategyConfigError, load_strategy


class StrategyEntry(SectionModel):
    # A module in strategies/: sma_cross, ema_cross, rsi_reversion, breakout.
    name: str
    # Symbols it trades; left out: every symbol in ingest.symbols.
    symbols: tuple[str, ...] | None = None
    # The strategy's own parameters (its config class says which, with defaults).
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _parameters_are_valid(self) -> "StrategyEntry":
        try:
            load_strategy(self.name, "BTCUSDT", self.parameters)  # builds it once: every check runs
        except StrategyConfigError as error:
            raise ValueError(str(error)) from None
        return self


class PaperSettings(SectionModel):
    # The simulated account at the first start (later starts continue from the ledger).
    starting_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal(10_000)})
    fees: FeeSettings = Field(default_factory=FeeSettings)
    # Market orders without a depth book fill at the best bid/ask moved this much against us.
    slippage_bps: Annotated[Decimal, Field(ge=0)] = Decimal(5)
    # When a market order fills: book (against the depth book, as live), close (at the last
    # price) or next-open (at the next bar's open / next trade: the backtest convention).
    fill: FillModel = FillModel.BOOK
    # Binance's LOT_SIZE, PRICE_FILTER, NOTIONAL... as in live trading; off only to compare
    # results with tools that ignore them.
    exchange_filters: bool = True

    @field_validator("starting_balances")
    @classmethod
    def _balances_are_not_negative(cls, balances: dict[str, Decimal]) -> dict[str, Decimal]:
        for asset, amount in balances.items():
            if amount < 0:
                raise ValueError(f"{asset}: a balance cannot be negative, got {amount}")
        return balances


class EngineSettings(SectionModel):
    # Run the engine in this process (ingest and engine can also run as separate processes on
    # one Redis: set ingest.enabled or engine.enabled false). Off unless configured: a settings
    # file without an engine section only records market data. The shipped file turns it on.
    enabled: bool = False
    # paper: the paper broker. (live arrives with the live broker.)
    mode: Literal["paper"] = "paper"
    strategies: tuple[StrategyEntry, ...] = ()
    # Exchange-time interval between guard assessments stored for each symbol.
    guard_interval_seconds: PositiveFloat = 1.0
    # Redis consumer group the engine reads the record with.
    consumer_group: str = "engine"
    # Compute the shared feature spec on every bar for the decision records (the inputs summary
    # `tradebot status` and the ledger show). No strategy reads them; backtests turn it off.
    record_features: bool = True
    # Record a decision for every bar, HOLD included (why nothing happened is worth keeping in
    # the daemon's journal). Backtests, which keep no journal, record none.
    record_holds: bool = True
    # Events read per Redis round trip.
    read_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
