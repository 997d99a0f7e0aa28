"""BackpackRestMixin: cryptofeed REST methods -> typed cryptofeed objects, against a loopback HTTP server
answering with our replies from tests/fixtures (exact wire shapes: docs/protocol.md §1, tests/fixtures/README.md)."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from aiohttp import web
from cryptofeed.defines import BUY, LIMIT, LONG, MAKER, OPEN, PARTIAL, SELL, SHORT, TAKER
from cryptofeed.types import Candle, Fill, Funding, OpenInterest, OrderBook, OrderInfo, Position, Ticker, Trade

from cryptofeed_backpack import auth
from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.feed.rest import BackpackRestMixin
from tests.fixtures import load

SEED = bytes(range(1, 33))
CREDS = {"api_key": auth.b64(auth.public_key_from_seed(SEED)), "private_key": auth.b64(SEED)}

DEPTH = load("rest_depth__snapshot.json")
# the wire sends trade ids and times as numbers; ccxt's recordings stringify them: the newest row here does
_trades = load("rest_trades__recent.json")
TRADES = [dict(_trades[0], id=str(_trades[0]["id"]), timestamp=str(_trades[0]["timestamp"]))] + _trades[1:]
KLINES = load("rest_klines__1m.json")
FUNDING = load("rest_fundingRates__history.json")
OPEN_INTEREST = load("rest_openInterest__all.json")
CAPITAL = load("rest_capital__balances.json")
OPEN_ORDERS = load("rest_orders__open.json")
POSITIONS = load("rest_position__open.json")
FILLS = load("rest_historyFills__page.json")
KLINES_END_S = 1796047500  # the last kline of the fixture ends at 2026-11-30 14:05:00


class Host(BackpackRestMixin):
    """The minimum a cryptofeed Exchange provides to the mixin."""

    id = "BACKPACK"

    def __init__(self, config):
        self.backpack_config = config
        self.rest_client = None

    def std_symbol_to_exchange_symbol(self, symbol):
        return symbol.replace("-", "_")

    def exchange_symbol_to_std_symbol(self, symbol):
        return symbol.replace("_", "-")


@pytest.fixture
async def exchange():
    seen: list = []
    routes = {
        "/api/v1/depth": lambda q: DEPTH,
        "/api/v1/trades": lambda q: TRADES,
        "/api/v1/klines": lambda q: KLINES if int(q["startTime"]) < KLINES_END_S else [],
        "/api/v1/fundingRates": lambda q: FUNDING,
        "/api/v1/openInterest": lambda q: OPEN_INTEREST,
        "/api/v1/capital": lambda q: CAPITAL,
        "/api/v1/orders": lambda q: [o for o in OPEN_ORDERS if q.get("symbol", o["symbol"]) == o["symbol"]],
        "/api/v1/position": lambda q: POSITIONS,
        "/wapi/v1/history/fills": lambda q: FILLS if q.get("offset") == "0" else [],
    }

    async def handle(request):
        seen.append((request.path, dict(request.query), "X-Signature" in request.headers))
        return web.json_response(routes[request.path](request.query))

    app = web.Application()
    for path in routes:
        app.router.add_get(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    host = Host(BackpackConfig.build({"rest_url": f"http://127.0.0.1:{port}", "proxies": {"direct": True}, "auth": CREDS}))
    host.seen = seen
    yield host
    await host.rest_client.close()
    await runner.cleanup()


async def test_l2_book(exchange):
    book = await exchange.l2_book("SUI-USDC")
    assert isinstance(book, OrderBook) and book.symbol == "SUI-USDC" and book.exchange == "BACKPACK"
    assert book.sequence_number == 2718281800
    assert book.timestamp == pytest.approx(1796047500.100123)
    bids, asks = book.book.bids.to_dict(), book.book.asks.to_dict()
    assert bids == {Decimal("3.42"): Decimal("15.3"), Decimal("3.418"): Decimal("75.2"), Decimal("3.41"): Decimal("500.0")}
    assert list(bids)[0] == Decimal("3.42")  # best bid first in cryptofeed's book, though last on the wire
    assert list(asks) == [Decimal("3.425"), Decimal("3.426"), Decimal("3.43")]
    assert all(isinstance(k, Decimal) and isinstance(v, Decimal) for k, v in {**bids, **asks}.items())
    assert exchange.seen[0] == ("/api/v1/depth", {"symbol": "SUI_USDC", "limit": "1000"}, False)


async def test_ticker_is_best_bid_ask(exchange):
    t = await exchange.ticker("SUI-USDC")
    assert isinstance(t, Ticker)
    assert (t.bid, t.ask) == (Decimal("3.42"), Decimal("3.425"))
    assert t.timestamp == pytest.approx(1796047500.100123)


async def test_recent_trades(exchange):
    pages = [p async for p in exchange.trades("SUI-USDC")]
    assert len(pages) == 1
    trades = pages[0]
    assert all(isinstance(t, Trade) for t in trades)
    assert [t.id for t in trades] == ["310242", "310243", "310244", "310245", "310246"]  # chronological
    first, last = trades[0], trades[-1]
    assert (first.side, first.amount, first.price) == (SELL, Decimal("2.2"), Decimal("3.42"))  # isBuyerMaker -> taker sold
    assert first.timestamp == pytest.approx(1796047500.012)
    assert (last.side, last.amount, last.price) == (BUY, Decimal("120.0"), Decimal("3.425"))  # id and time given as strings
    assert last.timestamp == pytest.approx(1796047501.234)
    assert isinstance(last.amount, Decimal) and isinstance(last.price, Decimal)


async def test_candles(exchange):
    pages = [p async for p in exchange.candles("SUI-USDC", start="2026-11-30 14:02:00", end="2026-11-30 14:10:00", interval="1m")]
    assert len(pages) == 1
    assert [c.start for c in pages[0]] == [1796047320.0, 1796047380.0, 1796047440.0]
    c = pages[0][0]
    assert isinstance(c, Candle)
    assert (c.start, c.stop) == (1796047320.0, 1796047380.0)
    assert (c.open, c.close, c.high, c.low, c.volume, c.trades) == (
        Decimal("3.4192"), Decimal("3.4205"), Decimal("3.4221"), Decimal("3.4188"), Decimal("3000.7"), 44)
    assert c.closed is True and c.interval == "1m"
    assert exchange.seen[0][1] == {"symbol": "SUI_USDC", "interval": "1m", "startTime": "1796047320", "endTime": "1796047800"}
    with pytest.raises(ValueError):
        [p async for p in exchange.candles("SUI-USDC", interval="7m")]


async def test_funding_history_oldest_first(exchange):
    rows = await exchange.funding("SUI-USDC-PERP")
    assert all(isinstance(f, Funding) for f in rows)
    assert [f.rate for f in rows] == [Decimal("-0.0000031"), Decimal("0.0000098"), Decimal("0.0000125")]
    assert rows[-1].timestamp == 1796050800.0 and rows[-1].mark_price is None  # 2026-11-30T15:00:00, naive = UTC


async def test_open_interest_picks_the_symbol(exchange):
    oi = await exchange.open_interest("AAPL.US-USDC-PERP")
    assert isinstance(oi, OpenInterest) and oi.symbol == "AAPL.US-USDC-PERP"
    assert oi.open_interest == Decimal("1204.518") and oi.timestamp == pytest.approx(1796047560.0)


async def test_balances_signed(exchange):
    bal = await exchange.balances()
    assert [(b.currency, b.balance, b.reserved) for b in bal] == [
        ("SUI", Decimal("1030.1"), Decimal("150.0")), ("USDC", Decimal("12845.25"), Decimal("345.0")),
        ("kPEPE", Decimal("250000"), Decimal("250000"))]
    assert exchange.seen[0] == ("/api/v1/capital", {}, True)


async def test_open_orders(exchange):
    (o,) = await exchange.orders("SUI-USDC")
    assert isinstance(o, OrderInfo)
    assert (o.symbol, o.id, o.side, o.status, o.type) == ("SUI-USDC", "9100000000012345", SELL, PARTIAL, LIMIT)
    assert (o.price, o.amount, o.remaining) == (Decimal("3.4250"), Decimal("250.0"), Decimal("150.0"))
    assert o.timestamp == pytest.approx(1796047500.7) and o.client_order_id is None
    assert exchange.seen[0] == ("/api/v1/orders", {"symbol": "SUI_USDC"}, True)
    _, other = await exchange.orders()
    assert (other.symbol, other.side, other.status, other.client_order_id) == ("AAPL.US-USDC-PERP", BUY, OPEN, "4712")


async def test_positions(exchange):
    long, short = await exchange.positions()
    assert isinstance(long, Position)
    assert (long.symbol, long.position, long.side) == ("SUI-USDC-PERP", Decimal("500.0"), LONG)
    assert long.entry_price == Decimal("3.4150") and long.unrealised_pnl == Decimal("1.9")
    assert (short.symbol, short.position, short.side) == ("AAPL.US-USDC-PERP", Decimal("-2.000"), SHORT)
    assert short.entry_price == Decimal("230.10") and short.unrealised_pnl == Decimal("-2.84")


async def test_trade_history_fills(exchange):
    f, market = await exchange.trade_history("SUI-USDC", start="2026-11-30 00:00:00", end="2026-12-01 00:00:00")
    assert isinstance(f, Fill)
    assert (f.symbol, f.side, f.amount, f.price, f.fee, f.id, f.order_id, f.liquidity) == (
        "SUI-USDC", SELL, Decimal("100.0"), Decimal("3.4250"), Decimal("0.034250"), "310245", "9100000000012345", MAKER)
    assert f.timestamp == pytest.approx(1796047500.9)
    assert f.raw["feeSymbol"] == "USDC"
    assert (market.side, market.liquidity, market.raw["feeSymbol"]) == (BUY, TAKER, "SUI")
    assert market.timestamp == pytest.approx(1796047501.234)
    path, query, signed = exchange.seen[0]
    assert path == "/wapi/v1/history/fills" and signed
    assert query == {"symbol": "SUI_USDC", "limit": "1000", "offset": "0", "from": "1795996800000", "to": "1796083200000"}


def test_sync_twin_works_from_plain_code():
    """RestExchange's l2_book_sync drives our coroutine on the thread's event loop (server in a thread)."""
    import threading

    ready = threading.Event()
    state = {}

    def serve():
        loop = asyncio.new_event_loop()
        state["loop"] = loop

        async def start():
            app = web.Application()
            app.router.add_get("/api/v1/depth", lambda r: web.json_response(DEPTH))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            state["runner"], state["port"] = runner, site._server.sockets[0].getsockname()[1]

        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        host = Host(BackpackConfig.build({"rest_url": f"http://127.0.0.1:{state['port']}", "proxies": {"direct": True}}))
        book = host.l2_book_sync("SUI-USDC")
        assert book.sequence_number == 2718281800 and book.symbol == "SUI-USDC"
        loop.run_until_complete(host.rest_client.close())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join()
