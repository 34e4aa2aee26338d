"""Settings of the read-only HTTP API (bot.http.api), served beside /healthz and /metrics on
metrics.host:metrics.port."""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator

from bot.config.sections import SectionModel

# RFC 6750's b64token: what a bearer token may hold so it travels in a header unquoted.
_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MINIMUM_TOKEN_LENGTH = 16


class ApiSettings(SectionModel):
    # Off: /api/v1/* and /openapi.json are not served (health, readiness and metrics still are).
    enabled: bool = True
    # The bearer token every /api/v1 request must carry. A secret: only from the environment,
    # TRADEBOT_API__TOKEN or a file named by TRADEBOT_API__TOKEN_FILE. Unset: the API answers 503.
    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _usable_token(cls, token: SecretStr | None) -> SecretStr | None:
        # Messages never quote the value: it is a secret even when it is a bad one.
        if token is None:
            return None
        text = token.get_secret_value()
        if len(text) < MINIMUM_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MINIMUM_TOKEN_LENGTH} characters long (a guessable token is no lock); "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not _TOKEN_CHARACTERS.fullmatch(text):
            raise ValueError("may only hold letters, digits and - . _ ~ + / (then = padding), no spaces")
        return token
