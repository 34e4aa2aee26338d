"""The api section: the token comes only from the environment (or a file it names), must be
usable in a header and not guessably short, and no message ever shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, secret_values

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "config/tradebot.yaml"
TOKEN = "a-constructed-test-token_0123456789"


def test_the_shipped_settings_serve_the_api_without_a_token_until_one_is_set():
    settings = load_settings(SHIPPED, {})
    assert settings.api.enabled is True and settings.api.token is None
    settings = load_settings(SHIPPED, {"TRADEBOT_API__TOKEN": TOKEN})
    assert settings.api.token.get_secret_value() == TOKEN
    assert TOKEN in secret_values(settings)  # so the log redactor masks it wherever it appears
    assert TOKEN not in repr(settings.api)


def test_the_token_can_come_from_a_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_settings(SHIPPED, {"TRADEBOT_API__TOKEN_FILE": str(path)}).api.token.get_secret_value() == TOKEN


def test_a_token_in_the_settings_file_is_refused(tmp_path):
    config = tmp_path / "settings.yaml"
    text = SHIPPED.read_text().replace("api:\n", f"api:\n  token: {TOKEN}\n", 1)
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    message = str(caught.value)
    assert "api.token: secrets come from the environment (set TRADEBOT_API__TOKEN or TRADEBOT_API__TOKEN_FILE)" in message
    assert TOKEN not in message


@pytest.mark.parametrize("token, reason", [
    ("short-token", "must be at least 16 characters long"),
    ("has a space in the middle of it", "no spaces"),
    ("non-ascii-tökenvalue-0123456789", "may only hold letters, digits"),
])
def test_an_unusable_token_is_refused_without_showing_it(token, reason):
    with pytest.raises(ConfigError) as caught:
        load_settings(SHIPPED, {"TRADEBOT_API__TOKEN": token})
    message = str(caught.value)
    assert "environment TRADEBOT_API__TOKEN: api.token:" in message and reason in message
    assert token not in message
