"""MarketStreamClient against the replay exchange over real loopback sockets: Binance's connection
rules (streams per connection, control-message rate, pings, the 24-hour hand-over, serverShutdown).

The exchange is the server; nothing of websockets is mocked. Numbers are chosen so each test runs in
a few seconds: lifetimes and timeouts are shortened, Binance's limits (1024 streams, 5 messages a
second) are not.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from bot.sim.timeline import Timeline, load_timeline

from stream_client_support import (
    BOOK_TICKER, BTC_RECORDING, BTC_STREAMS, DEPTH, TRADES, Recorder, fast_settings, replay_settings,
    running_client, server_connections,
)


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return load_timeline([BTC_RECORDING])


def with_fillers(total: int) -> list[str]:
    """The recording's streams plus valid names that simply carry no data in it."""
    return BTC_STREAMS + [f"xyz{number}usdt@trade" for number in range(total - len(BTC_STREAMS))]


def received_in_order(ids: list[int]) -> list[int]:
    """What downstream keeps after dropping duplicates (a sequencer keeps ids above the last one)."""
    kept: list[int] = []
    for trade_id in ids:
        if not kept or trade_id > kept[-1]:
            kept.append(trade_id)
    return kept


def first_recorded_trade_id(timeline: Timeline) -> int:
    return next(timeline.item_ids[index] for index, stream in enumerate(timeline.streams) if stream == TRADES)


async def test_2100_streams_are_sharded_over_three_connections_each_stream_subscribed_once(timeline: Timeline) -> None:
    streams = with_fillers(2_100)
    async with running_client(timeline, streams, fast_settings()) as run:
        assert [len(shard) for shard in run.client.shards] == [1024, 1024, 52]
        await run.until(lambda: sum(len(c.subscriptions) for c in server_connections(run.exchange)) == 2_100,
                        "every stream subscribed")
        await run.until(lambda: all(run.recorder.per_stream[name] for name in BTC_STREAMS), "data on the recorded streams")
        connections = server_connections(run.exchange)
        counters = run.exchange.counters
        assert len(connections) == 3
        assert sorted(len(connection.subscriptions) for connection in connections) == [52, 1024, 1024]
        subscribed = Counter(name for connection in connections for name in connection.subscriptions)
        assert set(subscribed) == set(streams)
        assert set(subscribed.values()) == {1}  # every stream on exactly one connection
        assert counters.connections_accepted == 3
        assert counters.stream_limit_violations == 0
        assert counters.control_message_limit_violations == 0
        assert counters.control_message_errors == 0
        assert run.recorder.events("reconnect") == run.recorder.events("connect_failed") == []


@pytest.mark.parametrize("per_second", [4, 5])
async def test_subscribe_batches_are_paced_under_five_messages_in_any_sliding_second(timeline: Timeline, per_second: int) -> None:
    # 13 batches of 10: the first in the URL, 12 SUBSCRIBE messages. At 4 a second, counting the
    # opening handshake, the last goes out 3 s after connecting.
    streams = with_fillers(130)
    settings = fast_settings(streams_per_subscribe=10, control_messages_per_second=per_second)
    async with running_client(timeline, streams, settings) as run:
        started = time.monotonic()
        seen: list[float] = []  # when the server saw each SUBSCRIBE take effect (10 streams each)
        subscribed = 0
        while subscribed < 130:
            await run.until(lambda: any(len(c.subscriptions) != subscribed for c in server_connections(run.exchange)),
                            "the next batch", timeout=2.0)
            now = time.monotonic()
            count = len(server_connections(run.exchange)[0].subscriptions)
            seen += [now] * ((count - subscribed) // 10)
            subscribed = count
        elapsed = time.monotonic() - started
        counters = run.exchange.counters
        assert counters.control_message_limit_violations == 0
        assert counters.control_messages_received == 12
        assert counters.connections_accepted == 1
    subscribe_times = seen[1:]  # seen[0] is the URL batch
    # Seen from outside too: never more than `per_second` inside one second (5 ms of polling slack).
    assert all(later - earlier > 0.99 for earlier, later in zip(subscribe_times, subscribe_times[per_second:]))
    # (12 + 1 handshake) messages at 4/s; 12 at 5/s (handshake counted), in windows of 1.05 s
    expected = {4: 3.15, 5: 2.1}[per_second]
    assert expected - 0.05 <= elapsed <= expected + 0.6


async def test_a_client_sending_too_fast_is_caught_and_does_not_hang_on_the_closed_connection(timeline: Timeline) -> None:
    """The counter the other tests read does fire: ten a second breaks Binance's rule."""
    settings = fast_settings(streams_per_subscribe=10, control_messages_per_second=10, open_timeout_seconds=10.0)
    async with running_client(timeline, with_fillers(130), settings) as run:
        await run.until(lambda: run.exchange.counters.control_message_limit_violations > 0, "a violation", timeout=3.0)
        violated = time.monotonic()
        # The exchange closed the connection (1008) under a pending SUBSCRIBE: the client must
        # notice at once rather than wait out open_timeout for a reply that cannot come.
        await run.until(lambda: run.recorder.events("connect_failed"), "connect_failed", timeout=1.0)
        assert run.recorder.events("connect_failed")[0][0] - violated < 0.5


async def test_server_pings_are_answered_and_the_connection_stays_up(timeline: Timeline) -> None:
    quick_pings = replay_settings(ping_interval_s=0.2, pong_timeout_s=0.3, close_timeout_s=0.3)
    async with running_client(timeline, BTC_STREAMS, fast_settings(), quick_pings) as run:
        await run.until(lambda: server_connections(run.exchange), "a connection")
        server_side = server_connections(run.exchange)[0]
        await run.run_for(3.0)  # 15 pings
        before = len(run.recorder.messages)
        await run.run_for(0.2)
        assert len(run.recorder.messages) > before  # still receiving
        assert server_side.websocket.latency > 0  # the server measured a pong
        counters = run.exchange.counters
        assert counters.pong_timeouts == 0
        assert counters.connections_accepted == 1 and counters.connections_closed == 0
        assert run.recorder.events("reconnect") == []


async def test_connections_are_replaced_before_their_lifetime_with_overlap_and_no_trade_missed(timeline: Timeline) -> None:
    settings = fast_settings(connection_lifetime_seconds=1.0)
    async with running_client(timeline, BTC_STREAMS, settings) as run:
        most_open = 0
        deadline = time.monotonic() + 3.5  # hand-overs near 1, 2 and 3 s: stop well between two
        while time.monotonic() < deadline:
            most_open = max(most_open, len(server_connections(run.exchange)))
            await run.run_for(0.002)
        counters = run.exchange.counters
    handovers = run.recorder.events("handover")
    assert len(handovers) == 3
    assert {detail for *_, detail in handovers} == {"lifetime"}
    assert run.recorder.events("reconnect") == []
    assert counters.connections_accepted == len(handovers) + 1
    assert most_open == 2  # the replacement was up before the old one closed
    stamped = [(message.stream, message.event.ts_event) for _, message in run.recorder.messages if message.stream != BOOK_TICKER]
    assert len(stamped) > len(set(stamped))  # and both delivered for a while: overlap duplicates
    ids = run.recorder.trade_ids()
    kept = received_in_order(ids)
    assert kept[0] == first_recorded_trade_id(timeline)
    assert kept == list(range(kept[0], kept[-1] + 1))  # none missed
    assert len(kept) > 500


async def test_hand_over_loses_nothing_when_the_consumer_lags_behind(timeline: Timeline) -> None:
    """Downstream congestion (on_message answering True) makes the client read slower than the
    exchange sends, so at hand-over time the old connection still holds frames sent before the new
    one subscribed. They must be read, not thrown away with the old socket, and the new connection
    must not deliver ahead of them: a sequencer would take that for a gap (and a depth gap cannot
    be fetched again)."""
    recorder = Recorder(congested=True)

    async def slow_downstream() -> None:
        await asyncio.sleep(0.0005)

    settings = fast_settings(connection_lifetime_seconds=0.7)
    async with running_client(timeline, [TRADES, DEPTH], settings, recorder=recorder, drained=slow_downstream) as run:
        await run.until(lambda: len(run.recorder.events("handover")) >= 3, "three hand-overs", timeout=6.0)
        await run.run_for(0.5)
        counters = run.exchange.counters
    assert counters.slow_consumer_disconnects == 0
    kept = received_in_order(run.recorder.trade_ids())
    assert kept == list(range(kept[0], kept[-1] + 1))
    depth = [message.event for _, message in run.recorder.messages if message.stream == DEPTH]
    depth_kept = received_in_order([event.final_update_id for event in depth])  # type: ignore[attr-defined]
    by_final = {event.final_update_id: event for event in depth}  # type: ignore[attr-defined]
    assert all(by_final[later].first_update_id == earlier + 1 for earlier, later in zip(depth_kept, depth_kept[1:]))


async def test_a_replacement_subscribing_in_many_batches_under_a_busy_stream_hands_over_cleanly(timeline: Timeline) -> None:
    """At 100x the recorded streams bring ~14,000 messages a second while the replacement sends 6
    SUBSCRIBE messages (about 1 s): it holds more than it may keep in memory before it has all
    its replies, and must keep reading to get them."""
    settings = fast_settings(streams_per_subscribe=1, connection_lifetime_seconds=1.2)
    async with running_client(timeline, with_fillers(7), settings, replay_settings(speed=100.0)) as run:
        await run.until(lambda: run.recorder.events("handover"), "a hand-over", timeout=3.0)
        await run.until(lambda: run.exchange.counters.connections_accepted == 2 and run.exchange.counters.connections_closed == 1,
                        "the old connection closed", timeout=4.0)
        counters = run.exchange.counters
        assert counters.control_message_limit_violations == 0 and counters.slow_consumer_disconnects == 0
    assert run.recorder.events("connect_failed") == run.recorder.events("reconnect") == []
    kept = received_in_order(run.recorder.trade_ids())
    assert kept == list(range(kept[0], kept[-1] + 1))
