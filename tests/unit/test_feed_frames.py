"""Every WebSocket stream kind, as whole frames from tests/fixtures, through the message_handler of a
feed built by name through FeedHandler (symbols seeded from our GET /api/v1/markets reply): the right
cryptofeed object with exact Decimal values and float-second timestamps, the book bridged from the
REST snapshot across the depth deltas, and error or unknown frames counted and dropped.
tests/conformance/test_conformance_payloads.py runs the same paths over the real recorded payloads."""
from __future__ import annotations

import asyncio
import base64
import json
from decimal import Decimal as D

import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import (ASK, BID, BUY, CANCELLED, CANDLES, FILLED, FILLS, FUNDING, INDEX, L1_BOOK, L2_BOOK,
                                LIMIT, LIQUIDATIONS, LONG, MAKER, MARKET, OPEN, OPEN_INTEREST, ORDER_INFO, PARTIAL,
                                POSITIONS, SELL, SHORT, TAKER, TICKER, TRADES)

import cryptofeed_backpack  # noqa: F401  (registers BACKPACK)
from cryptofeed_backpack.symbols import seed_symbols
from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
from tests import fixtures

ALL_PUBLIC = [TRADES, L2_BOOK, TICKER, L1_BOOK, FUNDING, INDEX, OPEN_INTEREST, LIQUIDATIONS, CANDLES]
PRIVATE = [ORDER_INFO, FILLS, POSITIONS]
SYMBOLS = ["SUI-USDC", "SUI-USDC-PERP", "kPEPE-USDC-PERP", "AAPL.US-USDC-PERP"]
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}
# RFC 8032 §7.1 TEST 1 key pair: any valid pair will do, private frames are not signed
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RECEIPT = 1796047600.25


def make_feed(channels=ALL_PUBLIC, symbols=SYMBOLS, section=None, **kwargs):
    seed_symbols(fixtures.markets())
    fh = FeedHandler(config={"log": {"disabled": True}, "backpack": {**OFFLINE, **(section or {})}})
    got: dict[str, list] = {c: [] for c in channels}

    def recorder(channel):
        async def cb(obj, receipt):
            assert receipt == RECEIPT
            got[channel].append(obj)
        return cb

    fh.add_feed("BACKPACK", symbols=symbols, channels=channels, callbacks={c: recorder(c) for c in channels}, **kwargs)
    return fh.feeds[0], got


def run(feed, *frames):
    async def push():
        for frame in frames:
            await feed.message_handler(frame, None, RECEIPT)
        # a gap starts a REST resync; nothing listens on port 9, so stop it before the loop closes
        await feed.book_channel.shutdown()
        await asyncio.sleep(0)
        if feed.rest_client is not None:
            await feed.rest_client.close()
    asyncio.run(push())


@pytest.fixture
def feed(clean_symbols):
    return make_feed(candle_interval="1m")


@pytest.fixture
def private_feed(clean_symbols):
    keys = {"key_id": base64.b64encode(RFC_PUBLIC).decode(), "key_secret": base64.b64encode(RFC_SECRET).decode()}
    return make_feed(PRIVATE, ["SUI-USDC", "SUI-USDC-PERP", "AAPL.US-USDC-PERP"], section=keys)


def decimals(*values):
    assert all(type(v) is D for v in values), values


def test_feed_is_built_by_name_and_subscribes_by_the_stream_table(feed):
    f, _ = feed
    assert type(f).__name__ == "BackpackFeed" and f.id == "BACKPACK"
    streams = f.public_streams()
    assert {"trade.SUI_USDC_PERP", "depth.SUI_USDC", "bookTicker.kPEPE_USDC_PERP", "kline.1m.SUI_USDC",
            "markPrice.AAPL.US_USDC_PERP", "openInterest.SUI_USDC_PERP"} <= set(streams)
    assert f.liquidation_streams() == ["liquidation.AAPL.US_USDC_PERP", "liquidation.SUI_USDC", "liquidation.SUI_USDC_PERP",
                                       "liquidation.kPEPE_USDC_PERP"]


# ---- trades ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, symbol, side, amount, price, trade_id, ts", [
    # m true: the buyer was the maker, so the taker sold
    ("ws_trade__buyer_maker.json", "SUI-USDC-PERP", SELL, "120.0", "3.4185", "4455661", 1796047501.234001),
    ("ws_trade__taker_buy.json", "AAPL.US-USDC-PERP", BUY, "0.250", "231.45", "99812", 1796047502.3451),
])
def test_trades(feed, name, symbol, side, amount, price, trade_id, ts):
    f, got = feed
    run(f, fixtures.raw(name))
    (t,) = got[TRADES]
    assert (t.exchange, t.symbol, t.side, t.id) == ("BACKPACK", symbol, side, trade_id)
    assert (t.amount, t.price) == (D(amount), D(price)) and str(t.amount) == amount
    decimals(t.amount, t.price)
    assert type(t.timestamp) is float and t.timestamp == pytest.approx(ts, abs=1e-6)  # T, µs


def test_every_callback_of_a_channel_gets_each_trade_in_order(clean_symbols):
    # one callback is awaited directly (BackpackFeed.deliver); several go through cryptofeed's Feed.callback
    seed_symbols(fixtures.markets())
    fh = FeedHandler(config={"log": {"disabled": True}, "backpack": OFFLINE})
    calls = []

    def recorder(name):
        async def cb(obj, receipt):
            calls.append((name, obj.id, receipt))
        return cb

    fh.add_feed("BACKPACK", symbols=["SUI-USDC-PERP", "AAPL.US-USDC-PERP"], channels=[TRADES],
                callbacks={TRADES: [recorder("first"), recorder("second")]})
    run(fh.feeds[0], fixtures.raw("ws_trade__buyer_maker.json"), fixtures.raw("ws_trade__taker_buy.json"))
    assert calls == [("first", "4455661", RECEIPT), ("second", "4455661", RECEIPT),
                     ("first", "99812", RECEIPT), ("second", "99812", RECEIPT)]


# ---- bookTicker: TICKER and L1_BOOK from one frame ----------------------------------------------

def test_book_ticker_gives_ticker_and_l1(feed):
    f, got = feed
    run(f, fixtures.raw("ws_bookTicker__both_sides.json"))
    (tick,), (l1,) = got[TICKER], got[L1_BOOK]
    assert tick.symbol == l1.symbol == "SUI-USDC"
    assert (tick.bid, tick.ask) == (D("3.4190"), D("3.4250")) and str(tick.ask) == "3.4250"
    assert (l1.bid_price, l1.bid_size, l1.ask_price, l1.ask_size) == (D("3.4190"), D("22.5"), D("3.4250"), D("40.5"))
    decimals(tick.bid, tick.ask, l1.bid_price, l1.bid_size, l1.ask_price, l1.ask_size)
    assert tick.timestamp == l1.timestamp == pytest.approx(1796047500.345002, abs=1e-6)  # T before E


def test_book_ticker_with_an_empty_ask(feed):
    f, got = feed
    run(f, fixtures.raw("ws_bookTicker__empty_ask.json"))
    (tick,), (l1,) = got[TICKER], got[L1_BOOK]
    assert tick.symbol == "kPEPE-USDC-PERP" and tick.ask is None and tick.bid == D("0.004512")
    assert (l1.bid_price, l1.bid_size, l1.ask_price, l1.ask_size) == (D("0.004512"), D("150000"), None, None)


# ---- klines -----------------------------------------------------------------------------------

def test_open_candle_when_closed_only_is_off(clean_symbols):
    f, got = make_feed(candle_interval="1m", candle_closed_only=False)
    run(f, fixtures.raw("ws_kline__open.json"))
    (c,) = got[CANDLES]
    assert (c.symbol, c.interval, c.closed, c.trades) == ("SUI-USDC", "1m", False, 87)
    assert (c.start, c.stop) == (1796047500.0, 1796047560.0)  # 2026-11-30T14:05:00 / 14:06:00, naive = UTC
    assert (c.open, c.high, c.low, c.close, c.volume) == (D("3.421"), D("3.423"), D("3.418"), D("3.4185"), D("5321.4"))
    assert str(c.open) == "3.421000000"  # the wire's padding is kept, not re-rounded
    decimals(c.open, c.high, c.low, c.close, c.volume)
    assert c.timestamp == pytest.approx(1796047530.111222, abs=1e-6)  # E


def test_only_the_closing_update_is_delivered_by_default(feed):
    f, got = feed
    run(f, fixtures.raw("ws_kline__open.json"))
    assert got[CANDLES] == []
    run(f, fixtures.raw("ws_kline__closed.json"))
    (c,) = got[CANDLES]
    assert c.closed is True and c.trades == 131 and (c.start, c.stop) == (1796047500.0, 1796047560.0)
    assert (c.close, c.low, c.volume) == (D("3.419"), D("3.4172"), D("8012.9"))
    assert c.timestamp == pytest.approx(1796047560.002345, abs=1e-6)


# ---- markPrice: FUNDING and INDEX from one frame ------------------------------------------------

@pytest.mark.parametrize("name, symbol, mark, rate, index, ts", [
    ("ws_markPrice__spot.json", "SUI-USDC", "3.4188", "0.0000083", "3.41902", 1796047502.000001),
    ("ws_markPrice__perp.json", "AAPL.US-USDC-PERP", "231.52", "0.0000125", "231.47", 1796047501.999876),
])
def test_funding_and_index_from_one_mark_price_frame(feed, name, symbol, mark, rate, index, ts):
    f, got = feed
    run(f, fixtures.raw(name))
    (fu,), (ix,) = got[FUNDING], got[INDEX]
    assert fu.symbol == ix.symbol == symbol
    assert (fu.mark_price, fu.rate, ix.price) == (D(mark), D(rate), D(index))
    decimals(fu.mark_price, fu.rate, ix.price)
    assert fu.next_funding_time == 1796050800.0  # n, ms: 2026-11-30T15:00:00Z
    assert fu.timestamp == ix.timestamp == pytest.approx(ts, abs=1e-6)


# ---- openInterest and liquidations --------------------------------------------------------------

def test_open_interest(feed):
    f, got = feed
    run(f, fixtures.raw("ws_openInterest__perp.json"))
    (oi,) = got[OPEN_INTEREST]
    assert oi.symbol == "SUI-USDC-PERP" and oi.open_interest == D("8123456.7") and type(oi.open_interest) is D
    assert oi.timestamp == pytest.approx(1796047560.000123, abs=1e-6)  # E: the stream has no T


@pytest.mark.parametrize("name, symbol, side, quantity, price, ts", [
    ("ws_liquidation__symbol_stream.json", "SUI-USDC-PERP", SELL, "350.0", "3.4102", 1796047503.456789),
    ("ws_liquidation__bare_stream.json", "kPEPE-USDC-PERP", BUY, "2200000", "0.004530", 1796047504.56789),
])
def test_liquidation_in_both_stream_forms(feed, name, symbol, side, quantity, price, ts):
    f, got = feed
    run(f, fixtures.raw(name))
    (liq,) = got[LIQUIDATIONS]
    assert (liq.symbol, liq.side, liq.status, liq.id) == (symbol, side, FILLED, None)
    assert (liq.quantity, liq.price) == (D(quantity), D(price))
    decimals(liq.quantity, liq.price)
    assert liq.timestamp == pytest.approx(ts, abs=1e-6)  # E


def test_bare_liquidation_stream_keeps_only_the_markets_asked_for(clean_symbols):
    f, got = make_feed([LIQUIDATIONS], ["SUI-USDC-PERP"])
    run(f, fixtures.raw("ws_liquidation__bare_stream.json"))  # kPEPE_USDC_PERP
    assert got[LIQUIDATIONS] == []
    run(f, fixtures.raw("ws_liquidation__symbol_stream.json"))
    assert [liq.symbol for liq in got[LIQUIDATIONS]] == ["SUI-USDC-PERP"]


# ---- the book: REST snapshot, then deltas -------------------------------------------------------

def synced_book(f):
    """SUI_USDC synced from our REST snapshot (lastUpdateId 2718281800)."""
    book = f.book_channel.book_for("SUI_USDC", "SUI-USDC")
    book.on_snapshot(DEPTH_SNAPSHOT.decode(fixtures.raw("rest_depth__snapshot.json")))
    return book


def test_snapshot_bridges_the_deltas_and_ends_at_the_book_ticker(feed):
    f, got = feed
    book = synced_book(f)
    assert f.book_state("SUI_USDC") is book and book.last_id == 2718281800
    run(f, fixtures.raw("ws_depth__delta.json"))
    first = got[L2_BOOK][0]
    assert first.symbol == "SUI-USDC" and first.sequence_number == 2718281801
    assert first.delta == {BID: [(D("3.4200"), D("0.0")), (D("3.4190"), D("20.0"))], ASK: [(D("3.4250"), D("40.5"))]}
    assert first.timestamp == pytest.approx(1796047500.123001, abs=1e-6)
    # REST "3.42" and the socket's "3.4200" are one level: zero quantity removed it
    bids = dict(first.book.bids.to_dict())
    assert bids == {D("3.419"): D("20.0"), D("3.418"): D("75.2"), D("3.41"): D("500.0")}
    assert dict(first.book.asks.to_dict()) == {D("3.425"): D("40.5"), D("3.426"): D("310.5"), D("3.43"): D("1000.0")}

    run(f, fixtures.raw("ws_depth__aggregated_200ms.json"))  # U 2718281802 .. u 2718281805
    second = got[L2_BOOK][1]
    assert second.sequence_number == 2718281805
    assert dict(second.book.bids.to_dict()) == {D("3.419"): D("22.5"), D("3.418"): D("75.2"), D("3.41"): D("500.0")}
    assert dict(second.book.asks.to_dict()) == {D("3.425"): D("40.5"), D("3.428"): D("55.0"), D("3.43"): D("1000.0")}
    best_bid, best_ask = second.book.bids.index(0), second.book.asks.index(0)
    ticker = fixtures.load("ws_bookTicker__both_sides.json")["data"]
    assert ticker["u"] == second.sequence_number
    assert (best_bid, best_ask) == ((D(ticker["b"]), D(ticker["B"])), (D(ticker["a"]), D(ticker["A"])))
    decimals(*best_bid, *best_ask)

    run(f, fixtures.raw("ws_depth__empty.json"))
    third = got[L2_BOOK][2]
    assert third.sequence_number == 2718281806 and third.delta == {BID: [], ASK: []}
    assert dict(third.book.bids.to_dict()) == dict(second.book.bids.to_dict())
    assert f.book_status()["SUI_USDC"].synced and f.book_status()["SUI_USDC"].gaps == 0


def test_cross_check_delivers_through_cryptofeeds_book_callback(clean_symbols):
    f, got = make_feed([L2_BOOK], ["SUI-USDC"], cross_check=True)
    synced_book(f)
    run(f, fixtures.raw("ws_depth__delta.json"))
    (book,) = got[L2_BOOK]
    assert book.sequence_number == 2718281801 and book.delta[ASK] == [(D("3.4250"), D("40.5"))]
    assert book.timestamp == pytest.approx(1796047500.123001, abs=1e-6) and book.raw is None
    assert f.metrics.counters.get("dropped_messages", 0) == 0


def _skipping(first_id: int) -> bytes:
    frame = json.loads(fixtures.raw("ws_depth__aggregated_200ms.json"))
    frame["data"]["U"] = first_id
    return json.dumps(frame).encode()


def test_a_delta_that_skips_an_id_is_a_gap_not_applied(feed):
    f, got = feed
    synced_book(f)
    run(f, fixtures.raw("ws_depth__delta.json"), _skipping(2718281803))  # 2718281802 never arrived
    assert len(got[L2_BOOK]) == 1  # only the delta before the hole
    assert f.metrics.counters["book_gaps"] == 1
    status = f.book_status()["SUI_USDC"]
    assert not status.synced and status.gaps == 1


def test_a_first_delta_past_the_snapshot_means_a_newer_snapshot_not_a_gap(feed):
    # The feed asks for snapshots right after subscribing, so one can predate the subscription: the
    # first delta then starts after L+1 (2718281802 > 2718281801). The stream lost nothing.
    f, got = feed
    synced_book(f)
    run(f, fixtures.raw("ws_depth__aggregated_200ms.json"))
    assert got[L2_BOOK] == []
    assert f.metrics.counters.get("book_gaps", 0) == 0 and f.metrics.counters["book_snapshot_retries"] == 1
    status = f.book_status()["SUI_USDC"]
    assert not status.synced and status.gaps == 0 and status.buffered == 1  # kept for the next snapshot to bridge


def test_a_delta_the_snapshot_already_contains_is_stale(feed):
    f, got = feed
    synced_book(f)
    run(f, fixtures.raw("ws_depth__delta.json"), fixtures.raw("ws_depth__delta.json"))
    assert len(got[L2_BOOK]) == 1 and f.metrics.counters["book_stale_deltas"] == 1


# ---- account streams -----------------------------------------------------------------------

def test_one_limit_order_accepted_partly_filled_then_cancelled(private_feed):
    f, got = private_feed
    run(f, fixtures.raw("ws_orderUpdate__accepted_limit.json"), fixtures.raw("ws_orderUpdate__partial_fill_limit.json"),
        fixtures.raw("ws_orderUpdate__cancelled.json"))
    accepted, partial, cancelled = got[ORDER_INFO]
    assert {o.id for o in got[ORDER_INFO]} == {"9100000000012345"}
    assert [o.status for o in got[ORDER_INFO]] == [OPEN, PARTIAL, CANCELLED]
    assert (accepted.symbol, accepted.side, accepted.type, accepted.price, accepted.amount) == (
        "SUI-USDC", SELL, LIMIT, D("3.4250"), D("250.0"))
    assert [o.remaining for o in got[ORDER_INFO]] == [D("250.0"), D("150.0"), D("150.0")]
    assert [o.timestamp for o in got[ORDER_INFO]] == pytest.approx([1796047500.7001, 1796047500.9005, 1796047509.1007],
                                                                   abs=1e-6)  # E
    (fill,) = got[FILLS]
    assert (fill.id, fill.order_id, fill.side, fill.liquidity, fill.type) == ("310245", "9100000000012345", SELL, MAKER, LIMIT)
    assert (fill.price, fill.amount, fill.fee) == (D("3.4250"), D("100.0"), D("0.034250")) and fill.raw["N"] == "USDC"
    decimals(fill.price, fill.amount, fill.fee, partial.remaining)
    assert fill.timestamp == pytest.approx(1796047500.900321, abs=1e-6)  # T: the match
    assert got[POSITIONS] == []


def test_one_market_order_accepted_then_filled(private_feed):
    f, got = private_feed
    run(f, fixtures.raw("ws_orderUpdate__accepted_market_no_price.json"), fixtures.raw("ws_orderUpdate__fill_market.json"))
    accepted, filled = got[ORDER_INFO]
    assert (accepted.type, accepted.price, accepted.status, accepted.side) == (MARKET, D(0), OPEN, BUY)
    assert (filled.status, filled.remaining) == (FILLED, D("0.0"))
    (fill,) = got[FILLS]
    assert (fill.id, fill.liquidity, fill.price, fill.amount, fill.fee) == ("310246", TAKER, D("3.4250"), D("120.0"), D("0.120"))
    assert fill.raw["N"] == "SUI"  # fee in the base asset


def test_positions_with_and_without_an_event_type(private_feed):
    f, got = private_feed
    run(f, fixtures.raw("ws_positionUpdate__snapshot.json"), fixtures.raw("ws_positionUpdate__opened.json"),
        fixtures.raw("ws_positionUpdate__numeric_decimals.json"))
    snapshot, opened, adjusted = got[POSITIONS]
    assert (snapshot.symbol, snapshot.side, snapshot.position, snapshot.entry_price, snapshot.unrealised_pnl) == (
        "AAPL.US-USDC-PERP", SHORT, D("-2.000"), D("230.10"), D("-2.840000"))
    assert (opened.symbol, opened.side, opened.position, opened.entry_price) == ("SUI-USDC-PERP", LONG, D("500.0"), D("3.4150"))
    assert (adjusted.position, adjusted.entry_price, adjusted.unrealised_pnl) == (D("750"), D("3.4155"), D("2.625"))
    decimals(*(v for p in got[POSITIONS] for v in (p.position, p.entry_price, p.unrealised_pnl)))
    assert [p.timestamp for p in got[POSITIONS]] == pytest.approx([1796047500.0001, 1796047520.000456, 1796047530.000789],
                                                                  abs=1e-6)


# ---- error and unwanted frames ------------------------------------------------------------------

@pytest.mark.parametrize("name, code", [("ws_error__4002_parse_error.json", 4002),
                                        ("ws_error__4006_invalid_stream.json", 4006),
                                        ("ws_error__4008_invalid_depth_window.json", 4008)])
def test_error_frames_are_counted_and_dropped_without_raising(feed, caplog, name, code):
    f, got = feed
    run(f, fixtures.raw(name), fixtures.raw(name))
    assert f.metrics.counters[f"ws_error_{code}"] == 2
    assert f.metrics.counters[f"dropped_error_{code}"] == 2 and f.metrics.counters["dropped_messages"] == 2
    assert sum(str(code) in r.getMessage() for r in caplog.records) == 1  # logged once
    assert all(not v for v in got.values())


def test_the_ticker_stream_is_not_consumed(feed):
    # TICKER comes from bookTicker; a rolling 24h ticker frame is an unknown stream here
    f, got = feed
    run(f, fixtures.raw("ws_ticker__rolling_24h.json"))
    assert f.metrics.counters["dropped_unknown_stream"] == 1
    assert all(not v for v in got.values())


def test_frames_for_unlisted_markets_are_dropped(feed):
    f, got = feed
    frame = fixtures.load("ws_trade__buyer_maker.json")
    frame["stream"], frame["data"]["s"] = "trade.FTT_USDC", "FTT_USDC"  # a Closed market: not in the symbol table
    run(f, json.dumps(frame))
    assert f.metrics.counters["dropped_unknown_symbol"] == 1 and got[TRADES] == []


@pytest.mark.parametrize("frame, reason", [
    (b"{not json", "dropped_undecodable"),
    (b'{"stream":"trade.SUI_USDC","data":{"e":"trade","s":"SUI_USDC"}}', "dropped_undecodable"),
    (b'{"stream":"surprise.SUI_USDC","data":{"e":"surprise","s":"SUI_USDC"}}', "dropped_unknown_stream"),
])
def test_bad_frames_are_dropped_and_counted(feed, frame, reason):
    f, got = feed
    run(f, frame)
    assert f.metrics.counters[reason] == 1
    assert all(not v for v in got.values())
