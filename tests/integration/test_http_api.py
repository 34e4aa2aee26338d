"""The read-only API over real HTTP and a real trading record (tests/http_support.py): every
route refuses missing, wrong and malformed tokens with 401, answers exactly what the ledger in
Redis holds with the right one, and turns a bad query parameter into a 400."""

from __future__ import annotations

import json

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
import redis
import redis.asyncio
import structlog
from http_support import API_ROUTES, KEYS, TOKEN, bearer, get, make_record
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bot.bus.redis_server import EmbeddedRedis
from bot.http.queries import TradingQueries
from bot.http.readiness import redis_check
from bot.http.server import HttpServer


@pytest.fixture(scope="module")
def record_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis holding the daemon's record of a real replay, with a position open."""
    with EmbeddedRedis(tmp_path_factory.mktemp("http-record")) as server:
        make_record(server.url, tmp_path_factory.mktemp("http-daemon"))
        yield server.url


@pytest.fixture
def ledger(record_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(record_url) as client:
        yield client


@pytest.fixture
async def server(record_url: str) -> AsyncIterator[HttpServer]:
    client = redis.asyncio.Redis.from_url(record_url)
    server = HttpServer(CollectorRegistry(), "127.0.0.1", 0, readiness_checks={"redis": redis_check(client)},
                        queries=TradingQueries(client, KEYS), api_token=SecretStr(TOKEN))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await client.aclose()


def decode(raw: bytes) -> dict:
    return msgspec.json.decode(raw)


# --- authentication ---------------------------------------------------------------------------

REFUSED = {
    "missing": {},
    "wrong token": bearer("test-token_0123456789-abcdeF"),
    "token prefix": bearer(TOKEN[:-1]),
    "token with more": bearer(TOKEN + "0"),
    "no scheme": {"Authorization": TOKEN},
    "basic scheme": {"Authorization": f"Basic {TOKEN}"},
    "empty": {"Authorization": ""},
    "scheme only": {"Authorization": "Bearer"},
    "scheme and space": {"Authorization": "Bearer "},
    "two spaces": {"Authorization": f"Bearer  {TOKEN}"},
    "no space": {"Authorization": f"Bearer{TOKEN}"},
    "tab": {"Authorization": f"Bearer\t{TOKEN}"},
    "quoted": {"Authorization": f'Bearer "{TOKEN}"'},
    "two tokens": {"Authorization": f"Bearer {TOKEN} {TOKEN}"},
    "non-ASCII": {"Authorization": f"Bearer {TOKEN[:-1]}é"},
}


@pytest.mark.parametrize("route", API_ROUTES)
async def test_every_api_route_refuses_missing_wrong_and_malformed_tokens(server, route, capsys):
    url = f"{server.url}/api/v1/{route}"
    for case, headers in REFUSED.items():
        status, response_headers, body = await get(url, headers)
        assert status == 401, (case, status, body)
        assert response_headers["WWW-Authenticate"].startswith("Bearer "), case
        assert body["error"] == "unauthorized" and body["detail"], case
        assert TOKEN not in str(body) and TOKEN not in str(response_headers), case
    status, _, _ = await get(url, bearer())
    assert status == 200
    assert TOKEN not in capsys.readouterr().out  # refusals are logged, the token never


async def test_the_scheme_is_case_insensitive_but_two_headers_are_refused(server):
    assert (await get(f"{server.url}/api/v1/status", {"Authorization": f"bearer {TOKEN}"}))[0] == 200
    # Whitespace around a field value is not part of it (RFC 9110 section 5.5): the HTTP parser
    # drops it before any handler sees the header, so these carry exactly the right credentials.
    assert (await get(f"{server.url}/api/v1/status", {"Authorization": f"Bearer {TOKEN}  "}))[0] == 200
    import aiohttp
    from multidict import CIMultiDict

    headers = CIMultiDict([("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")])
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/api/v1/status", headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["detail"] == "more than one Authorization header"


async def test_unknown_paths_need_the_token_too_and_are_json_404s_with_it(server):
    status, _, body = await get(f"{server.url}/api/v1/secrets")
    assert status == 401 and body["error"] == "unauthorized"
    status, _, body = await get(f"{server.url}/api/v1/secrets", bearer())
    assert status == 404 and body["error"] == "not_found"


async def test_health_readiness_metrics_and_the_description_need_no_token(server):
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await get(f"{server.url}{path}"))[0] == 200, path
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as response:
        assert response.status == 200


async def test_without_a_configured_token_the_api_is_locked_and_says_how_to_open_it(record_url):
    client = redis.asyncio.Redis.from_url(record_url)
    server = HttpServer(CollectorRegistry(), "127.0.0.1", 0, queries=TradingQueries(client, KEYS), api_token=None)
    with structlog.testing.capture_logs() as logs:
        await server.start()
    try:
        assert any("TRADEBOT_API__TOKEN" in entry["event"] and entry["log_level"] == "warning" for entry in logs)
        for route in API_ROUTES:
            status, _, body = await get(f"{server.url}/api/v1/{route}", bearer())
            assert status == 503 and "set TRADEBOT_API__TOKEN" in body["detail"], route
        assert (await get(f"{server.url}/healthz"))[0] == 200
    finally:
        await server.stop()
        await client.aclose()


# --- content: exactly what the ledger holds ---------------------------------------------------------

async def test_status_is_the_ledgers_account_to_the_digit(server, ledger):
    status, _, body = await get(f"{server.url}/api/v1/status", bearer())
    assert status == 200
    account = {key.decode(): value.decode() for key, value in ledger.hgetall(KEYS.account()).items()}
    for name in ("equity", "cash", "position_value", "realized_pnl", "unrealized_pnl", "fees_paid", "trading_state", "state_reason"):
        assert body[name] == account[name], name  # the exact text: no float ever touched it
    assert body["ts"] == int(account["ts"]) and body["committed"] is True
    assert body["open_positions"] == ledger.hlen(KEYS.positions()) >= 1
    assert body["balances"] == {asset.decode(): amount.decode() for asset, amount in ledger.hgetall(KEYS.balances()).items()}
    assert body["fills"] == ledger.xlen(KEYS.fills()) and body["decisions"] == ledger.xlen(KEYS.decisions())
    statuses = [decode(raw)["status"] for raw in ledger.hvals(KEYS.orders())]
    assert body["orders_by_status"] == {status: statuses.count(status) for status in sorted(set(statuses))}
    assert sum(body["orders_by_status"].values()) == ledger.hlen(KEYS.orders()) >= 1


async def test_positions_are_the_ledgers_open_positions(server, ledger):
    status, _, body = await get(f"{server.url}/api/v1/positions", bearer())
    stored = {symbol.decode(): decode(raw) for symbol, raw in ledger.hgetall(KEYS.positions()).items()}
    assert status == 200 and stored, "no open position in the record: the test proves nothing"
    assert body["positions"] == [stored[symbol] for symbol in sorted(stored)]
    position = body["positions"][0]
    assert position["symbol"] == "BTCUSDT" and isinstance(position["quantity"], str) and isinstance(position["average_price"], str)


async def test_orders_newest_first_filtered_by_status_and_limited(server, ledger):
    stored = [decode(raw) for raw in ledger.hvals(KEYS.orders())]
    newest_first = sorted(stored, key=lambda order: (order["ts_updated"], order["client_order_id"]), reverse=True)
    status, _, body = await get(f"{server.url}/api/v1/orders", bearer())
    assert status == 200 and body["orders"] == newest_first
    status, _, body = await get(f"{server.url}/api/v1/orders", bearer(), limit="3")
    assert body["orders"] == newest_first[:3]
    filled = [order for order in newest_first if order["status"] == "FILLED"]
    assert filled, "no filled order in the record"
    status, _, body = await get(f"{server.url}/api/v1/orders", bearer(), status="FILLED", limit="1000")
    assert body["orders"] == filled
    status, _, body = await get(f"{server.url}/api/v1/orders", bearer(), status="CANCELED")
    assert body["orders"] == [order for order in newest_first if order["status"] == "CANCELED"]


async def test_decisions_are_the_newest_entries_of_the_decisions_stream(server, ledger):
    status, _, body = await get(f"{server.url}/api/v1/decisions", bearer(), limit="25")
    entries = ledger.xrevrange(KEYS.decisions(), count=25)
    assert status == 200 and len(body["decisions"]) == 25
    for answered, (entry_id, fields) in zip(body["decisions"], entries, strict=True):
        expected = decode(fields[b"decision"])
        assert {key: value for key, value in answered.items() if key not in ("id", "guard_level_name")} == expected
        assert answered["id"] == entry_id.decode()
        assert answered["guard_level_name"] == ["NORMAL", "LOW", "MODERATE", "HIGH", "CRITICAL"][expected["guard_level"]]
    default = (await get(f"{server.url}/api/v1/decisions", bearer()))[2]["decisions"]
    assert len(default) == min(100, ledger.xlen(KEYS.decisions()))


async def test_guards_are_each_symbols_latest_assessment(server, ledger):
    status, _, body = await get(f"{server.url}/api/v1/guards", bearer())
    stored = decode(ledger.hget(KEYS.assessments(), "BTCUSDT"))
    assert status == 200 and [guard["symbol"] for guard in body["guards"]] == ["BTCUSDT"]
    answered = body["guards"][0]
    assert answered["level"] == stored["level"] and answered["recommendation"] == stored["recommendation"]
    assert answered["reasons"] == stored["reasons"]
    assert [(v["guard"], v["level"]) for v in answered["verdicts"]] == [(v["guard"], v["level"]) for v in stored["verdicts"]]
    assert answered["level_name"] in ("NORMAL", "LOW", "MODERATE", "HIGH", "CRITICAL")


async def test_scanner_results_are_the_scans_hashes_most_traded_first(server, ledger):
    status, _, body = await get(f"{server.url}/api/v1/scanner", bearer(), limit="10")
    assert status == 200
    ranked = [symbol.decode() for symbol in ledger.zrevrange(KEYS.scanner_index(), 0, 9)]
    assert [row["symbol"] for row in body["results"]] == ranked and len(ranked) == 10
    for row in body["results"]:
        stored = {key.decode(): value.decode() for key, value in ledger.hgetall(KEYS.scanner_symbol(row["symbol"])).items()}
        for name in ("last_price", "change_pct", "quote_volume", "risk_score", "best_bid_price", "best_ask_price"):
            assert row[name] == stored[name], (row["symbol"], name)
        assert row["trade_count"] == int(stored["trade_count"]) and row["anomaly"] == stored["anomaly"]
        assert row["anomaly_reasons"] == msgspec.json.decode(stored["anomaly_reasons"])
        assert row["spread_bps"] == (stored["spread_bps"] or None)
    assert body["pairs"] == [pair.decode() for pair in ledger.lrange(KEYS.scanner_pairs(), 0, -1)]
    summary = {key.decode(): value.decode() for key, value in ledger.hgetall(KEYS.scanner_summary()).items()}
    assert body["summary"]["total_quote_volume"] == summary["total_quote_volume"]
    assert body["summary"]["pairs_scanned"] == int(summary["pairs_scanned"]) == ledger.zcard(KEYS.scanner_index())
    assert body["summary"]["gainers"] == msgspec.json.decode(summary["gainers"])
    assert body["status"]["failures"] == 0 and body["status"]["refreshes"] >= 1


async def test_alerts_are_the_stored_ones_newest_first_and_no_model_is_hot_loaded(server, ledger):
    # The daemon announced its start and its fills; the API shows the alert stream as stored. The
    # shipped settings trade no ml_signal strategy (test_http_models.py covers a loaded model).
    stored = [(entry_id.decode(), json.loads(fields[b"alert"])) for entry_id, fields in ledger.xrevrange(KEYS.alerts())]
    body = (await get(f"{server.url}/api/v1/alerts", bearer(), limit="1000"))[2]
    assert [alert["id"] for alert in body["alerts"]] == [entry_id for entry_id, _ in stored][:1000]
    assert body["alerts"][0] | {} == {**stored[0][1], "id": stored[0][0]}
    kinds = {alert["kind"] for alert in body["alerts"]}
    assert "daemon_started" in kinds and "order_filled" in kinds
    assert (await get(f"{server.url}/api/v1/models", bearer()))[2] == {"models": []}


# --- bad requests ------------------------------------------------------------------------------------

BAD_LIMITS = ["0", "-1", "1001", "abc", "", " 5", "5 ", "+5", "1.5", "1e2", "5_0", "٥", "99999999999999999999999"]


@pytest.mark.parametrize("route", ["orders", "decisions", "scanner", "alerts"])
async def test_a_bad_limit_is_a_400_that_names_it(server, route):
    for limit in BAD_LIMITS:
        status, _, body = await get(f"{server.url}/api/v1/{route}", bearer(), limit=limit)
        assert status == 400, (limit, status)
        assert body["error"] == "bad_request" and "limit must be a whole number from 1 to 1000" in body["detail"], limit
    assert (await get(f"{server.url}/api/v1/{route}", bearer(), limit="1000"))[0] == 200


async def test_an_unknown_status_an_unknown_or_repeated_parameter_is_a_400(server):
    status, _, body = await get(f"{server.url}/api/v1/orders", bearer(), status="filled")
    assert status == 400 and "status must be one of NEW" in body["detail"]
    status, _, body = await get(f"{server.url}/api/v1/positions", bearer(), limit="5")
    assert status == 400 and "unknown query parameter 'limit'" in body["detail"]
    status, _, body = await get(f"{server.url}/api/v1/decisions?limit=1&limit=2", bearer())
    assert status == 400 and "more than once" in body["detail"]


# --- schema-driven fuzzing ---------------------------------------------------------------------------

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_a_schemathesis_fuzz_run_finds_no_server_error_and_no_schema_violation(server, tmp_path):
    """schemathesis generates valid and invalid requests for every operation in /openapi.json
    (bounded: 50 examples each, a fixed seed) and runs every check it has against the live server:
    no 5xx, every status, header and body as described, invalid input refused with a 4xx, and the
    token enforced (ignored_auth)."""
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", f"{server.url}/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}", "--checks", "all", "--max-examples", "50", "--seed", "6",
        "--workers", "1", "--request-timeout", "5", "--generation-database", "none", "--no-color",
        "--suppress-health-check", "too_slow",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text[-6000:]
    # The run really exercised the API: every operation tested, many cases, nothing failed.
    assert "Operations:       11 selected / 11 total" in text and "Tested: 11" in text, text[-3000:]
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", text).groups())
    assert generated == passed >= 11 * 10, text[-3000:]
    assert "No issues found" in text, text[-3000:]
