"""BackpackRestMixin: cryptofeed REST methods -> typed cryptofeed objects, against a loopback HTTP server
answering with bodies in the exact recorded shapes (docs/protocol.md §1; ccxt comments for signed endpoints)."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from aiohttp import web
from cryptofeed.defines import BUY, LIMIT, LONG, MAKER, OPEN, SELL, SHORT, TAKER
from cryptofeed.types import Candle, Fill, Funding, OpenInterest, OrderBook, OrderInfo, Position, Ticker, Trade

from cryptofeed_backpack import auth
from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.feed.rest import BackpackRestMixin

SEED = bytes(range(1, 33))
CREDS = {"api_key": auth.b64(auth.public_key_from_seed(SEED)), "private_key": auth.b64(SEED)}

DEPTH = {"asks": [["118318.3", "0.00633"], ["118567.2", "0.08450"]], "bids": [["1.0", "0.38647"], ["12.9", "1.00000"]],
         "lastUpdateId": "1504999670", "timestamp": 1753102447307501}
# ccxt-static recording (numbers stringified, newest first) and the wire form (numbers)
TRADES = [
    {"id": "7558558", "isBuyerMaker": True, "price": "1626.15", "quantity": "0.0333", "quoteQuantity": "54.150795", "timestamp": "1781067801978"},
    {"id": 7558557, "isBuyerMaker": False, "price": "1626.24", "quantity": "0.1311", "quoteQuantity": "213.200064", "timestamp": 1781067801927},
]
KLINES = [{"close": "4422.62", "end": "2025-09-11 15:34:00", "high": "4422.75", "low": "4422.62", "open": "4422.62",
           "quoteVolume": "77.840361", "start": "2025-09-11 15:33:00", "trades": "2", "volume": "0.0176"}]
FUNDING = [{"fundingRate": "0.0000125", "intervalEndTimestamp": "2025-09-11T12:00:00", "symbol": "ETH_USDC_PERP"},
           {"fundingRate": "0.000006196", "intervalEndTimestamp": "2025-09-11T10:00:00", "symbol": "ETH_USDC_PERP"}]
OPEN_INTEREST = [{"openInterest": "27481.6232", "symbol": "ETH_USDC_PERP", "timestamp": 1755006837991},
                 {"openInterest": "1273.85214", "symbol": "BTC_USDC_PERP", "timestamp": 1753105735301}]
CAPITAL = {"USDC": {"available": "120.5", "locked": "10", "staked": "0"}}
OPEN_ORDERS = [{"clientId": 123456789, "createdAt": 1753626206762, "executedQuantity": "0.0004", "executedQuoteQuantity": "1.2",
                "id": "4228978331", "orderType": "Limit", "postOnly": True, "price": "3000", "quantity": "0.001", "reduceOnly": None,
                "relatedOrderId": None, "selfTradePrevention": "RejectTaker", "side": "Bid", "status": "New",
                "stopLossLimitPrice": None, "stopLossTriggerBy": None, "stopLossTriggerPrice": None, "strategyId": None,
                "symbol": "ETH_USDC", "takeProfitLimitPrice": None, "takeProfitTriggerBy": None, "takeProfitTriggerPrice": None,
                "timeInForce": "GTC", "triggerBy": None, "triggerPrice": None, "triggerQuantity": None, "triggeredAt": None}]
POSITIONS = [{"breakEvenPrice": "3831.36", "cumulativeFundingPayment": "-0.009218", "cumulativeInterest": "0",
              "entryPrice": "3826.8888888888888888888888889", "estLiquidationPrice": "0", "imf": "0.02",
              "imfFunction": {"base": "0.02", "factor": "0.0000935", "type": "sqrt"}, "markPrice": "3787.46813304", "mmf": "0.0125",
              "mmfFunction": {"base": "0.0125", "factor": "0.0000561", "type": "sqrt"}, "netCost": "-13.7768",
              "netExposureNotional": "13.634885278944", "netExposureQuantity": "0.0036", "netQuantity": "-0.0036", "pnlRealized": "0",
              "pnlUnrealized": "-0.141914", "positionId": "4238420454", "subaccountId": None, "symbol": "ETH_USDC_PERP", "userId": 1813870}]
FILLS = [{"clientId": None, "fee": "0.004974", "feeSymbol": "USDC", "isMaker": False, "orderId": "4238907375", "price": "3826.15",
          "quantity": "0.0026", "side": "Bid", "symbol": "ETH_USDC_PERP", "systemOrderType": None,
          "timestamp": "2025-07-27T17:39:00.092", "tradeId": 9748827}]


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
        "/api/v1/klines": lambda q: KLINES if int(q["startTime"]) < 1757604840 else [],
        "/api/v1/fundingRates": lambda q: FUNDING,
        "/api/v1/openInterest": lambda q: OPEN_INTEREST,
        "/api/v1/capital": lambda q: CAPITAL,
        "/api/v1/orders": lambda q: OPEN_ORDERS,
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
    book = await exchange.l2_book("BTC-USDC-PERP")
    assert isinstance(book, OrderBook) and book.symbol == "BTC-USDC-PERP" and book.exchange == "BACKPACK"
    assert book.sequence_number == 1504999670
    assert book.timestamp == pytest.approx(1753102447.307501)
    bids, asks = book.book.bids.to_dict(), book.book.asks.to_dict()
    assert bids == {Decimal("12.9"): Decimal("1.00000"), Decimal("1.0"): Decimal("0.38647")}
    assert list(bids)[0] == Decimal("12.9")  # best bid first in cryptofeed's book, though last on the wire
    assert list(asks)[0] == Decimal("118318.3")
    assert all(isinstance(k, Decimal) and isinstance(v, Decimal) for k, v in {**bids, **asks}.items())
    assert exchange.seen[0] == ("/api/v1/depth", {"symbol": "BTC_USDC_PERP", "limit": "1000"}, False)


async def test_ticker_is_best_bid_ask(exchange):
    t = await exchange.ticker("BTC-USDC-PERP")
    assert isinstance(t, Ticker)
    assert (t.bid, t.ask) == (Decimal("12.9"), Decimal("118318.3"))
    assert t.timestamp == pytest.approx(1753102447.307501)


async def test_recent_trades(exchange):
    pages = [p async for p in exchange.trades("ETH-USDC")]
    assert len(pages) == 1
    trades = pages[0]
    assert all(isinstance(t, Trade) for t in trades)
    first, second = trades  # chronological
    assert (first.id, first.side, first.amount, first.price) == ("7558557", BUY, Decimal("0.1311"), Decimal("1626.24"))
    assert first.timestamp == pytest.approx(1781067801.927)
    assert (second.id, second.side) == ("7558558", SELL)  # isBuyerMaker -> taker sold
    assert isinstance(second.amount, Decimal) and isinstance(second.price, Decimal)


async def test_candles(exchange):
    pages = [p async for p in exchange.candles("ETH-USDC", start="2025-09-11 15:33:00", end="2025-09-11 15:40:00", interval="1m")]
    assert len(pages) == 1
    c = pages[0][0]
    assert isinstance(c, Candle)
    assert (c.start, c.stop) == (1757604780.0, 1757604840.0)
    assert (c.open, c.close, c.high, c.low, c.volume, c.trades) == (
        Decimal("4422.62"), Decimal("4422.62"), Decimal("4422.75"), Decimal("4422.62"), Decimal("0.0176"), 2)
    assert c.closed is True and c.interval == "1m"
    assert exchange.seen[0][1] == {"symbol": "ETH_USDC", "interval": "1m", "startTime": "1757604780", "endTime": "1757605200"}
    with pytest.raises(ValueError):
        [p async for p in exchange.candles("ETH-USDC", interval="7m")]


async def test_funding_history_oldest_first(exchange):
    rows = await exchange.funding("ETH-USDC-PERP")
    assert all(isinstance(f, Funding) for f in rows)
    assert [f.rate for f in rows] == [Decimal("0.000006196"), Decimal("0.0000125")]
    assert rows[1].timestamp == 1757592000.0 and rows[1].mark_price is None


async def test_open_interest_picks_the_symbol(exchange):
    oi = await exchange.open_interest("BTC-USDC-PERP")
    assert isinstance(oi, OpenInterest)
    assert oi.open_interest == Decimal("1273.85214") and oi.timestamp == pytest.approx(1753105735.301)


async def test_balances_signed(exchange):
    bal = await exchange.balances()
    assert [(b.currency, b.balance, b.reserved) for b in bal] == [("USDC", Decimal("130.5"), Decimal("10"))]
    assert exchange.seen[0] == ("/api/v1/capital", {}, True)


async def test_open_orders(exchange):
    (o,) = await exchange.orders("ETH-USDC")
    assert isinstance(o, OrderInfo)
    assert (o.symbol, o.id, o.side, o.status, o.type) == ("ETH-USDC", "4228978331", BUY, OPEN, LIMIT)
    assert (o.price, o.amount, o.remaining) == (Decimal("3000"), Decimal("0.001"), Decimal("0.0006"))
    assert o.timestamp == pytest.approx(1753626206.762) and o.client_order_id == "123456789"
    assert exchange.seen[0] == ("/api/v1/orders", {"symbol": "ETH_USDC"}, True)


async def test_positions(exchange):
    (p,) = await exchange.positions()
    assert isinstance(p, Position)
    assert (p.symbol, p.position, p.side) == ("ETH-USDC-PERP", Decimal("-0.0036"), SHORT)
    assert p.entry_price == Decimal("3826.8888888888888888888888889") and p.unrealised_pnl == Decimal("-0.141914")
    assert LONG != SHORT


async def test_trade_history_fills(exchange):
    (f,) = await exchange.trade_history("ETH-USDC-PERP", start="2025-07-27 00:00:00", end="2025-07-28 00:00:00")
    assert isinstance(f, Fill)
    assert (f.symbol, f.side, f.amount, f.price, f.fee, f.id, f.order_id, f.liquidity) == (
        "ETH-USDC-PERP", BUY, Decimal("0.0026"), Decimal("3826.15"), Decimal("0.004974"), "9748827", "4238907375", TAKER)
    assert f.timestamp == pytest.approx(1753637940.092)
    assert f.raw["feeSymbol"] == "USDC" and MAKER != TAKER
    path, query, signed = exchange.seen[0]
    assert path == "/wapi/v1/history/fills" and signed
    assert query == {"symbol": "ETH_USDC_PERP", "limit": "1000", "offset": "0", "from": "1753574400000", "to": "1753660800000"}


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
        book = host.l2_book_sync("SOL-USDC")
        assert book.sequence_number == 1504999670 and book.symbol == "SOL-USDC"
        loop.run_until_complete(host.rest_client.close())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join()
