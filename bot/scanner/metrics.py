"""What the scanner says about one symbol: volatility, momentum, spread, liquidity, a risk score,
an anomaly level and a signal. The formulas and thresholds are documented on the settings
(`bot.scanner.settings`); this module applies them.

All arithmetic is Decimal in one fixed context (34 digits, half-even), so the results do not
depend on whatever decimal context the caller happens to run in, and figures are rounded to fixed
places (4 for percentages and basis points, 2 for the risk score) so they encode identically on
every run.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum

import msgspec

from bot.domain.events import Ticker
from bot.domain.trading import GuardLevel
from bot.scanner.settings import AnomalyThresholds, RiskModel, ScannerSettings, SignalRules

_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_FOUR_PLACES = Decimal("0.0001")
_TWO_PLACES = Decimal("0.01")
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_TEN_THOUSAND = Decimal(10_000)
# Weights of the risk score's components; see RiskModel.
_VOLATILITY_WEIGHT = Decimal("0.4")
_SPREAD_WEIGHT = Decimal("0.3")
_ILLIQUIDITY_WEIGHT = Decimal("0.3")


class ScanSignal(StrEnum):
    """The scanner's opinion of a symbol. Advice for people and the pair list, not an order: the
    strategies emit `bot.domain.trading.Signal`s of their own."""

    STRONG_BUY = "STRONG_BUY"
    BUY = "BUY"
    HOLD = "HOLD"
    SELL = "SELL"
    STRONG_SELL = "STRONG_SELL"


class SymbolScan(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's figures. None means "cannot be computed" (no range, an unusable book),
    never zero.

    change_pct: Binance's 24 h priceChangePercent (momentum).
    volatility_pct: the 24 h range as a percentage of the low, (high - low) / low * 100. Of the
        low rather than of the last price so that it does not depend on where in the range the
        day ended; it is the move a buyer at the low saw.
    position_in_range: (last - low) / (high - low); 0 at the day's low, 1 at its high.
    spread_bps: (ask - bid) / mid * 10,000, from the best bid and ask in the ticker.
    quote_volume: 24 h volume in the quote asset (liquidity).
    """

    symbol: str
    ts_event: int
    last_price: Decimal
    change_pct: Decimal
    volatility_pct: Decimal | None
    position_in_range: Decimal | None
    spread_bps: Decimal | None
    best_bid_price: Decimal
    best_ask_price: Decimal
    quote_volume: Decimal
    trade_count: int
    risk_score: Decimal
    anomaly: GuardLevel
    anomaly_reasons: tuple[str, ...]
    signal: ScanSignal


def scan_symbol(ticker: Ticker, settings: ScannerSettings) -> SymbolScan:
    with localcontext(_CONTEXT):
        volatility = _volatility_pct(ticker)
        position = _position_in_range(ticker)
        spread = _spread_bps(ticker)
        risk = risk_score(volatility, spread, ticker.quote_volume, settings.risk)
        level, reasons = anomaly_of(ticker, spread, settings.anomaly)
        signal = signal_of(ticker.price_change_percent, position, risk, level, settings.signal)
    return SymbolScan(
        symbol=ticker.symbol,
        ts_event=ticker.ts_event,
        last_price=ticker.last_price,
        change_pct=ticker.price_change_percent,
        volatility_pct=volatility,
        position_in_range=position,
        spread_bps=spread,
        best_bid_price=ticker.best_bid_price,
        best_ask_price=ticker.best_ask_price,
        quote_volume=ticker.quote_volume,
        trade_count=ticker.trade_count,
        risk_score=risk,
        anomaly=level,
        anomaly_reasons=reasons,
        signal=signal,
    )


def _volatility_pct(ticker: Ticker) -> Decimal | None:
    low, high = ticker.low_price, ticker.high_price
    if low <= 0 or high < low:
        return None
    return ((high - low) / low * _HUNDRED).quantize(_FOUR_PLACES)


def _position_in_range(ticker: Ticker) -> Decimal | None:
    low, high = ticker.low_price, ticker.high_price
    if low <= 0 or high <= low:
        return None
    return ((ticker.last_price - low) / (high - low)).quantize(_FOUR_PLACES)


def _spread_bps(ticker: Ticker) -> Decimal | None:
    bid, ask = ticker.best_bid_price, ticker.best_ask_price
    if bid <= 0 or ask <= 0 or bid >= ask:
        return None  # an empty side or a crossed book has no meaningful spread
    middle = (bid + ask) / 2
    return ((ask - bid) / middle * _TEN_THOUSAND).quantize(_FOUR_PLACES)


def risk_score(
    volatility_pct: Decimal | None, spread_bps: Decimal | None, quote_volume: Decimal, model: RiskModel
) -> Decimal:
    """0..100; see RiskModel for the formula. What cannot be measured counts as worst."""
    with localcontext(_CONTEXT):
        volatility = _HUNDRED if volatility_pct is None else _HUNDRED * min(volatility_pct / model.volatility_cap_pct, _ONE)
        spread = _HUNDRED if spread_bps is None else _HUNDRED * min(spread_bps / model.spread_cap_bps, _ONE)
        if quote_volume <= 0:
            illiquidity = _HUNDRED
        else:
            ceiling = model.liquidity_ceiling_quote.log10()
            span = ceiling - model.liquidity_floor_quote.log10()
            share = (ceiling - quote_volume.log10()) / span
            illiquidity = _HUNDRED * min(max(share, _ZERO), _ONE)
        total = _VOLATILITY_WEIGHT * volatility + _SPREAD_WEIGHT * spread + _ILLIQUIDITY_WEIGHT * illiquidity
        return total.quantize(_TWO_PLACES)


def anomaly_of(
    ticker: Ticker, spread_bps: Decimal | None, thresholds: AnomalyThresholds
) -> tuple[GuardLevel, tuple[str, ...]]:
    """The worst level any rule gives, and every rule that fired (see AnomalyThresholds). Reasons
    carry their numbers in plain notation, e.g. `move_24h_pct=156.833>=30`, so a listing can
    explain itself."""
    found: list[tuple[GuardLevel, str]] = []
    bid, ask = ticker.best_bid_price, ticker.best_ask_price
    if ticker.trade_count <= 0 or ticker.last_price <= 0:
        found.append((GuardLevel.CRITICAL, f"no_trades_24h count={ticker.trade_count}"))
    if bid > 0 and ask > 0 and bid >= ask:
        found.append((GuardLevel.CRITICAL, f"crossed_book bid={bid:f}>=ask={ask:f}"))
    elif bid <= 0 or ask <= 0:
        found.append((GuardLevel.HIGH, f"empty_book_side bid={bid:f} ask={ask:f}"))
    move = abs(ticker.price_change_percent)
    change = ticker.price_change_percent
    if move >= thresholds.extreme_move_pct:
        found.append((GuardLevel.HIGH, f"move_24h_pct={change:f}>={thresholds.extreme_move_pct:f}"))
    elif move >= thresholds.large_move_pct:
        found.append((GuardLevel.MODERATE, f"move_24h_pct={change:f}>={thresholds.large_move_pct:f}"))
    elif move >= thresholds.notable_move_pct:
        found.append((GuardLevel.LOW, f"move_24h_pct={change:f}>={thresholds.notable_move_pct:f}"))
    if spread_bps is not None:
        if spread_bps >= thresholds.huge_spread_bps:
            found.append((GuardLevel.HIGH, f"spread_bps={spread_bps:f}>={thresholds.huge_spread_bps:f}"))
        elif spread_bps >= thresholds.wide_spread_bps:
            found.append((GuardLevel.MODERATE, f"spread_bps={spread_bps:f}>={thresholds.wide_spread_bps:f}"))
    if ticker.quote_volume < thresholds.dead_volume_quote:
        found.append((GuardLevel.HIGH, f"quote_volume={ticker.quote_volume:f}<{thresholds.dead_volume_quote:f}"))
    level = max((level for level, _ in found), default=GuardLevel.NORMAL)
    return level, tuple(reason for _, reason in found)


def signal_of(
    change_pct: Decimal,
    position: Decimal | None,
    risk: Decimal,
    anomaly: GuardLevel,
    rules: SignalRules,
) -> ScanSignal:
    """See SignalRules for the rule."""
    if anomaly >= GuardLevel.HIGH or risk > rules.max_risk or position is None:
        return ScanSignal.HOLD
    strong_allowed = risk <= rules.strong_max_risk
    if change_pct >= rules.momentum_pct and position >= rules.position:
        if strong_allowed and change_pct >= rules.strong_momentum_pct and position >= rules.strong_position:
            return ScanSignal.STRONG_BUY
        return ScanSignal.BUY
    if change_pct <= -rules.momentum_pct and position <= _ONE - rules.position:
        if strong_allowed and change_pct <= -rules.strong_momentum_pct and position <= _ONE - rules.strong_position:
            return ScanSignal.STRONG_SELL
        return ScanSignal.SELL
    return ScanSignal.HOLD
