"""CcxtBackpackFeed without a network: symbol names, Decimal conversion, ccxt wiring, error
translation, construction checks, and our wire fixtures pushed through ccxt's own parsers."""
from __future__ import annotations

import sys
from decimal import Decimal

import pytest

pytest.importorskip("ccxt")
import ccxt  # noqa: E402
import ccxt.pro  # noqa: E402,F401  (ccxt.pro is a subpackage: import it explicitly)

from cryptofeed.defines import BUY, CANDLES, FUNDING, L1_BOOK, L2_BOOK, OPEN_INTEREST, TICKER, TRADES  # noqa: E402
from cryptofeed.types import Candle, Funding, OrderBook, Ticker, Trade  # noqa: E402

from cryptofeed_backpack import ccxt_feed  # noqa: E402
from cryptofeed_backpack.transport.policy import retry_delay  # noqa: E402
from cryptofeed_backpack.ccxt_feed import (CcxtBackpackFeed, MarketRef, ccxt_symbol, exchange_symbol_from_ccxt,  # noqa: E402
                                           levels_to_dict, make_exchange, resolve_market, to_decimal, translate_error)
from cryptofeed_backpack.config import BackpackConfig  # noqa: E402
from cryptofeed_backpack.errors import (BackpackConfigError, BackpackConnectionError, BackpackRateLimitError,  # noqa: E402
                                        BackpackRegionRestrictedError, BackpackRestError, BackpackServerError,
                                        BackpackSymbolError)
from cryptofeed_backpack.symbols import seed_symbols  # noqa: E402
from tests.fixtures import load, market_like, markets  # noqa: E402

# Nothing listens on port 9: any accidental network call during construction fails loudly.
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "proxies": {"direct": True}}


def markets_with_kpepe() -> list[dict]:
    """Our markets reply (kPEPE included) plus ETH markets in the same shapes for the construction tests."""
    ours = markets()
    spot, perp = ours[0], ours[1]
    return ours + [market_like(spot, "ETH_USDC", "ETH"), market_like(perp, "ETH_USDC_PERP", "ETH")]


@pytest.fixture
def seeded(clean_symbols):
    return seed_symbols(markets_with_kpepe())


def make_feed(**kwargs) -> CcxtBackpackFeed:
    kwargs.setdefault("config", dict(OFFLINE))
    return CcxtBackpackFeed(**kwargs)


def with_markets(exchange) -> None:
    """Give ccxt the market objects without a request."""
    exchange.set_markets(exchange.parse_markets(markets_with_kpepe()))


# ---- Decimal conversion ------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0.1, "0.1"), (86655.9, "86655.9"), (3870.25, "3870.25"), (1e-05, "0.00001"), (118318.3, "118318.3"),
    (5, "5"), ("0.00633", "0.00633"), ("86700.0", "86700.0"),
])
def test_to_decimal_goes_through_str(value, expected):
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)
    if isinstance(value, float):
        assert result != Decimal(value) or Decimal(value) == Decimal(expected)  # not the binary expansion


def test_to_decimal_keeps_strings_exact_and_passes_none_and_decimal():
    assert str(to_decimal("0.00000")) == "0.00000"
    d = Decimal("1.5")
    assert to_decimal(d) is d
    assert to_decimal(None) is None
    with pytest.raises(TypeError):
        to_decimal(True)


def test_levels_to_dict_decimal_keys_values_and_depth():
    levels = [[100.5, 0.1], [100.4, 2.0], [100.3, 3e-05]]
    full = levels_to_dict(levels)
    assert full == {Decimal("100.5"): Decimal("0.1"), Decimal("100.4"): Decimal("2.0"), Decimal("100.3"): Decimal("0.00003")}
    assert all(isinstance(k, Decimal) and isinstance(v, Decimal) for k, v in full.items())
    assert list(levels_to_dict(levels, 2)) == [Decimal("100.5"), Decimal("100.4")]


# ---- symbol names --------------------------------------------------------------------------------

@pytest.mark.parametrize("normalized, unified, exchange", [
    ("BTC-USDC-PERP", "BTC/USDC:USDC", "BTC_USDC_PERP"),
    ("SOL-USDC", "SOL/USDC", "SOL_USDC"),
    ("AAPL.US-USDC-PERP", "AAPL.US/USDC:USDC", "AAPL.US_USDC_PERP"),
])
def test_symbol_forms_round_trip(normalized, unified, exchange):
    assert ccxt_symbol(normalized) == unified
    assert exchange_symbol_from_ccxt(unified) == exchange


def test_ccxt_symbol_rejects_other_shapes():
    with pytest.raises(BackpackSymbolError, match="BTC-USDC-20250101"):
        ccxt_symbol("BTC-USDC-20250101")


def test_seeded_symbols_resolve_through_ccxt_markets(seeded):
    exchange = make_exchange(BackpackConfig.build(OFFLINE), ccxt, ccxt.pro)
    with_markets(exchange)
    assert seeded["ETH-USDC-PERP"] == "ETH_USDC_PERP" and seeded["ETH-USDC"] == "ETH_USDC"
    for normalized, exchange_symbol in seeded.items():
        ref = resolve_market(normalized, exchange_symbol, exchange.markets_by_id)
        # whatever ccxt calls the market, its id is the Backpack symbol the stream topic uses
        assert exchange.market(ref.unified)["id"] == exchange_symbol
    assert resolve_market("ETH-USDC-PERP", "ETH_USDC_PERP", exchange.markets_by_id) == \
        MarketRef("ETH-USDC-PERP", "ETH_USDC_PERP", "ETH/USDC:USDC")
    assert resolve_market("ETH-USDC", "ETH_USDC", exchange.markets_by_id).unified == "ETH/USDC"
    # case-sensitive Backpack id; ccxt may rename the base, the table lookup follows it
    kpepe = resolve_market("kPEPE-USDC-PERP", "kPEPE_USDC_PERP", exchange.markets_by_id)
    assert exchange.market(kpepe.unified)["id"] == "kPEPE_USDC_PERP"
    # without ccxt's table the naming rule applies
    assert resolve_market("SOL-USDC", "SOL_USDC", None).unified == "SOL/USDC"


# ---- ccxt wiring ---------------------------------------------------------------------------------

def test_make_exchange_points_ccxt_at_config_endpoints_and_ca(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    cfg = BackpackConfig.build(rest_url="https://127.0.0.1:4443/", ws_url="wss://127.0.0.1:4443", ca_file=ca_file,
                               snapshot_limit=500, proxies={"direct": True})
    ex = make_exchange(cfg, ccxt, ccxt.pro)
    assert ex.urls["api"]["public"] == "https://127.0.0.1:4443"
    assert ex.urls["api"]["ws"] == {"public": "wss://127.0.0.1:4443", "private": "wss://127.0.0.1:4443"}
    assert ex.ssl_context is not None and ex.ssl_context.get_ca_certs() is not None
    assert ex.snapshot_limit == 500
    assert ex.has["fetchCurrencies"] is False
    assert ex.aiohttp_trust_env is False
    assert ex.httpsProxy is None and ex.socksProxy is None and ex.wssProxy is None and ex.wsSocksProxy is None
    # the default ccxt endpoints are untouched on other instances
    assert ccxt.pro.backpack().urls["api"]["public"] == "https://api.backpack.exchange"


def test_make_exchange_routes_proxies():
    http = make_exchange(BackpackConfig.build(OFFLINE, proxies={"url": "http://127.0.0.1:8888"}), ccxt, ccxt.pro)
    assert (http.httpsProxy, http.wssProxy, http.socksProxy, http.wsSocksProxy) == ("http://127.0.0.1:8888",) * 2 + (None, None)
    socks = make_exchange(BackpackConfig.build(OFFLINE, proxies={"rest": "socks5h://127.0.0.1:1080",
                                                                 "websocket": "socks5://127.0.0.1:1081"}), ccxt, ccxt.pro)
    assert (socks.socksProxy, socks.wsSocksProxy, socks.httpsProxy, socks.wssProxy) == \
        ("socks5h://127.0.0.1:1080", "socks5://127.0.0.1:1081", None, None)


def test_environment_proxy_is_honoured_unless_direct(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cfg = {k: v for k, v in OFFLINE.items() if k != "proxies"}
    ex = make_exchange(BackpackConfig.build(cfg), ccxt, ccxt.pro)
    assert ex.httpsProxy == "http://127.0.0.1:3128" and ex.wssProxy == "http://127.0.0.1:3128"
    direct = make_exchange(BackpackConfig.build(OFFLINE), ccxt, ccxt.pro)
    assert direct.httpsProxy is None and direct.wssProxy is None


def test_missing_ccxt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ccxt", None)
    monkeypatch.setitem(sys.modules, "ccxt.pro", None)
    with pytest.raises(BackpackConfigError, match=r"pip install 'cryptofeed-backpack\[ccxt\]'"):
        ccxt_feed.import_ccxt()


# ---- errors --------------------------------------------------------------------------------------

def test_translate_error_types_and_fixes():
    e = translate_error(ccxt.RateLimitExceeded('backpack HTTP 429 {"code":"TOO_MANY_REQUESTS","message":"Too many requests."}'), ccxt)
    assert isinstance(e, BackpackRateLimitError) and e.status == 429 and "backing off" in str(e)
    e = translate_error(ccxt.ExchangeNotAvailable('backpack HTTP 451 {"code":"FORBIDDEN","message":"Unavailable for legal reasons"}'), ccxt)
    assert isinstance(e, BackpackRegionRestrictedError) and e.status == 451 and "proxies" in str(e)
    e = translate_error(ccxt.BadSymbol("backpack does not have market symbol NOPE/USDC"), ccxt)
    assert isinstance(e, BackpackRestError) and not isinstance(e, BackpackServerError) and "symbol" in e.fix
    e = translate_error(ccxt.ExchangeNotAvailable('backpack {"code":"MAINTENANCE"} 503'), ccxt)
    assert isinstance(e, BackpackServerError) and e.status == 503
    e = translate_error(ccxt.NetworkError(ConnectionRefusedError(111, "Connect call failed")), ccxt)
    assert isinstance(e, BackpackConnectionError) and "ca_file" in str(e)


def test_translate_error_reads_websocket_handshake_status():
    import aiohttp

    from multidict import CIMultiDictProxy, CIMultiDict
    from yarl import URL

    url = URL("wss://127.0.0.1:9/")
    info = aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)
    handshake = aiohttp.WSServerHandshakeError(request_info=info, history=(), status=429, message="Invalid response status")
    assert isinstance(translate_error(ccxt.NetworkError(handshake), ccxt), BackpackRateLimitError)


def test_backoff_is_capped_and_slower_for_rate_limits():
    rate = BackpackRateLimitError.from_reply(429, None, "x")
    assert all(2.0 <= retry_delay(a, rate, 0.25, 8.0) <= 8.0 for a in range(1, 40))
    conn = BackpackConnectionError("x")
    delays = [retry_delay(a, conn, 0.25, 8.0) for a in range(1, 40)]
    assert all(0 <= d <= 8.0 for d in delays) and max(delays) > 0
    assert retry_delay(1, BackpackRegionRestrictedError.from_reply(451, None, "x"), 0.25, 8.0) == 8.0
    assert retry_delay(3, rate, 0.01, 0.5) <= 0.5  # a small cap wins over the rate-limit floor
    told = BackpackRateLimitError.from_reply(429, None, "x", retry_after=3.0)
    assert all(retry_delay(a, told, 0.25, 8.0) == 3.0 for a in range(1, 10))  # Retry-After is the wait


# ---- construction --------------------------------------------------------------------------------

def test_construction_uses_seeded_symbols_without_network(seeded):
    feed = make_feed(symbols=["ETH-USDC-PERP", "ETH-USDC"], channels=[TRADES, L2_BOOK, TICKER, CANDLES],
                     callbacks={TRADES: lambda *a: None})
    assert feed.id == "BACKPACK"
    assert feed._wanted == {c: ["ETH-USDC-PERP", "ETH-USDC"] for c in (TRADES, L2_BOOK, TICKER, CANDLES)}
    assert feed.exchange.urls["api"]["public"] == "https://127.0.0.1:9"
    assert feed.exchange.session is None  # nothing opened yet


@pytest.mark.parametrize("channel", [L1_BOOK, OPEN_INTEREST])
def test_unsupported_channel_is_refused_clearly(seeded, channel):
    with pytest.raises(BackpackConfigError, match="not available through ccxt") as info:
        make_feed(symbols=["ETH-USDC-PERP"], channels=[TRADES, channel])
    assert channel in str(info.value) and "CRYPTOFEED_BACKPACK_NATIVE=true" in str(info.value)


def test_other_construction_errors(seeded):
    with pytest.raises(BackpackConfigError, match="snapshot_interval"):
        make_feed(symbols=["ETH-USDC"], channels=[TRADES], snapshot_interval=-1)
    with pytest.raises(BackpackConfigError, match="rest_only"):
        make_feed(config={**OFFLINE, "ccxt": {"websocket": False}}, symbols=["ETH-USDC"], channels=[CANDLES])
    with pytest.raises(BackpackConfigError, match="FUNDING needs perpetual"):
        make_feed(symbols=["ETH-USDC"], channels=[FUNDING])
    with pytest.raises(BackpackConfigError, match="rest_only"):
        make_feed(symbols=["ETH-USDC"], channels=[CANDLES], rest_only=True)
    with pytest.raises(ValueError, match="Candle interval"):
        make_feed(symbols=["ETH-USDC"], channels=[CANDLES], candle_interval="1month")


# ---- wire fixtures through ccxt's parsers into cryptofeed objects ----------------------------------

async def collecting_feed(channels, symbols=("ETH-USDC-PERP",), **kwargs):
    got = []

    async def cb(obj, receipt):
        got.append(obj)

    feed = make_feed(symbols=list(symbols), channels=channels, callbacks={c: cb for c in channels}, **kwargs)
    with_markets(feed.exchange)
    return feed, got


async def test_ws_trade_payload_becomes_decimal_trade(seeded):
    feed, got = await collecting_feed([TRADES], symbols=("AAPL.US-USDC-PERP",))
    data = load("ws_trade__taker_buy.json")["data"]
    ref = resolve_market("AAPL.US-USDC-PERP", "AAPL.US_USDC_PERP", feed.exchange.markets_by_id)
    trade = feed.exchange.parse_ws_trade(data, feed.exchange.market(ref.unified))
    await feed._emit_trades(ref, [trade])
    await feed._emit_trades(ref, [trade])  # a replay is not delivered twice
    assert len(got) == 1
    t = got[0]
    assert isinstance(t, Trade) and t.symbol == "AAPL.US-USDC-PERP" and t.side == BUY and t.id == "99812"
    assert t.price == Decimal("231.45") and isinstance(t.price, Decimal)
    assert t.amount == Decimal("0.250") and isinstance(t.amount, Decimal)
    assert t.timestamp == pytest.approx(1796047502.345)


async def test_rest_depth_payload_becomes_decimal_book(seeded):
    feed, got = await collecting_feed([L2_BOOK], symbols=("SUI-USDC",), max_depth=1)
    ref = resolve_market("SUI-USDC", "SUI_USDC", feed.exchange.markets_by_id)
    response = load("rest_depth__snapshot.json")
    book = feed.exchange.parse_order_book(response, ref.unified, response["timestamp"] // 1000)
    book["nonce"] = int(response["lastUpdateId"])
    await feed._emit_book(ref, book)
    ob = got[0]
    assert isinstance(ob, OrderBook) and ob.sequence_number == 2718281800 and ob.delta is None
    # Backpack lists bids ascending; ccxt sorts best first; max_depth=1 keeps the best level only
    assert ob.book.bids.to_dict() == {Decimal("3.42"): Decimal("15.3")}
    assert ob.book.asks.to_dict() == {Decimal("3.425"): Decimal("42.0")}
    assert all(isinstance(x, Decimal) for x in ob.book.bids.index(0) + ob.book.asks.index(0))
    assert ob.timestamp == pytest.approx(1796047500.1)


async def test_book_ticker_payload_becomes_ticker_with_wire_strings(seeded):
    feed, got = await collecting_feed([TICKER], symbols=("SUI-USDC",))
    data = load("ws_bookTicker__both_sides.json")["data"]
    ref = resolve_market("SUI-USDC", "SUI_USDC", feed.exchange.markets_by_id)
    await feed._emit_ticker(ref, feed.exchange.parse_ws_bid_ask(data))
    assert isinstance(got[0], Ticker)
    assert (got[0].bid, got[0].ask) == (Decimal("3.4190"), Decimal("3.4250"))
    assert str(got[0].ask) == "3.4250"
    assert got[0].timestamp == pytest.approx(1796047500.345002)


async def test_kline_frame_becomes_the_candle_the_wire_describes(seeded):
    """ccxt's OHLCV row is stamped with the close time T and drops X and n; the feed reads the frame."""
    data = load("ws_kline__open.json")["data"]
    feed, got = await collecting_feed([CANDLES], symbols=("SUI-USDC",), candle_interval="1m")
    ref = resolve_market("SUI-USDC", "SUI_USDC", feed.exchange.markets_by_id)
    assert feed.exchange.parse_ws_ohlcv(data)[0] == 1796047560000  # ccxt: the close time, 14:06 UTC
    await feed._emit_klines(ref, [data])
    assert got == []  # candle_closed_only (cryptofeed's default) and X is false
    await feed._emit_klines(ref, [{**data, "X": True, "E": data["E"] + 1}])
    await feed._emit_klines(ref, [{**data, "X": True, "E": data["E"] + 1}])  # a resent frame: once
    assert len(got) == 1
    c = got[0]
    assert isinstance(c, Candle) and c.closed and c.interval == "1m" and c.trades == 87
    assert (c.start, c.stop) == (1796047500.0, 1796047560.0)  # 14:05 and 14:06 UTC, from t and T
    assert (c.open, c.close, c.high, c.low, c.volume) == (
        Decimal("3.421"), Decimal("3.4185"), Decimal("3.423"), Decimal("3.418"), Decimal("5321.4"))
    assert all(isinstance(x, Decimal) for x in (c.open, c.close, c.high, c.low, c.volume))
    feed_open, got_open = await collecting_feed([CANDLES], symbols=("ETH-USDC",), candle_interval="2h", candle_closed_only=False)
    await feed_open._emit_klines(ref, [data])
    assert len(got_open) == 1 and got_open[0].closed is False


async def test_mark_price_payload_becomes_funding(seeded):
    feed, got = await collecting_feed([FUNDING], symbols=("SUI-USDC-PERP",))
    ref = resolve_market("SUI-USDC-PERP", "SUI_USDC_PERP", feed.exchange.markets_by_id)
    data = load("rest_markPrices__perp.json")[0]
    await feed._emit_funding(ref, feed.exchange.parse_funding_rate(data, feed.exchange.market(ref.unified)))
    f = got[0]
    assert isinstance(f, Funding) and f.rate == Decimal("0.0000125") and f.mark_price == Decimal("3.4188")
    assert str(f.mark_price) == "3.4188" and f.next_funding_time == 1796050800.0


# ---- ccxt capability flags and the receive-loop workaround --------------------------------------

def test_capability_warnings_name_each_channel_ccxt_does_not_fully_support():
    has = {"watchTrades": True, "watchOrderBook": "emulated", "watchBidsAsks": None, "fetchFundingRate": True,
           "fetchOrderBook": True, "fetchTrades": False}
    lines = ccxt_feed.capability_warnings(has, [TRADES, L2_BOOK, TICKER, FUNDING], websocket=True)
    assert lines == ["ccxt marks watchOrderBook (used for l2_book) as 'emulated': treat its data as experimental",
                     "ccxt marks watchBidsAsks (used for ticker) as None: treat its data as experimental"]
    rest = ccxt_feed.capability_warnings(has, [TRADES, L2_BOOK], websocket=False)
    assert rest == ["ccxt marks fetchTrades (used for trades) as False: treat its data as experimental"]
    assert ccxt_feed.capability_warnings(ccxt.pro.backpack().has, [TRADES, L2_BOOK, TICKER, CANDLES, FUNDING], True) == []


def test_feed_logs_capability_warnings_at_construction(seeded, monkeypatch, caplog):
    original = ccxt.pro.backpack.describe

    def describe(self):
        described = original(self)
        described["has"]["watchBidsAsks"] = "emulated"
        return described

    monkeypatch.setattr(ccxt.pro.backpack, "describe", describe)
    make_feed(symbols=["ETH-USDC"], channels=[TICKER])
    assert any("watchBidsAsks" in r.getMessage() and "experimental" in r.getMessage() for r in caplog.records)


def test_receive_loop_workaround_is_chosen_by_feature_not_version():
    from ccxt.async_support.base.ws import client as installed
    from cryptofeed_backpack.ccxt_feed.exchange import receive_loop_undercounts

    class OldClientModule:  # ccxt 4.5.64's client module: no MSG_SIZE_OVERHEAD
        pass

    assert receive_loop_undercounts(OldClientModule) is True
    assert receive_loop_undercounts(installed) is (not hasattr(installed, "MSG_SIZE_OVERHEAD"))


async def test_one_by_one_receive_loop_delivers_every_frame_in_order_then_rejects_on_error():
    import asyncio
    import functools

    from cryptofeed_backpack.ccxt_feed.exchange import read_frames_one_by_one

    class FakeClient:
        def __init__(self, frames):
            self.asyncio_loop = asyncio.get_running_loop()
            self.frames, self.handled, self.rejected = list(frames), [], []
            self.receive_loop = functools.partial(read_frames_one_by_one, self, ccxt.NetworkError)

        def closed(self):
            return False

        async def receive(self):
            if not self.frames:
                raise ConnectionResetError("peer closed")
            return self.frames.pop(0)

        def handle_message(self, message):
            self.handled.append(message)

        def reject(self, error):
            self.rejected.append(error)

    client = FakeClient(range(5000))
    client.receive_loop()
    while not client.rejected:
        await asyncio.sleep(0)
    assert client.handled == list(range(5000))
    assert isinstance(client.rejected[0], ccxt.NetworkError) and "peer closed" in str(client.rejected[0])
