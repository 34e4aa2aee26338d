"""The Redis record: exact round trips, ids that refuse duplicates, and no loss when Redis dies."""

import asyncio
import socket
from decimal import Decimal

import redis.asyncio

from bot.bus.redis_codec import decode_entry, encode_event
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis
from bot.bus.redis_writer import RedisStreamWriter
from bot.domain.events import DepthUpdate, EventKind, Trade

KEYS = RedisKeys("test")


def trade(trade_id: int, price: str = "61837.63000000", millisecond: int = 1_723_161_255_342) -> Trade:
    return Trade(symbol="BTCUSDT", ts_event=(millisecond + 1) * 1_000_000, ts_init=millisecond * 1_000_000 + 7,
                 trade_id=trade_id, price=Decimal(price), quantity=Decimal("0.02000000"), buyer_is_maker=True,
                 ts_trade=millisecond * 1_000_000)


async def write_all(writer: RedisStreamWriter, events) -> None:
    task = asyncio.create_task(writer.run())
    for event in events:
        writer.append(event, event.ts_init)
    await asyncio.wait_for(writer.drained(), 10)
    task.cancel()


async def test_round_trip_is_exact_and_ids_carry_time_and_sequence(redis_client):
    writer = RedisStreamWriter(redis_client, KEYS, {"trade": 1000})
    depth = DepthUpdate(symbol="BTCUSDT", ts_event=1_723_161_255_308_000_000, ts_init=1, first_update_id=50093239203,
                        final_update_id=50093239207, previous_final_update_id=-1,
                        bids=((Decimal("55653.87000000"), Decimal("0E-8")),), asks=())
    await write_all(writer, [trade(3735683259), trade(3735683260, "61837.64000000"), depth])
    entries = await redis_client.xrange(KEYS.stream("trade", "BTCUSDT"))
    assert [entry_id for entry_id, _ in entries] == [b"1723161255342-3735683259", b"1723161255342-3735683260"]
    decoded = [decode_entry(EventKind.TRADE, fields) for _, fields in entries]
    assert decoded == [trade(3735683259), trade(3735683260, "61837.64000000")]
    assert str(decoded[1].price) == "61837.64000000"
    (entry_id, fields), = await redis_client.xrange(KEYS.stream("depthUpdate", "BTCUSDT"))
    assert entry_id == b"1723161255308-50093239207"
    assert decode_entry(EventKind.DEPTH_UPDATE, fields) == depth
    latest = await redis_client.hgetall(KEYS.latest("trade", "BTCUSDT"))
    assert decode_entry(EventKind.TRADE, latest).trade_id == 3735683260


async def test_a_restart_resumes_after_the_last_entry_and_refuses_repeats(redis_client):
    first = RedisStreamWriter(redis_client, KEYS, {})
    await write_all(first, [trade(1), trade(2)])
    restarted = RedisStreamWriter(redis_client, KEYS, {})
    cursor = await restarted.load_cursor("trade", "BTCUSDT")
    assert (cursor.milliseconds, cursor.sequence) == (1_723_161_255_342, 2)
    await write_all(restarted, [trade(2), trade(3)])
    assert await redis_client.xlen(KEYS.stream("trade", "BTCUSDT")) == 3
    assert restarted.statistics.duplicates_refused == 1


async def test_streams_are_trimmed_to_about_their_maximum_length(redis_client):
    writer = RedisStreamWriter(redis_client, KEYS, {"trade": 100}, batch_size=50)
    await write_all(writer, [trade(index) for index in range(1, 1001)])
    length = await redis_client.xlen(KEYS.stream("trade", "BTCUSDT"))
    assert 100 <= length < 300  # MAXLEN ~ trims whole macro nodes, so a little more is kept


async def test_a_dead_redis_loses_nothing_and_the_backlog_is_written_when_it_returns(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    client = redis.asyncio.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    writer = RedisStreamWriter(client, KEYS, {})
    task = asyncio.create_task(writer.run())
    try:
        for trade_id in range(1, 101):
            writer.append(trade(trade_id), 0)
        await asyncio.wait_for(writer.drained(), 10)
        server.stop()  # Redis goes away mid-stream
        for trade_id in range(101, 301):
            writer.append(trade(trade_id), 0)
        await asyncio.sleep(0.5)
        assert writer.backlog > 0 and writer.statistics.batches_retried > 0
        server = EmbeddedRedis(tmp_path / "redis", port=port).start()  # same data directory: the AOF reloads
        await asyncio.wait_for(writer.drained(), 30)
        entries = await client.xrange(KEYS.stream("trade", "BTCUSDT"))
        assert [decode_entry(EventKind.TRADE, fields).trade_id for _, fields in entries] == list(range(1, 301))
    finally:
        task.cancel()
        await client.aclose()
        server.stop()


async def test_batches_keep_the_socket_timeout_of_pooled_connections_and_leave_in_one_write(redis_url):
    # The writer lifts redis-py's socket timeout while it holds a connection (applying it to the
    # whole round trip itself) and widens the socket's send buffer so a batch leaves in one write.
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=7.5)
    try:
        writer = RedisStreamWriter(client, KEYS, {}, batch_size=512)
        await write_all(writer, [trade(trade_id) for trade_id in range(1, 1501)])
        assert await client.xlen(KEYS.stream("trade", "BTCUSDT")) == 1500
        assert writer.statistics.batches_written >= 3
        pooled = list(client.connection_pool._available_connections)
        assert pooled and all(connection.socket_timeout == 7.5 for connection in pooled)
        sock = pooled[0]._writer.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 2 * 2**20  # Linux doubles what is set
    finally:
        await client.aclose()


def test_a_batch_is_the_same_command_hiredis_would_pack():
    """The writer lays out RESP itself (see the module's docstring); the bytes must be exactly what
    hiredis packs from the plain arguments, keys and non-ASCII payloads included."""
    import hiredis

    from bot.bus.redis_writer import _APPEND_SHA

    writer = RedisStreamWriter(None, KEYS, {"trade": 1000})
    events = [trade(3735683259), trade(3735683260, "61837.64000000")]
    for event in events:
        writer.append(event, event.ts_init)
    writer.append_audit(KEYS.gaps(), {"note": "é"}, max_length=7)
    batch = list(writer._pending)
    expected = hiredis.pack_command((
        "EVALSHA", _APPEND_SHA, 3, KEYS.stream("trade", "BTCUSDT"), KEYS.stream("trade", "BTCUSDT"), KEYS.gaps(),
        1000, "1723161255342-3735683259", encode_event(events[0]), 1000, "1723161255342-3735683260", encode_event(events[1]),
        7, "*", '{"note":"é"}'.encode(),
    ))
    assert RedisStreamWriter._append_command(batch) == expected
    assert [entry[-1] for entry in batch] == [events[0].ts_init, events[1].ts_init, 0]
