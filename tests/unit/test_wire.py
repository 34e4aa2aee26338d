"""Wire frames -> typed events: exact values, and every kind of bad frame named and skipped."""

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from bot.bus.redis_codec import decode_event, encode_event, entry_id_parts
from bot.domain.events import AggTrade, BookTicker, DepthUpdate, DepthUpdateText, EventKind, Kline, MiniTicker, Ticker, Trade
from bot.ingest.wire import ControlReply, FrameDecoder, FrameError, ServerShutdown, plain_numerals, stream_kind
from bot.sim.timeline import load_timeline

DECODER = FrameDecoder()
RECEIVED_NS = 1_723_161_256_000_000_123

# Real frames from the recordings in bot/sim/recordings (BTCUSDT 2024-08-08, NKNUSDT 2021-10-12).
TRADE = b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}'
BOOK_TICKER = b'{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
DEPTH = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}'


def test_trade_keeps_exact_strings_and_both_times_in_nanoseconds():
    message = DECODER.decode(TRADE, RECEIVED_NS)
    trade = message.event
    assert isinstance(trade, Trade)
    assert message.stream == "btcusdt@trade"
    assert str(trade.price) == "61837.63000000" and str(trade.quantity) == "0.02000000"
    assert trade.trade_id == 3735683259 and trade.buyer_is_maker is True
    assert trade.ts_event == 1723161255343 * 1_000_000
    assert trade.ts_trade == 1723161255342 * 1_000_000
    assert trade.ts_init == RECEIVED_NS


def test_book_ticker_without_exchange_time_falls_back_to_receive_time():
    ticker = DECODER.decode(BOOK_TICKER, RECEIVED_NS).event
    assert isinstance(ticker, BookTicker)
    assert ticker.update_id == 50093239212
    assert (str(ticker.bid_price), str(ticker.ask_quantity)) == ("61837.63000000", "1.54698000")
    assert ticker.ts_event == ticker.ts_init == RECEIVED_NS


def test_depth_update_levels_are_exact_decimals():
    depth = DECODER.decode(DEPTH, RECEIVED_NS).event
    assert isinstance(depth, DepthUpdate)
    assert (depth.first_update_id, depth.final_update_id, depth.previous_final_update_id) == (50093239203, 50093239207, -1)
    assert depth.bids == ((Decimal("55653.87000000"), Decimal("0E-8")),)
    assert [str(price) for price, _ in depth.asks] == ["61838.04000000", "61844.30000000"]


def test_agg_trade_kline_and_tickers():
    agg = DECODER.decode(b'{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998513149,"s":"NKNUSDT","a":25476166,"p":"0.35290000","q":"116.00000000","f":33591117,"l":33591117,"T":1633998513148,"m":false,"M":true}}', 1).event
    assert isinstance(agg, AggTrade) and agg.agg_trade_id == 25476166 and str(agg.price) == "0.35290000"
    kline = DECODER.decode(b'{"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1633998514003,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":33591100,"L":33591118,"o":"0.35200000","c":"0.35290000","h":"0.35300000","l":"0.35190000","v":"25345.00000000","n":19,"x":false,"q":"8932.18130000","V":"10394.00000000","Q":"3665.18010000","B":"0"}}}', 1).event
    assert isinstance(kline, Kline) and kline.interval == "1m" and not kline.is_closed
    assert kline.open_time == 1633998480000 * 1_000_000 and str(kline.quote_volume) == "8932.18130000"
    mini = DECODER.decode(b'{"stream":"btcusdt@miniTicker","data":{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1.0","o":"2.0","h":"3.0","l":"0.5","v":"10","q":"20"}}', 1).event
    assert isinstance(mini, MiniTicker) and str(mini.open_price) == "2.0"
    ticker = DECODER.decode(b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1,"s":"BTCUSDT","p":"1","P":"2","w":"3","x":"4","c":"5","Q":"6","b":"7","B":"8","a":"9","A":"10","o":"11","h":"12","l":"13","v":"14","q":"15","O":0,"C":86400000,"F":0,"L":18150,"n":18151}}', 1).event
    assert isinstance(ticker, Ticker) and ticker.trade_count == 18151 and ticker.close_time == 86_400_000 * 1_000_000


def test_control_replies_and_server_shutdown():
    assert DECODER.decode(b'{"result":null,"id":3}', 1) == ControlReply(id=3, result=None)
    assert DECODER.decode(b'{"result":["btcusdt@trade"],"id":4}', 1).result == ["btcusdt@trade"]
    assert DECODER.decode(b'{"error":{"code":2,"msg":"Invalid request"},"id":5}', 1).error == {"code": 2, "msg": "Invalid request"}
    assert DECODER.decode(b'{"e":"serverShutdown","E":1723161255000}', 1) == ServerShutdown(ts_event=1723161255000 * 1_000_000)


@pytest.mark.parametrize(
    ("frame", "reason", "kind"),
    [
        (TRADE[:60], "malformed_json", "unknown"),
        (b"\xff\xfe", "malformed_json", "unknown"),
        (b'{"stream":"\xff\xfe@trade","data":{}}', "malformed_json", "unknown"),
        (TRADE.replace(b"BTCUSDT", b"BTC\xffUSDT"), "malformed_json", "unknown"),
        (TRADE.replace(b'"data":{', b'"data":').replace(b"}}", b"}"), "malformed_json", "unknown"),
        (b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder"}}', "unknown_event", "unknown"),
        (TRADE.replace(b'"e":"trade"', b'"e":"aggTrade"'), "unknown_event", "trade"),
        (b'{"hello":"world"}', "unknown_event", "unknown"),
        (TRADE.replace(b',"m":true', b""), "missing_field", "trade"),
        (b'{"stream":"btcusdt@trade"}', "missing_field", "unknown"),
        (TRADE.replace(b'"t":3735683259', b'"t":"3735683259"'), "wrong_type", "trade"),
        (b"[1,2,3]", "wrong_type", "unknown"),
        (TRADE.replace(b'"p":"61837.63000000"', b'"p":"sixty"'), "invalid_value", "trade"),
        (TRADE.replace(b'"p":"61837.63000000"', b'"p":"NaN"'), "invalid_value", "trade"),
    ],
)
def test_every_kind_of_bad_frame_is_a_named_error(frame, reason, kind):
    with pytest.raises(FrameError) as caught:
        DECODER.decode(frame, 1)
    assert (caught.value.reason, caught.value.kind) == (reason, kind)
    assert caught.value.sample == frame[:120]


def test_stream_kinds():
    assert stream_kind("btcusdt@depth@100ms") == "depthUpdate"
    assert stream_kind("btcusdt@depth") == "depthUpdate"
    assert stream_kind("btcusdt@kline_1h") == "kline"
    assert stream_kind("btcusdt@markPrice") is None


def test_book_ticker_with_a_foreign_event_type_is_unknown():
    with pytest.raises(FrameError) as caught:
        DECODER.decode(BOOK_TICKER.replace(b'"data":{', b'"data":{"e":"depthUpdate",'), 1)
    assert (caught.value.reason, caught.value.kind) == ("unknown_event", "bookTicker")
    futures = DECODER.decode(BOOK_TICKER.replace(b'"data":{', b'"data":{"e":"bookTicker","E":1723161255000,'), 1).event
    assert futures.ts_event == 1723161255000 * 1_000_000


TEXT_DECODER = FrameDecoder(prices_as_text=True)


def test_depth_as_text_keeps_the_exchange_text_and_encodes_to_the_same_record():
    text = TEXT_DECODER.decode(DEPTH, RECEIVED_NS).event
    assert isinstance(text, DepthUpdateText)
    assert text.bids == (("55653.87000000", "0.00000000"),)
    assert text.asks == (("61838.04000000", "0.32332000"), ("61844.30000000", "0.40163000"))
    exact = DECODER.decode(DEPTH, RECEIVED_NS).event
    assert text.to_event() == exact
    # The record read back is the Decimal event, whichever form was written.
    assert decode_event(EventKind.DEPTH_UPDATE, encode_event(text)) == exact
    assert entry_id_parts(text) == entry_id_parts(exact)


NOT_PLAIN = ["sixty", "NaN", "Infinity", "-1.0", "1e5", "1.2.3", "", ".", " 1.0", "1,0", "١٢", "1|2", "1..", "..1"]


# Without streams every frame takes the full numeral check; with them, depth diffs in Binance's
# exact shape are vouched for by their bytes (bot.ingest.shapes): both must refuse the same values.
STREAMS = ["btcusdt@trade", "btcusdt@bookTicker", "btcusdt@depth@100ms", "btcusdt@kline_1m"]
TEXT_DECODERS = pytest.mark.parametrize("decoder", [TEXT_DECODER, FrameDecoder(prices_as_text=True, streams=STREAMS)], ids=["checked", "shapes"])


@TEXT_DECODERS
@pytest.mark.parametrize("bad", NOT_PLAIN)
def test_depth_as_text_refuses_what_is_not_a_plain_number(bad, decoder):
    frame = DEPTH.replace(b'"0.32332000"', msgspec.json.encode(bad))
    with pytest.raises(FrameError) as caught:
        decoder.decode(frame, 1)
    assert (caught.value.reason, caught.value.kind) == ("invalid_value", "depthUpdate")


@TEXT_DECODERS
@pytest.mark.parametrize("bad", NOT_PLAIN)
@pytest.mark.parametrize(("frame", "value", "kind"), [
    (TRADE, b'"61837.63000000"', "trade"), (TRADE, b'"0.02000000"', "trade"),
    (BOOK_TICKER, b'"61837.63000000"', "bookTicker"), (BOOK_TICKER, b'"1.54698000"', "bookTicker"),
])
def test_trades_and_book_tickers_as_text_refuse_what_is_not_a_plain_number(frame, value, kind, bad, decoder):
    with pytest.raises(FrameError) as caught:
        decoder.decode(frame.replace(value, msgspec.json.encode(bad)), 1)
    assert (caught.value.reason, caught.value.kind) == ("invalid_value", kind)


@TEXT_DECODERS
@pytest.mark.parametrize("good", ["5.", ".5", "100", "0"])
def test_plain_forms_without_binance_s_point_are_taken_by_either_check(good, decoder):
    frame = BOOK_TICKER.replace(b'"1.54698000"', msgspec.json.encode(good))
    assert decoder.decode(frame, 1).event.ask_quantity == good


STREAMS_DECODER = FrameDecoder(prices_as_text=True, streams=STREAMS)


def test_known_streams_decode_whole_to_the_same_messages_and_the_same_errors():
    """A decoder told its streams decodes their frames in one call (a tagged union); what it
    returns, and every error it raises, must be what the general paths give."""
    frames = [TRADE, BOOK_TICKER, DEPTH, TRADE.replace(b"btcusdt@trade", b"ethusdt@trade").replace(b'"BTCUSDT"', b'"ETHUSDT"')]
    for frame in frames:
        assert STREAMS_DECODER.decode(frame, RECEIVED_NS) == TEXT_DECODER.decode(frame, RECEIVED_NS)
    assert STREAMS_DECODER.decode(b'{"result":null,"id":7}', 1) == ControlReply(id=7, result=None)
    bad_frames = {
        TRADE.replace(b'"0.02000000"', b'"-1"'): ("invalid_value", "trade"),
        TRADE.replace(b'"t":3735683259,', b""): ("missing_field", "trade"),
        TRADE.replace(b'"t":3735683259', b'"t":"3735683259"'): ("wrong_type", "trade"),
        TRADE.replace(b'"e":"trade"', b'"e":"aggTrade"'): ("unknown_event", "trade"),
        BOOK_TICKER[:-20]: ("malformed_json", "unknown"),
        b'{"stream":"btcusdt@bookTicker"}': ("missing_field", "unknown"),
    }
    for frame, (reason, kind) in bad_frames.items():
        with pytest.raises(FrameError) as caught:
            STREAMS_DECODER.decode(frame, 1)
        assert (caught.value.reason, caught.value.kind) == (reason, kind), frame


def test_a_decoder_told_its_streams_takes_the_one_call_path_for_their_frames(monkeypatch):
    """The equivalence above holds whichever path answered; this one fails if the tagged-union
    call were skipped: every other way out of decode() is made to fail."""
    decoder = FrameDecoder(prices_as_text=True, streams=STREAMS)

    def elsewhere(*arguments):
        raise AssertionError("decoded by the byte-slicing or the general path, not the one-call union")

    monkeypatch.setattr(decoder, "_decode_general", elsewhere)
    monkeypatch.setattr(decoder, "_schema_for", lambda stream: None)
    decoder._schemas.clear()  # noqa: SLF001 - nothing cached for the byte-slicing path either
    for frame in (TRADE, BOOK_TICKER, DEPTH):
        assert decoder.decode(frame, RECEIVED_NS) == TEXT_DECODER.decode(frame, RECEIVED_NS)
    with pytest.raises(AssertionError, match="not the one-call union"):
        decoder.decode(TRADE.replace(b"btcusdt@trade", b"ethusdt@trade").replace(b'"BTCUSDT"', b'"ETHUSDT"'), 1)


def test_every_recorded_frame_as_text_is_the_decimal_event_and_the_same_record():
    """Over the whole bundled BTCUSDT recording: the text events the ingest path records are, read
    back, exactly the Decimal events, with the same entry id."""
    from bot.config.sections import DEFAULT_RECORDING

    timeline = load_timeline([DEFAULT_RECORDING])
    kinds = set()
    for frame in timeline.frames:
        if not frame.startswith(b'{"stream"'):
            continue
        text, exact = TEXT_DECODER.decode(frame, RECEIVED_NS).event, DECODER.decode(frame, RECEIVED_NS).event
        assert STREAMS_DECODER.decode(frame, RECEIVED_NS).event == text
        kinds.add(type(text).__name__)
        assert text.to_event() == exact
        # (Not always the same bytes: Decimal writes a zero "0.00000000" as "0E-8"; text keeps the exchange's.)
        assert decode_event(exact.kind, encode_event(text)) == exact
        assert entry_id_parts(text) == entry_id_parts(exact)
    assert kinds == {"TradeText", "BookTickerText", "DepthUpdateText"}


def test_plain_numerals_take_the_forms_binance_writes():
    assert plain_numerals((("61837.63000000", "0.00000000"), ("100", "0")), (("1.", ".5"),))
    assert plain_numerals((), ())


OHLCV_ONLY = Path(__file__).parents[1] / "data" / "spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv"


def test_a_kline_without_taker_columns_decodes_to_none_and_round_trips_through_redis():
    """The replay exchange serves a klines file whose quote volume, trade count and taker columns
    are empty (real 2024-03-01 BTCUSDT OHLCV) as null q/n/V/Q: they become None, never 0."""
    timeline = load_timeline([OHLCV_ONLY])
    first_row = OHLCV_ONLY.read_text().splitlines()[1].split(",")
    frames = [frame for frame in timeline.frames if b'"x":true' in frame]
    assert len(frames) == 1440
    assert b'"n":null' in frames[0] and b'"q":null,"V":null,"Q":null' in frames[0]
    kline = DECODER.decode(frames[0], RECEIVED_NS).event
    assert isinstance(kline, Kline) and kline.is_closed
    assert (kline.quote_volume, kline.trade_count, kline.taker_buy_base_volume, kline.taker_buy_quote_volume) == (None, None, None, None)
    assert [str(kline.open), str(kline.close), str(kline.volume)] == [first_row[1], first_row[4], first_row[5]]
    assert kline.open_time == int(first_row[0]) * 1_000_000
    record = encode_event(kline)
    assert b'"quote_volume":null,"trade_count":null,"taker_buy_base_volume":null,"taker_buy_quote_volume":null' in record
    assert decode_event(EventKind.KLINE, record) == kline
    # Every bar of the day decodes the same way.
    decoded = [DECODER.decode(frame, RECEIVED_NS).event for frame in frames]
    assert all(bar.taker_buy_base_volume is None and bar.trade_count is None for bar in decoded)


def test_a_kline_with_taker_columns_still_refuses_a_non_finite_taker_volume():
    kline = b'{"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1633998514003,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":33591100,"L":33591118,"o":"0.35200000","c":"0.35290000","h":"0.35300000","l":"0.35190000","v":"25345.00000000","n":19,"x":false,"q":"8932.18130000","V":"10394.00000000","Q":"3665.18010000","B":"0"}}}'
    decoded = DECODER.decode(kline, 1).event
    assert decoded.taker_buy_base_volume == Decimal("10394.00000000") and decoded.trade_count == 19
    assert decode_event(EventKind.KLINE, encode_event(decoded)) == decoded
    with pytest.raises(FrameError) as caught:
        DECODER.decode(kline.replace(b'"V":"10394.00000000"', b'"V":"NaN"'), 1)
    assert caught.value.reason == "invalid_value"
    with pytest.raises(FrameError) as caught:
        DECODER.decode(kline.replace(b'"V":"10394.00000000",', b""), 1)
    assert caught.value.reason == "missing_field"


def test_the_sequence_fields_read_what_sequence_reads_and_give_the_same_entry_ids():
    """SEQUENCE_FIELDS (the hot paths' direct reads) must name the field each event's `sequence`
    property reads, and the writer's per-channel entry ids must be entry_id_parts'."""
    from bot.bus.redis_codec import entry_id_parts_of
    from bot.bus.redis_keys import channel_of
    from bot.domain.events import SEQUENCE_FIELDS, DepthSnapshot

    agg = b'{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998513149,"s":"NKNUSDT","a":25476166,"p":"0.35290000","q":"116.00000000","f":33591117,"l":33591117,"T":1633998513148,"m":false,"M":true}}'
    events = [decoder.decode(frame, RECEIVED_NS).event for frame in (TRADE, BOOK_TICKER, DEPTH) for decoder in (DECODER, TEXT_DECODER)]
    events.append(DECODER.decode(agg, RECEIVED_NS).event)
    events.append(DepthSnapshot(symbol="BTCUSDT", ts_event=RECEIVED_NS, ts_init=RECEIVED_NS, last_update_id=50093239207, bids=(), asks=()))
    assert {channel_of(event) for event in events} == set(SEQUENCE_FIELDS)
    for event in events:
        channel = channel_of(event)
        assert getattr(event, SEQUENCE_FIELDS[channel]) == event.sequence, channel
        assert entry_id_parts_of(channel)(event) == entry_id_parts(event), channel
        # Written out here, not taken from the codec's table: trades by trade time, the rest by event time.
        placed_at = event.ts_trade if channel in ("trade", "aggTrade") else event.ts_event
        assert entry_id_parts(event) == (placed_at // 1_000_000, event.sequence), channel
