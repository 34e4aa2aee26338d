"""Local order books kept in sync with the depth stream, and published to Redis.

Binance's procedure itself (buffer, snapshot, bridge, sequence checks) is the pure
`bot.domain.orderbook.BookSynchronizer`; this module does its I/O: fetching snapshots over REST,
retrying, and writing the top of each in-sync book to its Redis hash at most every 100 ms.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_writer import RedisStreamWriter
from bot.clock import Clock
from bot.domain.events import MILLISECONDS, DepthSnapshot, DepthUpdate, DepthUpdateText
from bot.domain.orderbook import BookGapError, BookSynchronizer, OrderBook, SyncState, Verdict
from bot.ingest.backfill import fetch_depth_snapshot
from bot.ingest.metrics import IngestMetrics
from bot.ingest.rest import RestError, RestGateway

log = structlog.get_logger(__name__)

_PUBLISH_INTERVAL_NS = 100 * MILLISECONDS
_LEVELS_PUBLISHED = 20
# How often an in-sync book is also written whole into the record (`depthSnapshot` stream), so
# that a reader starting from any point of retained history finds a recent book to start from.
CHECKPOINT_INTERVAL_NS = 300_000 * MILLISECONDS


class BookKeeper:
    def __init__(
        self,
        symbols: list[str],
        clock: Clock,
        rest: RestGateway,
        writer: RedisStreamWriter,
        keys: RedisKeys,
        metrics: IngestMetrics,
        snapshot_limit: int,
        listener: Callable[[OrderBook], None] | None = None,
        on_in_sync: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._rest = rest
        self._writer = writer
        self._keys = keys
        self._metrics = metrics
        self._snapshot_limit = snapshot_limit
        # Called after every diff applied to an in-sync book: consumers that need every book
        # state (guards, parity tests) listen here instead of polling the published hash.
        self._listener = listener
        self._on_in_sync = on_in_sync
        self._books = {symbol: BookSynchronizer(symbol) for symbol in symbols}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._published_ns: dict[str, int] = {}
        self._checkpointed_ns: dict[str, int] = {}

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def syncing(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    def publish_all(self) -> None:
        for symbol in self._books:
            self._publish(symbol, force=True)

    def offer(self, event: DepthUpdate | DepthUpdateText) -> None:
        sync = self._books.get(event.symbol)
        if sync is None:
            return
        if sync.offer(event) is Verdict.GAP:
            sync.reset()
            sync.offer(event)
        if sync.state is SyncState.LIVE:
            if self._listener is not None:
                self._listener(sync.book)
            self._publish(event.symbol)
            if event.ts_init - self._checkpointed_ns.get(event.symbol, 0) >= CHECKPOINT_INTERVAL_NS:
                self._record_snapshot(sync.book, event.ts_init)
        elif self._sync_running(event.symbol):
            pass  # the snapshot request in flight will bridge the buffered diffs
        elif sync.book.last_update_id >= 0:
            self._try_bridge(sync)  # a snapshot newer than the stream: wait for the stream to reach it
        else:
            self._start_sync(event.symbol)

    def _try_bridge(self, sync: BookSynchronizer) -> None:
        try:
            if sync.try_bridge():
                self._in_sync(sync.book.symbol)
        except BookGapError as error:
            log.warning("depth stream does not bridge the snapshot; fetching a new one", error=str(error))
            sync.reset()
            self._start_sync(sync.book.symbol)

    def _sync_running(self, symbol: str) -> bool:
        task = self._tasks.get(symbol)
        return task is not None and not task.done()

    def _start_sync(self, symbol: str) -> None:
        if not self._sync_running(symbol):
            self._tasks[symbol] = asyncio.create_task(self._sync(symbol), name=f"book-sync-{symbol}")

    async def _sync(self, symbol: str) -> None:
        sync = self._books[symbol]
        attempt = 0
        while sync.state is not SyncState.LIVE:
            attempt += 1
            try:
                snapshot = await fetch_depth_snapshot(self._rest, symbol, self._snapshot_limit)
            except RestError as error:
                log.error("depth snapshot failed; retrying", symbol=symbol, error=str(error))
                await asyncio.sleep(min(attempt, 10))
                continue
            if sync.snapshot_is_too_old(snapshot.last_update_id):
                await asyncio.sleep(0.05 * attempt)
                continue
            try:
                live = sync.load_snapshot(snapshot.last_update_id, snapshot.bids, snapshot.asks)
            except BookGapError as error:
                log.warning("snapshot and stream do not meet; fetching again", error=str(error))
                sync.reset()
                continue
            if live:
                self._in_sync(symbol)
            # Otherwise the stream has not yet reached the snapshot; offer() bridges later.
            return

    def _in_sync(self, symbol: str) -> None:
        self._metrics.book_resyncs.inc()
        log.info("order book in sync", symbol=symbol, last_update_id=self._books[symbol].book.last_update_id)
        if self._on_in_sync is not None:
            self._on_in_sync(symbol)
        self._record_snapshot(self._books[symbol].book, self._clock.now_ns())
        self._publish(symbol, force=True)

    def _record_snapshot(self, book: OrderBook, now: int) -> None:
        """Writes the whole in-sync book into the record: readers of the record rebuild their book
        from it plus the diffs after it, exactly as ingest did from the REST snapshot."""
        self._checkpointed_ns[book.symbol] = now
        bids, asks = book.top(len(book.bids) + len(book.asks))
        snapshot = DepthSnapshot(
            symbol=book.symbol, ts_event=now, ts_init=now, last_update_id=book.last_update_id,
            bids=tuple(bids), asks=tuple(asks),
        )
        self._writer.append(snapshot, 0)  # 0: not a received message, no receive-to-Redis latency

    def _publish(self, symbol: str, force: bool = False) -> None:
        sync = self._books.get(symbol)
        if sync is None or sync.state is not SyncState.LIVE:
            return
        now = self._clock.now_ns()
        if not force and now - self._published_ns.get(symbol, 0) < _PUBLISH_INTERVAL_NS:
            return
        self._published_ns[symbol] = now
        bids, asks = sync.book.top(_LEVELS_PUBLISHED)
        crossed = bool(bids and asks and bids[0][0] >= asks[0][0])  # broken data: say so
        self._writer.set_latest(self._keys.book(symbol), [
            "last_update_id", sync.book.last_update_id, "ts", now,
            "bids", _levels_text(bids), "asks", _levels_text(asks), "crossed", "1" if crossed else "0",
        ])


def _levels_text(levels: list[tuple[object, object]]) -> str:
    return "[" + ",".join(f'["{price}","{quantity}"]' for price, quantity in levels) + "]"
