"""Every name Backpack Exchange defines, written once (sources: docs/protocol.md).

The exchange id, hosts, REST paths with the instruction that signs them and their rate class,
candle intervals, depth windows and snapshot limits, sides and the STREAM TABLE. Everything else
in the package (feed, REST client, simulator, ccxt fallback) reads these names from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from cryptofeed.defines import (BUY, CANDLES, FILLS, FUNDING, INDEX, L1_BOOK, L2_BOOK, LIQUIDATIONS,
                                OPEN_INTEREST, ORDER_INFO, POSITIONS, SELL, TICKER, TRADES)

EXCHANGE_ID = "BACKPACK"
#: cryptofeed keys an exchange's config.yaml section by the lower-case id
CONFIG_SECTION = EXCHANGE_ID.lower()

REST_URL = "https://api.backpack.exchange"
WS_URL = "wss://ws.backpack.exchange"
STATUS_PAGE = "https://status.backpack.exchange"


# ---- REST -------------------------------------------------------------------------------------

#: rate classes (Backpack FAQ): 2000 requests/min per subaccount, 30/min on "historical" endpoints
STANDARD, HISTORY = "standard", "history"


@dataclass(frozen=True)
class RestPath:
    path: str
    instruction: Optional[str] = None  # the signing instruction; None = public
    rate_class: str = STANDARD

    @property
    def signed(self) -> bool:
        return self.instruction is not None


class Rest:
    """Every REST endpoint the package (client or simulator) uses."""

    MARKETS = RestPath("/api/v1/markets")
    MARKET = RestPath("/api/v1/market")
    ASSETS = RestPath("/api/v1/assets")
    SECURITIES = RestPath("/api/v1/securities")  # ccxt >= 4.5.90 reads it at start-up (simulator only)
    DEPTH = RestPath("/api/v1/depth")
    TRADES = RestPath("/api/v1/trades")
    TRADES_HISTORY = RestPath("/api/v1/trades/history", rate_class=HISTORY)
    TICKER = RestPath("/api/v1/ticker")
    TICKERS = RestPath("/api/v1/tickers")
    KLINES = RestPath("/api/v1/klines", rate_class=HISTORY)
    MARK_PRICES = RestPath("/api/v1/markPrices")
    OPEN_INTEREST = RestPath("/api/v1/openInterest")
    FUNDING_RATES = RestPath("/api/v1/fundingRates", rate_class=HISTORY)
    STATUS = RestPath("/api/v1/status")
    TIME = RestPath("/api/v1/time")
    PING = RestPath("/api/v1/ping")
    CAPITAL = RestPath("/api/v1/capital", instruction="balanceQuery")
    ORDERS = RestPath("/api/v1/orders", instruction="orderQueryAll")
    POSITION = RestPath("/api/v1/position", instruction="positionQuery")
    FILLS_HISTORY = RestPath("/wapi/v1/history/fills", instruction="fillHistoryQueryAll", rate_class=HISTORY)

    @classmethod
    def all(cls) -> tuple[RestPath, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, RestPath))


#: the WebSocket subscription is signed with this instruction (docs: Streams/Private)
WS_SUBSCRIBE_INSTRUCTION = "subscribe"

#: the largest ``limit`` of /trades, /trades/history and /wapi/v1/history/fills
PAGE_LIMIT = 1000
#: /api/v1/depth ``limit`` values (anything else is a plain-text 400)
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
#: /api/v1/ticker ``interval`` values
TICKER_INTERVALS = ("1d", "1w")


# ---- candles ----------------------------------------------------------------------------------

#: kline interval -> its length in seconds (``1month`` is calendar-aligned; 30 days is its nominal size)
CANDLE_INTERVALS: dict[str, int] = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
    "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800, "1month": 2592000,
}


# ---- book -------------------------------------------------------------------------------------

DEPTH_WINDOWS = ("realtime", "200ms", "600ms", "1000ms")


def depth_stream_prefix(window: str) -> str:
    return "depth" if window == "realtime" else f"depth.{window}"


# ---- sides and market types -------------------------------------------------------------------

#: Backpack side (orders, fills, liquidations) -> cryptofeed side
SIDES = {"Bid": BUY, "Ask": SELL}
SPOT_MARKET, PERP_MARKET = "SPOT", "PERP"
CLOSED_BOOK_STATE = "Closed"


# ---- WebSocket --------------------------------------------------------------------------------

#: error codes that reject a stream name or a frame, never credentials (docs: Streams/Usage)
WS_PARSE_ERROR, WS_INVALID_STREAM, WS_INVALID_DEPTH_WINDOW = 4002, 4006, 4008
NOT_AUTH_ERROR_CODES = frozenset({WS_PARSE_ERROR, WS_INVALID_STREAM, WS_INVALID_DEPTH_WINDOW})

ORDER_UPDATE_STREAM = "account.orderUpdate"
POSITION_UPDATE_STREAM = "account.positionUpdate"


@dataclass(frozen=True)
class StreamKind:
    """One Backpack stream type: what it feeds and how its subscription is named.

    ``template`` takes ``symbol``, ``interval`` (klines) and ``depth`` (the depth prefix).
    ``quiet`` streams may stay silent for minutes (rare events): silence never degrades health
    and never triggers a resubscribe. ``private`` streams are signed.
    """

    kind: str
    channels: tuple[str, ...]
    template: str
    quiet: bool = False
    private: bool = False

    def name(self, symbol: Optional[str], *, interval: str = "", depth: str = "depth") -> str:
        if symbol is None:  # the bare, all-markets form (liquidation, account.*)
            return self.template.split(".{symbol}")[0].format(interval=interval, depth=depth)
        return self.template.format(symbol=symbol, interval=interval, depth=depth)


STREAMS: tuple[StreamKind, ...] = (
    StreamKind("trade", (TRADES,), "trade.{symbol}"),
    StreamKind("depth", (L2_BOOK,), "{depth}.{symbol}"),
    StreamKind("bookTicker", (TICKER, L1_BOOK), "bookTicker.{symbol}"),
    StreamKind("kline", (CANDLES,), "kline.{interval}.{symbol}"),
    StreamKind("markPrice", (FUNDING, INDEX), "markPrice.{symbol}"),
    StreamKind("openInterest", (OPEN_INTEREST,), "openInterest.{symbol}", quiet=True),
    StreamKind("liquidation", (LIQUIDATIONS,), "liquidation.{symbol}", quiet=True),
    StreamKind(ORDER_UPDATE_STREAM, (ORDER_INFO, FILLS), ORDER_UPDATE_STREAM + ".{symbol}", quiet=True, private=True),
    StreamKind(POSITION_UPDATE_STREAM, (POSITIONS,), POSITION_UPDATE_STREAM + ".{symbol}", quiet=True, private=True),
)
STREAM_BY_KIND = {s.kind: s for s in STREAMS}
#: cryptofeed channel -> its stream kind (cryptofeed's ``websocket_channels`` is derived from this)
STREAM_FOR_CHANNEL = {channel: s for s in STREAMS for channel in s.channels}


def stream_kind_of(stream: str) -> Optional[StreamKind]:
    """The kind of a pushed stream name (``trade.SOL_USDC`` -> trade, ``account.orderUpdate.X`` -> orderUpdate)."""
    head = stream.partition(".")[0]
    if head == "account":
        head = ".".join(stream.split(".", 2)[:2])
    return STREAM_BY_KIND.get(head)
