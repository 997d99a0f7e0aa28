"""Deterministic market engine: one L2 book per market, trades that eat it, one update-id counter.

Everything is integers (price in ticks, quantity in steps), so the book is exact and fast.
For a given seed the sequence of book changes and trades is the same on every run; only the
wall-clock timestamps differ. One engine event = one update id (``U == u`` in the realtime
stream, as docs/protocol.md §4 observed); REST ``lastUpdateId``, depth ``U``/``u`` and bookTicker
``u`` all read the same counter.

Simulated users' resting orders sit at the front of their price level's queue (a deliberate
simplification) so an engine trade at that price fills them first.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left, insort
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Protocol

from .markets import MarketSpec

LEVELS_PER_SIDE = 400
MAX_LEVELS_PER_SIDE = 700
TRADE_LOG_SIZE = 100_000
# The fair price follows a mean-reverting walk (Ornstein-Uhlenbeck, one draw per engine event) around
# the start price, and quotes are placed around the fair price rather than around the current touch:
# placing relative to the touch let every removal at the touch widen the spread for good (a ratchet).
REVERSION = 2e-5  # pull back to the start per event: a time constant of 50 000 events
VOLATILITY = 0.003  # stationary standard deviation of the fair price, as a fraction of the start price
FAR_PRUNE_CHANCE = 0.02  # per level event: drop the farthest level if the fair price has left it behind


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class Trade:
    id: int
    price: int
    qty: int
    buyer_is_maker: bool
    buyer_order: str
    seller_order: str
    T: int  # engine time, µs
    ts_ms: int


@dataclass(slots=True)
class UserOrder:
    id: str
    account: str
    symbol: str
    side: str  # "Bid" | "Ask"
    price: Optional[int]  # ticks; None = market order
    qty: int  # steps
    client_id: Optional[int] = None
    executed: int = 0
    executed_quote: int = 0  # ticks*steps
    status: str = "New"
    created_ms: int = 0

    @property
    def remaining(self) -> int:
        return self.qty - self.executed


@dataclass(slots=True)
class UserFill:
    order: UserOrder
    trade: Trade
    price: int
    qty: int
    maker: bool


class Publisher(Protocol):
    def on_depth(self, m: "MarketSim", asks: list, bids: list, first_id: int, last_id: int, T: int) -> None: ...
    def on_book_ticker(self, m: "MarketSim", T: int) -> None: ...
    def on_trade(self, m: "MarketSim", trade: Trade) -> None: ...
    def on_liquidation(self, m: "MarketSim", price: int, qty: int, side: str, T: int) -> None: ...
    def on_user_fill(self, m: "MarketSim", fill: UserFill) -> None: ...


@dataclass
class Stats24h:
    first: Optional[int] = None
    last: Optional[int] = None
    high: Optional[int] = None
    low: Optional[int] = None
    volume: int = 0  # steps
    quote_volume: int = 0  # ticks*steps
    count: int = 0


class MarketSim:
    """One market's book and trade tape. ``step()`` performs one random engine event."""

    def __init__(self, spec: MarketSpec, seed: int, publisher: Publisher):
        self.spec = spec
        self.symbol = spec.symbol
        self.pub = publisher
        self.rng = random.Random(seed * 1_000_003 + zlib.crc32(spec.symbol.encode()))
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = 0
        self.best_ask = 0
        # the same prices as bids/asks, kept sorted ascending, so the best and the farthest are O(1)
        self._bid_prices: list[int] = []
        self._ask_prices: list[int] = []
        self.update_id = 1_000_000_000 + zlib.crc32(spec.symbol.encode()) % 1_000_000_000
        self.trade_id = 5_000_000 + zlib.crc32(spec.symbol.encode()[::-1]) % 1_000_000
        self.order_seq = 4_000_000_000 + zlib.crc32(spec.symbol.encode()) % 100_000_000
        self.trades: deque[Trade] = deque(maxlen=TRADE_LOG_SIZE)
        self.stats = Stats24h()
        self.user_orders: dict[tuple[str, int], list[UserOrder]] = {}
        self.open_interest = spec.qty_steps(spec.typical_qty) * 400
        self.mid0 = spec.price_ticks(spec.price)
        self.typ = max(1, spec.qty_steps(spec.typical_qty))
        self.gap = max(1, self.mid0 // 10_000)  # level spacing ~1 bp deep in the book
        self.half_spread = max(1, self.gap // 2)
        self.span = LEVELS_PER_SIDE * (self.gap + 2)  # price range the seeded book covers, in ticks
        self.fair = float(self.mid0)
        self.fair_step = self.mid0 * VOLATILITY * math.sqrt(2 * REVERSION)
        self._chg_a: dict[int, int] = {}
        self._chg_b: dict[int, int] = {}
        self._seed_book()

    # ---- book primitives ------------------------------------------------------------------

    def _seed_book(self) -> None:
        rng, mid = self.rng, self.mid0
        spread = self.half_spread
        p = mid - spread
        for i in range(LEVELS_PER_SIDE):
            self.bids[p] = self._rand_qty()
            p -= 1 + (rng.randrange(3) if i < 20 else rng.randrange(1, 2 * self.gap + 1))
            if p <= 0:
                break
        p = mid + spread
        for i in range(LEVELS_PER_SIDE):
            self.asks[p] = self._rand_qty()
            p += 1 + (rng.randrange(3) if i < 20 else rng.randrange(1, 2 * self.gap + 1))
        self._bid_prices = sorted(self.bids)
        self._ask_prices = sorted(self.asks)
        self.best_bid = self._bid_prices[-1]
        self.best_ask = self._ask_prices[0]

    def _rand_qty(self) -> int:
        return max(1, int(self.typ * self.rng.expovariate(1.0)))

    def _user_qty(self, side: str, price: int) -> int:
        orders = self.user_orders.get((side, price))
        return sum(o.remaining for o in orders) if orders else 0

    def _set(self, is_bid: bool, price: int, qty: int) -> None:
        book, prices = (self.bids, self._bid_prices) if is_bid else (self.asks, self._ask_prices)
        if qty <= 0:
            if book.pop(price, None) is None:
                return
            del prices[bisect_left(prices, price)]
            qty = 0
            if is_bid:
                self.best_bid = prices[-1] if prices else 0
            else:
                self.best_ask = prices[0] if prices else 0
        else:
            if price not in book:
                insort(prices, price)
            book[price] = qty
            if is_bid:
                self.best_bid = prices[-1]
            else:
                self.best_ask = prices[0]
        (self._chg_b if is_bid else self._chg_a)[price] = qty

    def _commit(self) -> None:
        """Publish the accumulated level changes as one update id."""
        if not self._chg_a and not self._chg_b:
            return
        top = (self.best_bid, self.bids.get(self.best_bid), self.best_ask, self.asks.get(self.best_ask))
        self.update_id += 1
        T = now_us()
        asks = sorted(self._chg_a.items())
        bids = sorted(self._chg_b.items(), reverse=True)
        self._chg_a = {}
        self._chg_b = {}
        self.pub.on_depth(self, asks, bids, self.update_id, self.update_id, T)
        if top != self._last_top:
            self._last_top = top
            self.pub.on_book_ticker(self, T)

    _last_top: tuple = ()

    # ---- random engine events --------------------------------------------------------------

    def step(self) -> None:
        """One engine event: always exactly one new update id (a no-op draw is redrawn)."""
        before = self.update_id
        self.fair += REVERSION * (self.mid0 - self.fair) + self.rng.gauss(0.0, self.fair_step)
        self.fair = max(float(4 * self.half_spread + 2), self.fair)
        for _ in range(16):
            r = self.rng.random()
            if r < 0.22:
                self._random_trade()
            else:
                self._random_level()
            self._commit()
            if self.update_id != before:
                return

    def _random_level(self) -> None:
        rng = self.rng
        is_bid = rng.random() < 0.5
        book = self.bids if is_bid else self.asks
        k = rng.random()
        if k < 0.25 or len(book) < LEVELS_PER_SIDE // 2:
            d = int(rng.expovariate(1.0 / self.gap))  # at the touch: keeps both sides quoted
        elif k < 0.33:
            d = rng.randrange(self.span)  # anywhere in the book (PROTOCOL §4.7: deltas arrive far from the touch too)
        else:
            d = int(rng.expovariate(1.0 / (10 * self.gap)))
        fair = int(self.fair)
        price = fair - self.half_spread - d if is_bid else fair + self.half_spread + d
        # never cross: a quote beyond the other side's best joins the spread instead
        if is_bid and self.best_ask:
            price = min(price, self.best_ask - 1)
        elif not is_bid and self.best_bid:
            price = max(price, self.best_bid + 1)
        if price <= 0:
            return
        side = "Bid" if is_bid else "Ask"
        user = self._user_qty(side, price)
        if price in book and rng.random() < 0.35:
            qty = user  # the other participants leave; a user order keeps the level alive
        else:
            qty = user + self._rand_qty()
        if len(book) > MAX_LEVELS_PER_SIDE or (book and rng.random() < FAR_PRUNE_CHANCE):
            far = self._bid_prices[0] if is_bid else self._ask_prices[-1]
            too_far = abs(far - fair) > 2 * self.span
            if (len(book) > MAX_LEVELS_PER_SIDE or too_far) and not self.user_orders.get((side, far)):
                self._set(is_bid, far, 0)
        self._set(is_bid, price, qty)

    def _random_trade(self) -> None:
        rng = self.rng
        # takers lean towards the fair price: they buy a touch that sits below it, sell one above it
        drift = (self.fair - self.mid()) / (20 * self.half_spread)
        buy = rng.random() < 0.5 + max(-0.3, min(0.3, drift))
        qty = max(1, int(self.typ * rng.expovariate(1.5)))
        self.take("Bid" if buy else "Ask", qty, None, taker_order=self._next_order_id())
        if self.spec.is_perp and rng.random() < 0.01:
            price = self.best_bid if buy else self.best_ask
            if price:
                self.pub.on_liquidation(self, price, max(1, qty // 2), "Ask" if buy else "Bid", now_us())
        if self.spec.is_perp:
            self.open_interest = max(self.typ, self.open_interest + (qty if rng.random() < 0.52 else -qty))

    def _next_order_id(self) -> str:
        self.order_seq += self.rng.randrange(1, 50)
        return str(self.order_seq)

    # ---- matching -----------------------------------------------------------------------

    def take(self, taker_side: str, qty: int, limit: Optional[int], taker_order: str,
             taker: Optional[UserOrder] = None) -> int:
        """Match a taker against the opposite side; return the quantity filled. Does not commit."""
        is_buy = taker_side == "Bid"
        book = self.asks if is_buy else self.bids
        maker_side = "Ask" if is_buy else "Bid"
        filled = 0
        while qty > 0 and book:
            price = self.best_ask if is_buy else self.best_bid
            if limit is not None and ((is_buy and price > limit) or (not is_buy and price < limit)):
                break
            level = book[price]
            take = min(qty, level)
            left = take
            T = now_us()
            for order in list(self.user_orders.get((maker_side, price), ())):
                if left <= 0:
                    break
                q = min(left, order.remaining)
                self._trade(is_buy, price, q, taker_order, order.id, T, maker=order, taker=taker)
                left -= q
            if left > 0:
                self._trade(is_buy, price, left, taker_order, self._next_order_id(), T, taker=taker)
            self._set(not is_buy, price, level - take)
            qty -= take
            filled += take
        return filled

    def _trade(self, is_buy: bool, price: int, qty: int, taker_oid: str, maker_oid: str, T: int,
               maker: Optional[UserOrder] = None, taker: Optional[UserOrder] = None) -> None:
        self.trade_id += 1
        trade = Trade(
            id=self.trade_id, price=price, qty=qty, buyer_is_maker=not is_buy,
            buyer_order=taker_oid if is_buy else maker_oid,
            seller_order=maker_oid if is_buy else taker_oid,
            T=T, ts_ms=T // 1000,
        )
        self.trades.append(trade)
        st = self.stats
        if st.first is None:
            st.first = price
        st.last = price
        st.high = price if st.high is None else max(st.high, price)
        st.low = price if st.low is None else min(st.low, price)
        st.volume += qty
        st.quote_volume += qty * price
        st.count += 1
        self.pub.on_trade(self, trade)
        for order, is_maker in ((maker, True), (taker, False)):
            if order is not None:
                order.executed += qty
                order.executed_quote += qty * price
                order.status = "Filled" if order.remaining == 0 else "PartiallyFilled"
                if is_maker and order.remaining == 0:
                    self._unrest(order)
                self.pub.on_user_fill(self, UserFill(order, trade, price, qty, is_maker))

    # ---- user orders (driven by the private side) ------------------------------------------

    def place(self, order: UserOrder) -> None:
        """Match what crosses, rest the remainder of a limit order; commit the book change."""
        if order.price is None or (order.side == "Bid" and self.best_ask and order.price >= self.best_ask) or (
            order.side == "Ask" and self.best_bid and order.price <= self.best_bid
        ):
            self.take(order.side, order.remaining, order.price, order.id, taker=order)
        if order.price is not None and order.remaining > 0:
            self.user_orders.setdefault((order.side, order.price), []).append(order)
            is_bid = order.side == "Bid"
            book = self.bids if is_bid else self.asks
            self._set(is_bid, order.price, book.get(order.price, 0) + order.remaining)
        elif order.price is None and order.remaining > 0:
            order.status = "Filled" if order.executed else "Expired"
        self._commit()

    def cancel(self, order: UserOrder) -> bool:
        if order.status not in ("New", "PartiallyFilled") or order.price is None:
            return False
        self._unrest(order)
        is_bid = order.side == "Bid"
        book = self.bids if is_bid else self.asks
        self._set(is_bid, order.price, book.get(order.price, 0) - order.remaining)
        order.status = "Cancelled"
        self._commit()
        return True

    def _unrest(self, order: UserOrder) -> None:
        key = (order.side, order.price)
        orders = self.user_orders.get(key)
        if orders and order in orders:
            orders.remove(order)
            if not orders:
                del self.user_orders[key]

    # ---- views -------------------------------------------------------------------------

    def mid(self) -> int:
        if self.best_bid and self.best_ask:
            return (self.best_bid + self.best_ask) // 2
        return self.stats.last or self.mid0

    def last_price(self) -> int:
        return self.stats.last if self.stats.last is not None else self.mid()


@dataclass
class BookView:
    """The authoritative book of one market, as Decimals (what ``sim.book(symbol)`` returns)."""

    symbol: str
    bids: dict = field(default_factory=dict)
    asks: dict = field(default_factory=dict)
    last_update_id: int = 0

    @classmethod
    def of(cls, m: MarketSim) -> "BookView":
        s = m.spec
        return cls(
            symbol=m.symbol,
            bids={s.price_dec(p): s.qty_dec(q) for p, q in m.bids.items()},
            asks={s.price_dec(p): s.qty_dec(q) for p, q in m.asks.items()},
            last_update_id=m.update_id,
        )
