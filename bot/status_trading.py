"""The trading half of `tradebot status`: account, positions, open orders, guards, decisions.

Reads only what the engine's ledger committed (bot.engine.ledger), so it shows the state a
restarted daemon would resume from.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import redis
from rich.console import Console
from rich.table import Table

from bot.bus.redis_keys import RedisKeys


def _json(raw: bytes) -> dict:
    return msgspec.json.decode(raw)


def _amount(text: str | None) -> str:
    """An exact ledger amount shown to Binance's 8 decimals, trailing zeros dropped."""
    if not text:
        return "-"
    value = Decimal(text)
    if value.as_tuple().exponent < -8:
        value = value.quantize(Decimal("0.00000001"))
    return format(value.normalize(), "f")


def show_trading(client: redis.Redis, keys: RedisKeys, console: Console) -> None:
    account = {key.decode(): value.decode() for key, value in client.hgetall(keys.account()).items()}
    if not account:
        console.print("trading: the engine has not committed anything yet")
        return
    state = account["trading_state"]
    colour = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "red"}.get(state, "white")
    reason = f" ({account['state_reason']})" if account.get("state_reason") else ""
    console.print(
        f"[bold]TradingState[/] [{colour}]{state}[/]{reason}   equity {account['equity']}   cash {account['cash']}   "
        f"positions {account['position_value']}   realized PnL {account['realized_pnl']}   "
        f"unrealized PnL {account['unrealized_pnl']}   fees {account['fees_paid']}"
    )
    balances = {asset.decode(): amount.decode() for asset, amount in client.hgetall(keys.balances()).items()}
    console.print("balances: " + (", ".join(f"{asset} {_amount(amount)}" for asset, amount in sorted(balances.items())) or "none"))
    positions = Table("symbol", "quantity", "average price", "stop", "realized PnL", "fees")
    for symbol, raw in sorted(client.hgetall(keys.positions()).items()):
        position = _json(raw)
        positions.add_row(symbol.decode(), _amount(position["quantity"]), _amount(position["average_price"]),
                          _amount(position.get("stop_price")), _amount(position["realized_pnl"]), _amount(position["fees_paid"]))
    console.print(positions if positions.row_count else "positions: none open")
    orders = [_json(raw) for raw in client.hgetall(keys.orders()).values()]
    open_orders = [order for order in orders if order["status"] in ("NEW", "PARTIALLY_FILLED")]
    by_status: dict[str, int] = {}
    for order in orders:
        by_status[order["status"]] = by_status.get(order["status"], 0) + 1
    console.print("orders: " + (", ".join(f"{count} {status}" for status, count in sorted(by_status.items())) or "none")
                  + f"; fills: {client.xlen(keys.fills())}; decisions: {client.xlen(keys.decisions())}")
    if open_orders:
        table = Table("open order", "symbol", "side", "type", "price", "quantity", "filled")
        for order in sorted(open_orders, key=lambda order: order["ts_created"]):
            table.add_row(order["client_order_id"], order["symbol"], order["side"], order["order_type"],
                          str(order.get("price") or "-"), order["quantity"], order["filled_quantity"])
        console.print(table)
    guards = Table("symbol", "guard level", "recommendation", "reasons")
    for symbol, raw in sorted(client.hgetall(keys.assessments()).items()):
        assessment = _json(raw)
        level = ["NORMAL", "LOW", "MODERATE", "HIGH", "CRITICAL"][assessment["level"]]
        guards.add_row(symbol.decode(), level, assessment["recommendation"], "; ".join(assessment["reasons"][:3]) or "-")
    if guards.row_count:
        console.print(guards)
