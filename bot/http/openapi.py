"""The OpenAPI 3.0 description of the HTTP endpoint, served at /openapi.json.

Written out by hand next to the routes (bot.http.api) rather than generated: it is the contract a
client and the schema-driven fuzzer (schemathesis, tests/integration/test_http_fuzz.py) hold the
server to, so every answer the server gives, errors included, must be described here.
"""

from __future__ import annotations

from typing import Any

from bot.http.queries import MAXIMUM_LIMIT, ORDER_STATUSES

API_PREFIX = "/api/v1"

# Exact decimal text as the ledger holds it: "0.02000000", "-1.5", or "0E-8" (Python's Decimal
# text for a zero with 8 places). Never a JSON number, so no client rounds money through a float.
DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?(E[-+]?[0-9]+)?$", "example": "61837.63000000"}
NULLABLE_DECIMAL = {**DECIMAL, "nullable": True}
NANOSECONDS = {"type": "integer", "format": "int64", "description": "nanoseconds since the Unix epoch"}
NULLABLE_NANOSECONDS = {**NANOSECONDS, "nullable": True}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
STRINGS = {"type": "array", "items": STRING}
COUNT = {"type": "integer", "minimum": 0}
LEVEL = {"type": "integer", "minimum": 0, "maximum": 4, "description": "GuardLevel: 0 NORMAL .. 4 CRITICAL"}
LEVEL_NAME = {"type": "string", "enum": ["NORMAL", "LOW", "MODERATE", "HIGH", "CRITICAL"]}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required if required is not None else sorted(properties), **extra}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": STRING, "detail": STRING}, ["error"]),
    "Health": _object({"status": {"type": "string", "enum": ["alive"]}}),
    "Readiness": _object({
        "ready": {"type": "boolean"},
        "checks": {"type": "object", "additionalProperties": _object({"ok": {"type": "boolean"}, "detail": STRING})},
    }),
    "Status": _object({
        "committed": {"type": "boolean", "description": "false until the engine's first commit; the account fields are then null"},
        "ts": NULLABLE_NANOSECONDS,
        "trading_state": {"type": "string", "nullable": True, "enum": ["ACTIVE", "REDUCING", "HALTED", None]},
        "state_reason": NULLABLE_STRING,
        "equity": NULLABLE_DECIMAL, "cash": NULLABLE_DECIMAL, "position_value": NULLABLE_DECIMAL,
        "realized_pnl": NULLABLE_DECIMAL, "unrealized_pnl": NULLABLE_DECIMAL, "fees_paid": NULLABLE_DECIMAL,
        "open_positions": COUNT,
        "balances": {"type": "object", "additionalProperties": DECIMAL, "description": "asset -> cash"},
        "orders_by_status": {"type": "object", "additionalProperties": COUNT},
        "fills": COUNT,
        "decisions": COUNT,
    }),
    "Position": _object({
        "symbol": STRING, "quantity": DECIMAL, "average_price": DECIMAL, "realized_pnl": DECIMAL, "fees_paid": DECIMAL,
        "ts_opened": NANOSECONDS, "ts_updated": NANOSECONDS, "stop_price": NULLABLE_DECIMAL, "take_profit_price": NULLABLE_DECIMAL,
    }, ["symbol", "quantity", "average_price", "realized_pnl", "fees_paid"]),
    "Order": _object({
        "client_order_id": STRING, "symbol": STRING, "side": {"type": "string", "enum": ["BUY", "SELL"]},
        "order_type": STRING, "quantity": DECIMAL, "price": NULLABLE_DECIMAL,
        "status": {"type": "string", "enum": list(ORDER_STATUSES)},
        "filled_quantity": DECIMAL, "quote_quantity": DECIMAL, "ts_created": NANOSECONDS, "ts_updated": NANOSECONDS,
        "strategy": STRING, "reject_reason": STRING,
    }, ["client_order_id", "symbol", "side", "order_type", "quantity", "status", "filled_quantity", "ts_updated"]),
    "Decision": _object({
        "id": {"type": "string", "description": "the decisions stream's entry id"},
        "ts": NANOSECONDS, "symbol": STRING, "strategy": STRING,
        "action": {"type": "string", "enum": ["BUY", "SELL", "HOLD"]},
        "strength": {"type": "number"}, "trigger": STRING, "reason": STRING, "price": NULLABLE_DECIMAL,
        "features": {"type": "object", "nullable": True, "additionalProperties": {"type": "number", "nullable": True}},
        "guard_level": LEVEL, "guard_level_name": LEVEL_NAME, "guard_action": STRING, "guard_reasons": STRINGS,
        "risk_outcome": STRING, "risk_text": STRING, "quantity": NULLABLE_DECIMAL,
        "order_id": NULLABLE_STRING, "order_status": NULLABLE_STRING, "reject_reason": NULLABLE_STRING,
    }, ["id", "ts", "symbol", "strategy", "action", "strength", "guard_level", "guard_level_name", "risk_outcome"]),
    "GuardVerdict": _object({
        "guard": STRING, "symbol": STRING, "level": LEVEL, "level_name": LEVEL_NAME, "reasons": STRINGS, "ts": NANOSECONDS,
    }, ["guard", "level", "level_name"]),
    "GuardAssessment": _object({
        "symbol": STRING, "ts": NANOSECONDS, "level": LEVEL, "level_name": LEVEL_NAME, "action": STRING,
        "recommendation": STRING, "reasons": STRINGS, "verdicts": {"type": "array", "items": _ref("GuardVerdict")},
    }),
    "ScanResult": _object({
        "symbol": STRING, "ts_event": NANOSECONDS, "ts_scan": NANOSECONDS, "last_price": DECIMAL, "change_pct": DECIMAL,
        "volatility_pct": NULLABLE_DECIMAL, "position_in_range": NULLABLE_DECIMAL, "spread_bps": NULLABLE_DECIMAL,
        "best_bid_price": DECIMAL, "best_ask_price": DECIMAL, "quote_volume": DECIMAL, "trade_count": COUNT,
        "risk_score": DECIMAL, "anomaly": LEVEL_NAME, "anomaly_reasons": STRINGS,
        "signal": {"type": "string", "enum": ["STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL"]},
    }, ["symbol", "last_price", "quote_volume", "anomaly", "signal"]),
    "Scanner": _object({
        "summary": {"type": "object", "nullable": True, "description": "docs/redis-layout.md, <ns>:scanner:summary"},
        "status": {"type": "object", "nullable": True, "description": "docs/redis-layout.md, <ns>:scanner:status"},
        "pairs": STRINGS,
        "results": {"type": "array", "items": _ref("ScanResult")},
    }),
    "Model": _object({
        "name": STRING, "loaded_version": NULLABLE_STRING, "registry_current": NULLABLE_STRING,
        "registry_error": NULLABLE_STRING, "refused_version": NULLABLE_STRING, "stale": {"type": "boolean"},
        "loaded_at_ns": NULLABLE_NANOSECONDS,
        "manifest": {"type": "object", "nullable": True, "description": "the loaded version's manifest: kind, windows, label, features, metrics"},
    }),
    "Alert": _object({
        "id": STRING, "kind": STRING, "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "message": STRING, "at_ns": NANOSECONDS, "details": {"type": "object", "additionalProperties": STRING},
    }, ["id", "kind", "severity", "message", "at_ns"]),
}


def _limit(default: int) -> dict[str, Any]:
    return {
        "name": "limit", "in": "query", "required": False,
        "description": f"how many to return, newest first (1-{MAXIMUM_LIMIT})",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAXIMUM_LIMIT, "default": default},
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


_API_ERRORS = {
    "400": _error("a query parameter is invalid (named in `detail`)"),
    "401": {**_error("missing, malformed or wrong bearer token"),
            "headers": {"WWW-Authenticate": {"schema": STRING, "description": "Bearer"}}},
    "503": _error("no API token configured (set TRADEBOT_API__TOKEN), or Redis unreachable"),
}


def _api_operation(operation_id: str, summary: str, body: dict[str, Any], parameters: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"get": {
        "operationId": operation_id, "summary": summary, "tags": ["api"],
        "parameters": list(parameters),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": body}}}, **_API_ERRORS},
    }}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": _ref(item)}})


PATHS: dict[str, Any] = {
    "/healthz": {"get": {
        "operationId": "health", "summary": "the process is alive", "tags": ["operations"], "security": [],
        "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": _ref("Health")}}}},
    }},
    "/readyz": {"get": {
        "operationId": "readiness", "tags": ["operations"], "security": [],
        "summary": "Redis reachable, market streams fresh, models loaded: 503 names every check that failed",
        "responses": {
            "200": {"description": "ready", "content": {"application/json": {"schema": _ref("Readiness")}}},
            "503": {"description": "not ready", "content": {"application/json": {"schema": _ref("Readiness")}}},
        },
    }},
    "/metrics": {"get": {
        "operationId": "metrics", "summary": "Prometheus metrics (docs/metrics.md)", "tags": ["operations"], "security": [],
        "responses": {"200": {"description": "the Prometheus text format", "content": {"text/plain": {"schema": STRING}}}},
    }},
    f"{API_PREFIX}/status": _api_operation("status", "account, TradingState and the size of the record", _ref("Status")),
    f"{API_PREFIX}/positions": _api_operation("positions", "open positions, by symbol", _list_of("positions", "Position")),
    f"{API_PREFIX}/orders": _api_operation(
        "orders", "orders, most recently updated first", _list_of("orders", "Order"),
        [{"name": "status", "in": "query", "required": False, "description": "only orders in this status",
          "schema": {"type": "string", "enum": list(ORDER_STATUSES)}}, _limit(100)],
    ),
    f"{API_PREFIX}/decisions": _api_operation(
        "decisions", "recent strategy signals and what guards and risk decided", _list_of("decisions", "Decision"), [_limit(100)]
    ),
    f"{API_PREFIX}/guards": _api_operation("guards", "each symbol's latest guard assessment", _list_of("guards", "GuardAssessment")),
    f"{API_PREFIX}/scanner": _api_operation("scanner", "the latest market scan, most traded pairs first", _ref("Scanner"), [_limit(50)]),
    f"{API_PREFIX}/models": _api_operation("models", "hot-loaded models and the registry's CURRENT", _list_of("models", "Model")),
    f"{API_PREFIX}/alerts": _api_operation("alerts", "recent alerts, newest first", _list_of("alerts", "Alert"), [_limit(100)]),
}


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tradebot",
            "version": version,
            "description": "Health, readiness, metrics and a read-only view of the trading record. "
                           "Money is exact decimal text; times are integer nanoseconds since the Unix epoch.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the token set in TRADEBOT_API__TOKEN"}},
        },
        "security": [{"bearer": []}],
    }
