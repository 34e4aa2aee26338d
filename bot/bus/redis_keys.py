"""Redis key names, in one place. docs/redis-layout.md describes the same layout for people."""

from __future__ import annotations

from bot.domain.events import Kline, MarketEvent


def channel_of(event: MarketEvent) -> str:
    """The per-symbol channel an event belongs to: its kind, with the interval for klines."""
    if isinstance(event, Kline):
        return f"kline_{event.interval}"
    return event.kind.value


class RedisKeys:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def stream(self, channel: str, symbol: str) -> str:
        """The durable, ordered record of one channel, e.g. `tradebot:stream:trade:BTCUSDT`."""
        return f"{self.namespace}:stream:{channel}:{symbol}"

    def latest(self, channel: str, symbol: str) -> str:
        """A hash holding the newest event of a channel (for klines: the still-open bar too)."""
        return f"{self.namespace}:latest:{channel}:{symbol}"

    def book(self, symbol: str) -> str:
        """A hash with the top of the locally rebuilt order book."""
        return f"{self.namespace}:book:{symbol}"

    def meta(self) -> str:
        """A hash describing the namespace itself: `venue`, the exchange whose record it holds."""
        return f"{self.namespace}:meta"

    def daemon_lock(self, role: str) -> str:
        """The lease of the daemon running `role` (`ingest`, `engine`) on the namespace: its owner
        id `host:pid:random`, with a TTL. One per role: ingest and engine may be two processes."""
        return f"{self.namespace}:daemon:lock:{role}"

    def daemon_lock_since(self, role: str) -> str:
        """When that lease's owner took it (integer ns since the epoch); lives and dies with it."""
        return f"{self.namespace}:daemon:lock:{role}:since"

    def daemon_prefix(self) -> str:
        """The prefix of the daemon's own bookkeeping keys, which claim_namespace leaves alone."""
        return f"{self.namespace}:daemon:"

    def alerts(self) -> str:
        """A stream of every alert sent (bot.alerts): orders, guards, trading state, models, streams."""
        return f"{self.namespace}:alerts"

    def telegram_offset(self) -> str:
        """The id after the last Telegram update handled, so a restart repeats no command."""
        return f"{self.namespace}:alerts:telegram_offset"

    def daily_summary(self) -> str:
        """A hash: the day the last daily summary covered and the equity it ended on."""
        return f"{self.namespace}:alerts:daily_summary"

    def model_channel(self, name: str) -> str:
        """Pub/sub channel announcing a newly promoted version of model `name`."""
        return f"{self.namespace}:models:{name}"

    def nightly_lock(self) -> str:
        """The lock that keeps nightly pipeline runs (scheduled or `tradebot train`) one at a time."""
        return f"{self.namespace}:nightly:lock"

    def nightly_last_run(self) -> str:
        """A hash with the last nightly run's report (`report`, JSON) and when it finished."""
        return f"{self.namespace}:nightly:last_run"

    def gaps(self) -> str:
        """A stream auditing every gap found in the market data and how it was repaired."""
        return f"{self.namespace}:ingest:gaps"

    # ---- the history lake's archive (docs/redis-layout.md, "Archive") ----

    def archive_cursors(self) -> str:
        """A hash: stream key -> id of the last entry stored in the lake's raw layer."""
        return f"{self.namespace}:archive:cursors"

    def archive_audit(self) -> str:
        """A stream auditing entries that left a stream (trimmed) before they were archived."""
        return f"{self.namespace}:archive:audit"

    def archive_status(self) -> str:
        """A hash with the archive's running totals and its last pass."""
        return f"{self.namespace}:archive:status"

    # ---- the engine and its ledger (docs/redis-layout.md, "Engine and ledger") ----

    def decisions(self) -> str:
        """A stream with one entry per strategy signal and what was decided about it."""
        return f"{self.namespace}:engine:decisions"

    def engine_snapshots(self) -> str:
        """A hash of the engine's money state (portfolio, broker, risk, trading state) as JSON."""
        return f"{self.namespace}:engine:snapshots"

    def commands(self) -> str:
        """A stream of operator commands (halt, reduce, resume) for the engine."""
        return f"{self.namespace}:engine:commands"

    def orders(self) -> str:
        """A hash: client order id -> the order's latest state (JSON)."""
        return f"{self.namespace}:ledger:orders"

    def fills(self) -> str:
        """A stream of every fill, in the order booked."""
        return f"{self.namespace}:ledger:fills"

    def positions(self) -> str:
        """A hash: symbol -> open position (JSON)."""
        return f"{self.namespace}:ledger:positions"

    def balances(self) -> str:
        """A hash: asset -> cash balance (decimal string)."""
        return f"{self.namespace}:ledger:balances"

    def account(self) -> str:
        """A hash: equity, PnL, fees, trading state and its reason, as of the last commit."""
        return f"{self.namespace}:ledger:account"

    def state_changes(self) -> str:
        """A stream of TradingState transitions with their cause."""
        return f"{self.namespace}:ledger:state_changes"

    def assessments(self) -> str:
        """A hash: symbol -> the guards' latest assessment and recommendation (JSON)."""
        return f"{self.namespace}:guards:assessments"
    # -- the market scanner (bot.scanner.service) ---------------------------------------------------

    def scanner_symbol(self, symbol: str) -> str:
        """A hash with one scanned pair's figures, e.g. `tradebot:scanner:symbol:BTCUSDT`."""
        return f"{self.namespace}:scanner:symbol:{symbol}"

    def scanner_index(self) -> str:
        """A sorted set of the scanned pairs, scored by 24 h quote volume (for ranking only)."""
        return f"{self.namespace}:scanner:index"

    def scanner_summary(self) -> str:
        """A hash with the latest scan's market breadth, gainers and losers."""
        return f"{self.namespace}:scanner:summary"

    def scanner_pairs(self) -> str:
        """A list: the dynamic pair list of the latest scan, in order."""
        return f"{self.namespace}:scanner:pairs"

    def scanner_status(self) -> str:
        """A hash with the scanner's refresh health: last attempt, last success, failures."""
        return f"{self.namespace}:scanner:status"

