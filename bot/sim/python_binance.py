"""Point python-binance at the replay exchange.

python-binance builds every spot REST URL as `client.API_URL + "/v3/" + path`, with API_URL
formatted once in the constructor ("https://api.binance.com/api"). Replacing that one attribute is
all it takes. Build the client with `AsyncClient(api_key=None, api_secret=None)` rather than
`AsyncClient.create()`, which pings the real host before it could be redirected.
"""

from __future__ import annotations

from typing import Any


def point_client_at(client: Any, rest_base_url: str) -> Any:
    """Send the client's spot REST calls to rest_base_url (e.g. http://127.0.0.1:PORT)."""
    if client.testnet or getattr(client, "demo", False):
        raise ValueError("a testnet/demo client ignores API_URL; build it with testnet=False, demo=False")
    client.API_URL = rest_base_url.rstrip("/") + "/api"
    return client
