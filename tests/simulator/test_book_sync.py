"""One update-id counter per market: REST lastUpdateId, depth U/u and bookTicker u agree, and a
client applying deltas on a REST snapshot ends with exactly the simulator's book."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp

from cryptofeed_backpack.simulator import BackpackSimulator


class LocalBook:
    """The docs/protocol.md §4 algorithm, written independently of the project's book_sync."""

    def __init__(self):
        self.bids: dict = {}
        self.asks: dict = {}
        self.last_u = None
        self.gaps = 0

    def seed(self, snap: dict) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        self.last_u = int(snap["lastUpdateId"])

    def apply(self, d: dict) -> bool:
        if d["u"] <= self.last_u:
            return True
        if d["U"] > self.last_u + 1:
            self.gaps += 1
            return False
        for side, levels in ((self.bids, d["b"]), (self.asks, d["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        self.last_u = d["u"]
        return True


async def snapshot(sim, symbol):
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.rest_url}/api/v1/depth", params={"symbol": symbol, "limit": "1000"},
                         ssl=sim.ssl_context()) as r:
            return await r.json()


async def test_deltas_on_snapshot_equal_the_authoritative_book(connect):
    async with BackpackSimulator(symbols=["BTC_USDC_PERP", "kPEPE_USDC_PERP"], seed=11, rate=3000) as sim:
        c = await connect(sim)
        await c.subscribe("depth.BTC_USDC_PERP", "bookTicker.BTC_USDC_PERP")
        await sim.wait_subscriptions(2)
        buffered = [await c.recv() for _ in range(20)]
        snap = await snapshot(sim, "BTC_USDC_PERP")
        book = LocalBook()
        book.seed(snap)
        ticker_us = []
        deltas = [f["data"] for f in buffered if f["stream"].startswith("depth")]
        assert deltas[0]["U"] <= int(snap["lastUpdateId"]) + 1  # the socket reaches back past the snapshot
        for d in deltas:
            assert book.apply(d)
        for _ in range(1500):
            frame = await c.recv()
            if frame["stream"].startswith("bookTicker"):
                ticker_us.append(frame["data"]["u"])
            else:
                assert book.apply(frame["data"])
        sim.pause()
        await sim.drain()
        target = sim.book("BTC_USDC_PERP")
        while book.last_u < target.last_update_id:
            frame = await c.recv()
            if frame["stream"].startswith("depth"):
                assert book.apply(frame["data"])
        assert book.gaps == 0
        assert book.last_u == target.last_update_id
        assert book.bids == target.bids and book.asks == target.asks
        assert len(target.bids) > 200 and len(target.asks) > 200
        # REST at the checkpoint carries the same id as the last delta
        assert int((await snapshot(sim, "BTC_USDC_PERP"))["lastUpdateId"]) == target.last_update_id
        # bookTicker u lives in the depth id space
        assert ticker_us and all(int(snap["lastUpdateId"]) - 100 < u <= target.last_update_id for u in ticker_us)
        assert max(book.bids) < min(book.asks)


async def test_realtime_ids_are_contiguous_and_windows_cover_them(paused_sim, connect):
    c = await connect(paused_sim)
    sym = "AAPL.US_USDC_PERP"
    await c.subscribe(f"depth.{sym}", f"depth.200ms.{sym}", f"bookTicker.{sym}")
    await paused_sim.wait_subscriptions(3)
    start = paused_sim.book(sym).last_update_id
    await paused_sim.step(200, symbol=sym)
    await asyncio.sleep(0.5)  # let at least one 200 ms window flush
    frames = await c.quiet(0.6)
    realtime = [f["data"] for f in frames if f["stream"] == f"depth.{sym}"]
    windowed = [f["data"] for f in frames if f["stream"] == f"depth.200ms.{sym}"]
    tickers = [f["data"] for f in frames if f["stream"] == f"bookTicker.{sym}"]
    assert [d["U"] for d in realtime] == list(range(start + 1, start + 201))
    assert all(d["U"] == d["u"] for d in realtime)
    assert windowed[0]["U"] == start + 1 and windowed[-1]["u"] == start + 200
    for prev, nxt in zip(windowed, windowed[1:]):
        assert nxt["U"] == prev["u"] + 1
    assert any(d["U"] < d["u"] for d in windowed)
    ids = {d["u"] for d in realtime}
    assert tickers and all(t["u"] in ids for t in tickers)
    for t in tickers:  # the ticker shows the book top as of its id
        assert Decimal(t["a"]) > Decimal(t["b"])


async def test_same_seed_same_market(connect):
    async def run(seed):
        async with BackpackSimulator(symbols=["SOL_USDC"], seed=seed, paused=True) as s:
            await s.step(500)
            b = s.book("SOL_USDC")
            return b.bids, b.asks, [t.id for t in s.markets["SOL_USDC"].trades], [t.price for t in s.markets["SOL_USDC"].trades]

    a, b, c = await run(5), await run(5), await run(6)
    assert a == b
    assert a != c
