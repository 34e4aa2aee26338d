"""RiskSettings: validated once, frozen, and every error names the parameter and the reason."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.risk import EquityFractionSizing, FixedQuoteSizing, RiskSettings

D = Decimal
RISK = Path(__file__).parents[2] / "bot" / "risk"


def error_of(**values: object) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        RiskSettings.model_validate(values)
    error = caught.value.errors()[0]
    return ".".join(str(part) for part in error["loc"]), error["msg"]


def test_defaults_are_valid_and_frozen() -> None:
    settings = RiskSettings()
    assert settings.quote_asset == "USDT"
    assert settings.sizing == FixedQuoteSizing(amount=D(100))
    assert settings.stop_loss_cooldown_ns == 900 * 1_000_000_000
    with pytest.raises(ValidationError, match="frozen"):
        settings.stop_loss_pct = D(5)  # type: ignore[misc]


def test_sizing_is_chosen_by_its_mode_and_yaml_floats_become_exact_decimals() -> None:
    settings = RiskSettings.model_validate({"sizing": {"mode": "equity_fraction", "fraction": 0.05}, "stop_loss_pct": 1.5})
    assert settings.sizing == EquityFractionSizing(fraction=D("0.05"))
    assert settings.stop_loss_pct == D("1.5")
    assert RiskSettings.model_validate({"sizing": {"mode": "fixed_quote", "amount": "25.5"}}).sizing.amount == D("25.5")


@pytest.mark.parametrize(
    ("values", "location", "message"),
    [
        ({"unknown_limit": 1}, "unknown_limit", "Extra inputs are not permitted"),
        ({"sizing": {"mode": "fixed_quote", "fraction": 0.1}}, "sizing.fixed_quote.amount", "Field required"),
        ({"sizing": {"mode": "equity_fraction", "fraction": 1.5}}, "sizing.equity_fraction.fraction", "less than or equal to 1"),
        ({"sizing": {"mode": "kelly"}}, "sizing", "does not match any of the expected tags"),
        ({"stop_loss_pct": 0}, "stop_loss_pct", "greater than 0"),
        ({"stop_loss_pct": 100}, "stop_loss_pct", "less than 100"),
        ({"max_open_positions": 0}, "max_open_positions", "greater than or equal to 1"),
        ({"max_position_value": -5}, "max_position_value", "greater than 0"),
        ({"daily_loss_limit_pct": 150}, "daily_loss_limit_pct", "less than 100"),
        ({"stop_loss_cooldown_seconds": -1}, "stop_loss_cooldown_seconds", "greater than or equal to 0"),
        ({"fee_rate": 0.5}, "fee_rate", "less than 0.1"),
        ({"quote_asset": "usdt"}, "quote_asset", "must be an upper-case asset code such as USDT, got 'usdt'"),
    ],
)
def test_a_bad_value_is_named_with_its_reason(values: dict, location: str, message: str) -> None:
    found_location, found_message = error_of(**values)
    assert found_location == location
    assert message in found_message


@pytest.mark.parametrize("module", sorted(RISK.glob("*.py")), ids=lambda path: path.name)
def test_risk_is_pure(module: Path) -> None:
    """ARCHITECTURE.md rule 1 for bot/risk, with the project's own walker."""
    from test_architecture import IO_LIBRARIES, imported_roots, wall_clock_reads

    tree = ast.parse(module.read_text(encoding="utf-8"))
    assert imported_roots(tree) & IO_LIBRARIES == set()
    assert wall_clock_reads(tree) == []
