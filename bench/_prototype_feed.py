"""Prototype hot paths for bench/prototypes.py, kept out of the package on purpose: the feed and
wire layers are being reorganised, so this shows what two changes would give before anyone
wires them in (docs/performance.md, "Prototypes").

- ``price_cache``: depth levels decode their price as text and go through
  ``cryptofeed_backpack.decimal_cache.DecimalCache`` (one shared, pre-hashed Decimal per price
  text); trades intern their price the same way. Quantities stay msgspec Decimals.
- ``one_pass``: the depth levels stay text all the way into the book: a BookSync whose delta step
  is ``DecimalCache.apply`` (intern, set/delete and collect the delta pairs in one loop), instead
  of interning into a new DepthMsg and then looping again in ``apply_levels``.
- ``single_pass``: one msgspec decode of the whole frame into a union tagged by the event type
  ``e`` (trade, depth, bookTicker, kline), instead of an envelope with raw ``data`` plus a second
  decode. Anything else (errors, other streams, private events) falls back to today's handler.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional, Union

import msgspec

from cryptofeed.defines import ASK, BID, L2_BOOK

from cryptofeed_backpack import BackpackFeed, parse
from cryptofeed_backpack.book_sync import BookSync, Outcome
from cryptofeed_backpack.decimal_cache import DecimalCache
from cryptofeed_backpack.schemas import ENVELOPE, STREAM_DECODERS, BookTickerMsg, DepthMsg, DepthSnapshot, KlineMsg, TradeMsg

TextLevel = tuple[str, Decimal]


class DepthText(msgspec.Struct, frozen=True, tag_field="e", tag="depth"):
    symbol: str = msgspec.field(name="s")
    first_id: int = msgspec.field(name="U")
    last_id: int = msgspec.field(name="u")
    asks: list[TextLevel] = msgspec.field(name="a", default_factory=list)
    bids: list[TextLevel] = msgspec.field(name="b", default_factory=list)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)


class TradeText(msgspec.Struct, frozen=True, tag_field="e", tag="trade"):
    symbol: str = msgspec.field(name="s")
    price_text: str = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    trade_id: int = msgspec.field(name="t")
    engine_time_us: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    event_time_us: int = msgspec.field(name="E", default=0)


def _tagged(base, tag):
    """The schemas.py Struct with the same fields, tagged for the union."""
    fields = [(f.name, f.type, msgspec.field(name=f.encode_name, default=f.default) if f.default is not msgspec.NODEFAULT
               else msgspec.field(name=f.encode_name)) for f in msgspec.structs.fields(base)]
    return msgspec.defstruct(f"{base.__name__}Tagged", fields, frozen=True, tag_field="e", tag=tag)


BookTickerTagged = _tagged(BookTickerMsg, "bookTicker")
KlineTagged = _tagged(KlineMsg, "kline")


class Frame(msgspec.Struct, frozen=True):
    stream: str
    data: Union[TradeText, DepthText, BookTickerTagged, KlineTagged]


class SnapshotText(msgspec.Struct, frozen=True):
    """``GET /api/v1/depth`` with the prices kept as text, to be interned like the deltas' prices."""

    asks: list[TextLevel]
    bids: list[TextLevel]
    lastUpdateId: int
    timestamp: Optional[int] = None


FRAME = msgspec.json.Decoder(Frame, strict=False)
SNAPSHOT_TEXT = msgspec.json.Decoder(SnapshotText, strict=False)
DEPTH_TEXT = msgspec.json.Decoder(DepthText, strict=False)
TRADE_TEXT = msgspec.json.Decoder(TradeText, strict=False)


class InterningBookSync(BookSync):
    """BookSync whose deltas carry price text; ``last_bids``/``last_asks`` are the applied pairs."""

    __slots__ = ("_apply", "last_bids", "last_asks")

    def __init__(self, symbol, factory, prices: DecimalCache):
        super().__init__(symbol, factory)
        self._apply = prices.apply
        self.last_bids = self.last_asks = ()

    def on_delta(self, msg) -> Outcome:
        last = self.last_id
        if last is None:
            self._buffer.append(msg)
            return Outcome.BUFFERED
        if msg.last_id <= last:
            return Outcome.STALE
        if msg.first_id > last + 1:
            self.gaps += 1
            self.reset()
            self._buffer.append(msg)
            return Outcome.GAP
        self.last_bids = self._apply(self.bids, msg.bids)
        self.last_asks = self._apply(self.asks, msg.asks)
        self.last_id = msg.last_id
        return Outcome.APPLIED


class PrototypeFeed(BackpackFeed):
    def __init__(self, *args, price_cache: bool = True, single_pass: bool = False, one_pass: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.prices: Optional[DecimalCache] = DecimalCache() if price_cache or one_pass else None
        self._single_pass = single_pass
        self._one_pass = one_pass

    def _book_for(self, exchange_symbol: str, symbol: str) -> BookSync:
        if not self._one_pass:
            return super()._book_for(exchange_symbol, symbol)
        book = self._books.get(exchange_symbol)
        if book is None:
            def factory(symbol=symbol):
                from cryptofeed.types import OrderBook

                ob = OrderBook(self.id, symbol)
                return ob, ob.book.bids, ob.book.asks
            book = self._books[exchange_symbol] = InterningBookSync(symbol, factory, self.prices)
        return book

    async def _emit_delta(self, book, msg, timestamp: float) -> None:
        if self.max_depth or not self._one_pass:
            await super()._emit_delta(book, msg, timestamp)
            return
        await self.book_callback(L2_BOOK, book.container, timestamp, timestamp=parse.us_to_s(msg.engine_time_us or msg.event_time_us),
                                 raw=None, sequence_number=msg.last_id, delta={BID: book.last_bids, ASK: book.last_asks})

    def _depth(self, d: DepthText) -> DepthMsg:
        levels = self.prices.levels
        return DepthMsg(d.symbol, d.first_id, d.last_id, levels(d.asks), levels(d.bids), d.engine_time_us, d.event_time_us)

    def decode_snapshot(self, body: bytes | str) -> DepthSnapshot:
        """Decode a REST snapshot so the book's keys are the cache's objects: a later delta at the
        same price then finds its key by identity."""
        s = SNAPSHOT_TEXT.decode(body)
        levels = self.prices.levels
        return DepthSnapshot(levels(s.asks), levels(s.bids), s.lastUpdateId, s.timestamp)

    def _trade(self, t: TradeText) -> TradeMsg:
        return TradeMsg(t.symbol, self.prices[t.price_text], t.quantity, t.trade_id, t.engine_time_us, t.buyer_is_maker,
                        t.event_time_us)

    async def message_handler(self, msg, conn, timestamp: float) -> None:
        if self._single_pass:
            try:
                frame = FRAME.decode(msg)
            except (msgspec.DecodeError, msgspec.ValidationError):
                await super().message_handler(msg, conn, timestamp)
                return
            stream, data = frame.stream, frame.data
        else:
            try:
                envelope = ENVELOPE.decode(msg)
                stream = envelope.stream
                kind = stream.partition(".")[0] if stream else None
                if kind == "depth" and self.prices is not None:
                    data = DEPTH_TEXT.decode(envelope.data)
                elif kind == "trade" and self.prices is not None:
                    data = TRADE_TEXT.decode(envelope.data)
                elif kind in ("bookTicker", "kline"):
                    data = STREAM_DECODERS[kind].decode(envelope.data)
                else:
                    await super().message_handler(msg, conn, timestamp)
                    return
            except (msgspec.DecodeError, msgspec.ValidationError):
                await super().message_handler(msg, conn, timestamp)
                return
        self.metrics.frame(stream, timestamp)
        symbol = self.exchange_symbol_mapping.get(data.symbol)
        if symbol is None:
            self._drop("unknown_symbol", stream.partition(".")[0], msg, None)
            return
        kind = type(data)
        if kind is DepthText:
            await self._on_depth(data if self._one_pass else self._depth(data), symbol, timestamp)
        elif kind is TradeText:
            await self._on_trade(self._trade(data), symbol, timestamp)
        elif kind is BookTickerTagged or kind is BookTickerMsg:
            await self._on_book_ticker(data, symbol, timestamp)
        else:
            await self._on_kline(data, symbol, timestamp)
