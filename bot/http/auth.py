"""Bearer-token authentication of the HTTP API.

Deny by default: every path needs `Authorization: Bearer <token>` except the few public ones
(liveness, readiness, metrics and the API's own description), so a route added later is never
open by accident, and an unknown path tells an unauthenticated caller nothing (401, not 404).
Tokens are compared in constant time on bytes; the token never reaches a log line or an answer.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import SecretStr

log = structlog.get_logger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
TOKEN_VARIABLE = "TRADEBOT_API__TOKEN"
# RFC 6750: credentials = "Bearer" 1*SP b64token. The scheme is case-insensitive (RFC 9110); we
# take exactly one space and nothing around the token, so a sloppy header is refused, not guessed.
_CREDENTIALS = re.compile(r"([Bb][Ee][Aa][Rr][Ee][Rr]) ([A-Za-z0-9\-._~+/]+=*)")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unauthorized(reason: str) -> web.Response:
    response = web.json_response({"error": "unauthorized", "detail": reason}, status=401)
    # RFC 6750 section 3: a 401 names the scheme, and why, without echoing what was sent.
    response.headers["WWW-Authenticate"] = 'Bearer realm="tradebot", error="invalid_token"'
    return response


def bearer_middleware(token: SecretStr | None) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware: public paths pass, everything else needs the token."""
    expected = token.get_secret_value().encode("ascii") if token is not None else None

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        if expected is None:
            return web.json_response(
                {"error": "api_token_not_configured", "detail": f"the API is locked: set {TOKEN_VARIABLE} (or {TOKEN_VARIABLE}_FILE)"},
                status=503,
            )
        failure = _check(request.headers.getall("Authorization", []), expected)
        if failure is not None:
            log.info("API request refused", path=request.path, reason=failure, remote=request.remote)
            return unauthorized(failure)
        return await handler(request)

    return authenticate


def _check(headers: list[str], expected: bytes) -> str | None:
    """None when the one Authorization header carries the expected token, else why not."""
    if not headers:
        return "missing Authorization header"
    if len(headers) > 1:
        return "more than one Authorization header"
    match = _CREDENTIALS.fullmatch(headers[0])
    if match is None:
        return "malformed Authorization header: expected 'Bearer <token>'"
    presented = match.group(2).encode("ascii")  # the pattern admits ASCII only
    if not hmac.compare_digest(presented, expected):
        return "wrong token"
    return None
