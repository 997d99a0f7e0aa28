"""Identical content rendered as Backpack frames and as the equivalent Binance frames.

Backpack shapes follow docs/simulator.md's sources (the live frames quoted in the Backpack docs and
in ccxt's backpack.py comments): keys in alphabetical order, ``E``/``T`` integers in µs. Binance
shapes follow Binance's public "combined stream" docs (aggTrade, bookTicker, kline_1m,
depth@100ms), which is what cryptofeed's Binance handler parses. Same prices, quantities and
update ids on both sides, so the two handlers do the same book work.
"""
from __future__ import annotations

import json
import random
from decimal import Decimal

BP_SYMBOL = "BTC_USDC_PERP"
BP_STD = "BTC-USDC-PERP"
BN_SYMBOL = "BTCUSDT"
BN_STD = "BTC-USDT"
MID_TICKS = 1_000_000  # 100000.0 at tick 0.1
E0_US = 1790134357267289
START_ID = 6730019258


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


def qty(rng: random.Random) -> str:
    return f"{rng.randrange(1, 300000) / 100000:.5f}"


def book_levels(levels: int, rng: random.Random, mid: int = MID_TICKS) -> tuple[list, list]:
    """A snapshot of ``levels`` per side around ``mid`` ticks: bids ascending (best bid last, as
    /api/v1/depth sends them)."""
    bids = [[price(mid - i), qty(rng)] for i in range(levels, 0, -1)]
    asks = [[price(mid + i), qty(rng)] for i in range(1, levels + 1)]
    return bids, asks


def depth_updates(n: int, per_frame: int, levels: int, rng: random.Random) -> list[tuple[list, list]]:
    """``n`` deltas of ``per_frame`` levels in all (split between sides), inside the book's range;
    one level in ten is a deletion (qty 0) and is set again later, so the book stays near full size."""
    out = []
    for i in range(n):
        bids, asks = [], []
        for j in range(per_frame):
            side = bids if (i + j) % 2 == 0 else asks
            offset = 1 + min(int(rng.expovariate(1 / 60)), levels - 1)  # activity near the top
            ticks = MID_TICKS - offset if side is bids else MID_TICKS + offset
            side.append([price(ticks), "0.00000" if rng.random() < 0.1 else qty(rng)])
        out.append((bids, asks))
    return out


def reference_book(bids, asks, updates) -> tuple[dict, dict]:
    """The book every handler must end with: plain dicts of Decimal -> Decimal."""
    ref = ({Decimal(p): Decimal(q) for p, q in bids}, {Decimal(p): Decimal(q) for p, q in asks})
    for ub, ua in updates:
        for side, levels in ((ref[0], ub), (ref[1], ua)):
            for p, q in levels:
                if Decimal(q):
                    side[Decimal(p)] = Decimal(q)
                else:
                    side.pop(Decimal(p), None)
    return ref


# ---- Backpack --------------------------------------------------------------------------------

def bp_depth(updates) -> list[str]:
    return [_dumps({"data": {"E": E0_US + i, "T": E0_US - 215 + i, "U": START_ID + 1 + i, "a": a, "b": b, "e": "depth",
                             "s": BP_SYMBOL, "u": START_ID + 1 + i}, "stream": f"depth.{BP_SYMBOL}"})
            for i, (b, a) in enumerate(updates)]


def bp_trades(n: int, rng: random.Random) -> list[str]:
    return [_dumps({"data": {"E": E0_US + i, "T": E0_US - 2000 + i, "a": str(5121860761 + 2 * i), "b": str(5121861755 + 2 * i),
                             "e": "trade", "m": bool(i & 1), "p": price(MID_TICKS + rng.randrange(-50, 50)), "q": qty(rng),
                             "s": BP_SYMBOL, "t": 10782547 + i}, "stream": f"trade.{BP_SYMBOL}"}) for i in range(n)]


def bp_book_tickers(n: int, rng: random.Random) -> list[str]:
    frames = []
    for i in range(n):
        bid = MID_TICKS - rng.randrange(1, 5)
        frames.append(_dumps({"data": {"A": qty(rng), "B": qty(rng), "E": E0_US + i, "T": E0_US - 211 + i, "a": price(bid + 1),
                                       "b": price(bid), "e": "bookTicker", "s": BP_SYMBOL, "u": START_ID + i},
                              "stream": f"bookTicker.{BP_SYMBOL}"}))
    return frames


def _ohlc(rng):
    base = MID_TICKS + rng.randrange(-100, 100)
    return price(base), price(base + rng.randrange(0, 20)), price(base - rng.randrange(0, 20)), price(base + rng.randrange(-10, 10))


def bp_klines(n: int, rng: random.Random) -> list[str]:
    frames = []
    for i in range(n):
        o, h, low, c = _ohlc(rng)
        frames.append(_dumps({"data": {"E": E0_US + i, "T": "2026-12-01T00:01:00", "X": False, "c": c, "e": "kline", "h": h,
                                       "l": low, "n": 255 + i, "o": o, "s": BP_SYMBOL, "t": "2026-12-01T00:00:00",
                                       "v": qty(rng)}, "stream": f"kline.1m.{BP_SYMBOL}"}))
    return frames


# ---- Binance (same content) ---------------------------------------------------------------------

def _bn_ms(us: int) -> int:
    return us // 1000


def bn_from_bp(kind: str, bp_frames: list[str]) -> list[str]:
    """Re-render each Backpack frame as the Binance frame carrying the same values."""
    out = []
    low = BN_SYMBOL.lower()
    for text in bp_frames:
        d = json.loads(text)["data"]
        if kind == "trade":
            data = {"e": "aggTrade", "E": _bn_ms(d["E"]), "s": BN_SYMBOL, "a": d["t"], "p": d["p"], "q": d["q"], "f": d["t"],
                    "l": d["t"], "T": _bn_ms(d["T"]), "m": d["m"], "M": True}
            stream = f"{low}@aggTrade"
        elif kind == "bookTicker":
            data = {"u": d["u"], "s": BN_SYMBOL, "b": d["b"], "B": d["B"], "a": d["a"], "A": d["A"]}
            stream = f"{low}@bookTicker"
        elif kind == "kline":
            data = {"e": "kline", "E": _bn_ms(d["E"]), "s": BN_SYMBOL, "k": {
                "t": 1796083200000, "T": 1796083259999, "s": BN_SYMBOL, "i": "1m", "f": 100, "L": 100 + d["n"],
                "o": d["o"], "c": d["c"], "h": d["h"], "l": d["l"], "v": d["v"], "n": d["n"], "x": d["X"],
                "q": "0", "V": "0", "Q": "0", "B": "0"}}
            stream = f"{low}@kline_1m"
        elif kind == "depth":
            data = {"e": "depthUpdate", "E": _bn_ms(d["E"]), "s": BN_SYMBOL, "U": d["U"], "u": d["u"], "b": d["b"], "a": d["a"]}
            stream = f"{low}@depth@100ms"
        else:
            raise ValueError(kind)
        out.append(_dumps({"stream": stream, "data": data}))
    return out


def bn_exchange_info() -> dict:
    """The subset of Binance's /api/v3/exchangeInfo that cryptofeed's Binance._parse_symbol_data reads."""
    return {"symbols": [{"symbol": BN_SYMBOL, "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"}]}]}
