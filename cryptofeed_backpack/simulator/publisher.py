"""Engine events -> WebSocket frames, in the exact payload shapes of docs/protocol.md §3.2.

Keys are written in the alphabetical order live frames have. Integers (E, T, U, u, t, n) are
JSON numbers; prices and quantities are strings padded to tick/step.
"""
from __future__ import annotations

import random
from array import array
from collections import defaultdict
import time
from decimal import Decimal
from typing import Callable, Optional

from . import klines
from .engine import MarketSim, Trade, UserFill, now_us
from .hub import Hub
from .private import Accounts
from .streams import DEPTH_WINDOWS

EIGHT = Decimal("0.00000001")


class _Window:
    __slots__ = ("first", "last", "asks", "bids", "T")

    def __init__(self):
        self.first = 0
        self.last = 0
        self.asks: dict[int, int] = {}
        self.bids: dict[int, int] = {}
        self.T = 0


class _Candle:
    __slots__ = ("start", "end", "o", "h", "l", "c", "v", "n", "dirty")

    def __init__(self, start: int, end: int):
        self.start, self.end = start, end
        self.o = self.h = self.l = self.c = None
        self.v = 0
        self.n = 0
        self.dirty = False

    def add(self, price: int, qty: int) -> None:
        if self.o is None:
            self.o = self.h = self.l = price
        self.h = max(self.h, price)
        self.l = min(self.l, price)
        self.c = price
        self.v += qty
        self.n += 1
        self.dirty = True


class Publisher:
    def __init__(self, hub: Hub, seed: int = 0, specs: Optional[dict] = None, accounts: Optional[Accounts] = None):
        """``specs``: symbol -> MarketSpec of the open markets; ``accounts``: who hears of user fills."""
        self.hub = hub
        self.accounts = accounts
        self._specs: dict = dict(specs or {})
        self.windows: dict[tuple[str, str], _Window] = {}
        self.candles: dict[str, dict[str, _Candle]] = {}  # symbol -> interval -> candle
        self.rng = random.Random(seed ^ 0x5EED)
        self.engine_frames = 0  # frames the engine produced, subscribed or not (rate control)
        self.on_engine_frame: Optional[Callable[[], None]] = None
        self.held_depth: dict[str, dict] = {}  # a delta held back by swap_next_depth
        # Ground truth for lossless-trade checks: every trade id the engine made (the exchange's tape),
        # and the ids sent while someone was subscribed to trade.<symbol>. Ids only, so a long run stays small.
        self.tape: dict[str, array] = defaultdict(lambda: array("q"))
        self.published: dict[str, array] = defaultdict(lambda: array("q"))

    # ---- engine callbacks -------------------------------------------------------------------

    def on_depth(self, m: MarketSim, asks: list, bids: list, first_id: int, last_id: int, T: int) -> None:
        self.engine_frames += 1
        sym, hub = m.symbol, self.hub
        key = "depth." + sym
        if hub.wants(key) or hub.recorder is not None:
            spec = m.spec
            a = [[spec.price_str(p), spec.qty_str(q)] for p, q in asks]
            b = [[spec.price_str(p), spec.qty_str(q)] for p, q in bids]
            data = {"E": now_us(), "T": T, "U": first_id, "a": a, "b": b, "e": "depth", "s": sym, "u": last_id}
            self._publish_depth(sym, key, data)
        for window in DEPTH_WINDOWS:
            wkey = f"depth.{window}.{sym}"
            if not hub.wants(wkey):
                continue
            acc = self.windows.get((window, sym))
            if acc is None:
                acc = self.windows[(window, sym)] = _Window()
            if not acc.first:
                acc.first = first_id
            acc.last = last_id
            acc.T = T
            acc.asks.update(asks)
            acc.bids.update(bids)

    def _publish_depth(self, sym: str, key: str, data: dict) -> None:
        """One realtime delta onto the wire, through whatever depth fault is armed for ``sym``."""
        hub, faults = self.hub, self.hub.faults
        if faults.drop_depth.get(sym):
            faults.drop_depth[sym] -= 1
            faults.count("depth_dropped")
            return
        if faults.reorder_depth.get(sym) and (len(data["a"]) > 1 or len(data["b"]) > 1):
            faults.reorder_depth[sym] -= 1
            faults.count("depth_levels_reordered")
            data["a"].reverse()
            data["b"].reverse()
        far = faults.far_ahead_depth.get(sym)
        if far:
            far[0] -= 1
            if far[0] <= 0:
                del faults.far_ahead_depth[sym]
            _, ahead, straddle = far
            data = {**data, "U": data["U"] if straddle else data["U"] + ahead, "u": data["u"] + ahead}
            faults.count("depth_far_ahead")
        held = self.held_depth.pop(sym, None)
        if held is None and faults.swap_depth.get(sym):
            faults.swap_depth[sym] -= 1
            self.held_depth[sym] = data  # sent right after the next delta
            return
        hub.publish(key, key, data)
        if held is not None:
            hub.publish(key, key, held)
            faults.count("depth_swapped")
        if faults.duplicate_depth.get(sym):
            faults.duplicate_depth[sym] -= 1
            faults.count("depth_duplicated")
            hub.publish(key, key, data)

    def on_book_ticker(self, m: MarketSim, T: int) -> None:
        self.engine_frames += 1
        key = "bookTicker." + m.symbol
        if not self.hub.wants(key) and self.hub.recorder is None:
            return
        spec = m.spec
        bb, ba = m.best_bid, m.best_ask
        data = {
            "A": spec.qty_str(m.asks[ba]) if ba in m.asks else None,
            "B": spec.qty_str(m.bids[bb]) if bb in m.bids else None,
            "E": now_us(),
            "T": T,
            "a": spec.price_str(ba) if ba in m.asks else None,
            "b": spec.price_str(bb) if bb in m.bids else None,
            "e": "bookTicker",
            "s": m.symbol,
            "u": m.update_id,
        }
        self.hub.publish(key, key, data)

    def on_trade(self, m: MarketSim, t: Trade) -> None:
        self.engine_frames += 1
        candles = self.candles.get(m.symbol)
        if candles:
            for candle in candles.values():
                candle.add(t.price, t.qty)
        self.tape[m.symbol].append(t.id)
        key = "trade." + m.symbol
        if not self.hub.wants(key) and self.hub.recorder is None:
            return
        if self.hub.wants(key):
            self.published[m.symbol].append(t.id)
        spec = m.spec
        data = {
            "E": now_us(), "T": t.T, "a": t.seller_order, "b": t.buyer_order, "e": "trade",
            "m": t.buyer_is_maker, "p": spec.price_str(t.price), "q": spec.qty_str(t.qty), "s": m.symbol, "t": t.id,
        }
        self.hub.publish(key, key, data)
        faults = self.hub.faults
        if faults.duplicate_trade.get(m.symbol):
            faults.duplicate_trade[m.symbol] -= 1
            faults.count("trade_duplicated")
            self.hub.publish(key, key, data)

    def on_liquidation(self, m: MarketSim, price: int, qty: int, side: str, T: int) -> None:
        spec = m.spec
        data = {"E": now_us(), "S": side, "T": T, "e": "liquidation", "p": spec.price_str(price),
                "q": spec.qty_str(qty), "s": m.symbol}
        for key in ("liquidation." + m.symbol, "liquidation"):
            if self.hub.wants(key):
                self.hub.publish(key, key, data)

    def on_user_fill(self, m: MarketSim, fill: UserFill) -> None:
        if self.accounts is not None:
            self.accounts.on_fill(m, fill)

    # ---- periodic streams -------------------------------------------------------------------

    def flush_window(self, window: str) -> None:
        for (w, sym), acc in self.windows.items():
            if w != window or not acc.first:
                continue
            m_spec = self._specs[sym]
            key = f"depth.{window}.{sym}"
            data = {
                "E": now_us(), "T": acc.T, "U": acc.first,
                "a": [[m_spec.price_str(p), m_spec.qty_str(q)] for p, q in sorted(acc.asks.items())],
                "b": [[m_spec.price_str(p), m_spec.qty_str(q)] for p, q in sorted(acc.bids.items(), reverse=True)],
                "e": "depth", "s": sym, "u": acc.last,
            }
            acc.first = 0
            acc.asks = {}
            acc.bids = {}
            self.hub.publish(key, key, data)

    def every_second(self, markets: dict[str, MarketSim]) -> None:
        now_s = time.time()
        for sym, m in markets.items():
            if self.hub.wants("ticker." + sym):
                self.hub.publish("ticker." + sym, "ticker." + sym, self.ticker_data(m))
            key = "markPrice." + sym
            if self.hub.wants(key):
                self.hub.publish(key, key, self.mark_data(m))
            self._klines(m, now_s)

    def open_interest(self, markets: dict[str, MarketSim]) -> None:
        for sym, m in markets.items():
            key = "openInterest." + sym
            if m.spec.is_perp and self.hub.wants(key):
                data = {"E": now_us(), "e": "openInterest", "o": m.spec.qty_str(m.open_interest), "s": sym}
                self.hub.publish(key, key, data)

    def ticker_data(self, m: MarketSim) -> dict:
        st, spec = m.stats, m.spec
        last = m.last_price()
        return {
            "E": now_us(),
            "V": _dec_str(spec.price_dec(1) * spec.qty_dec(st.quote_volume)),
            "c": spec.price_str(last),
            "e": "ticker",
            "h": spec.price_str(st.high if st.high is not None else last),
            "l": spec.price_str(st.low if st.low is not None else last),
            "n": st.count,
            "o": spec.price_str(st.first if st.first is not None else last),
            "s": m.symbol,
            "v": spec.qty_str(st.volume),
        }

    def mark_values(self, m: MarketSim) -> tuple[Decimal, Decimal, Decimal]:
        """(mark, index, funding estimate) around the book mid."""
        mid = m.spec.price_dec(m.mid())
        index = (mid * (1 + Decimal(self.rng.uniform(-2e-4, 2e-4)))).quantize(EIGHT)
        mark = (mid * (1 + Decimal(self.rng.uniform(-1e-4, 1e-4)))).quantize(EIGHT)
        funding = ((mark - index) / index / 8).quantize(Decimal("0.0000001")) if index else Decimal(0)
        return mark, index, funding

    def mark_data(self, m: MarketSim) -> dict:
        mark, index, funding = self.mark_values(m)
        T = now_us()
        data = {"E": now_us(), "T": T, "e": "markPrice"}
        if m.spec.is_perp:  # f, i, n exist only where funding exists (PROTOCOL §3.2, §1.6)
            data["f"] = _dec_str(funding)
            data["i"] = _dec_str(index)
            data["n"] = next_funding_ms()
        data["p"] = _dec_str(mark)
        data["s"] = m.symbol
        return data

    def track_klines(self, symbol: str, interval: str) -> None:
        per = self.candles.setdefault(symbol, {})
        if interval not in per:
            start, end = klines.bucket(interval, time.time())
            per[interval] = _Candle(start, end)

    def _klines(self, m: MarketSim, now_s: float) -> None:
        per = self.candles.get(m.symbol)
        if not per:
            return
        for interval, candle in list(per.items()):
            key = f"kline.{interval}.{m.symbol}"
            if now_s >= candle.end:
                if candle.n:
                    self.hub.publish(key, key, self._kline_data(m, candle, True))
                start, end = klines.bucket(interval, now_s)
                per[interval] = _Candle(start, end)
            elif candle.dirty:
                candle.dirty = False
                self.hub.publish(key, key, self._kline_data(m, candle, False))

    def _kline_data(self, m: MarketSim, c: _Candle, closed: bool) -> dict:
        spec = m.spec
        return {
            "E": now_us(), "T": klines.iso(c.end), "X": closed, "c": spec.price_str(c.c), "e": "kline",
            "h": spec.price_str(c.h), "l": spec.price_str(c.l), "n": c.n, "o": spec.price_str(c.o),
            "s": m.symbol, "t": klines.iso(c.start), "v": spec.qty_str(c.v),
        }


def next_funding_ms() -> int:
    now_ms = int(time.time() * 1000)
    return (now_ms // 3_600_000 + 1) * 3_600_000


def _dec_str(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
