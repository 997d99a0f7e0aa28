"""The trade tape: sequential ids per market, every trade recorded, and the two REST endpoints a
trade backfill walks (PROTOCOL.md §1.3) serving exactly that tape."""
from __future__ import annotations

from cryptofeed_backpack.simulator import BackpackSimulator

SYM = "SOL_USDC"
ROW_KEYS = ["id", "isBuyerMaker", "price", "quantity", "quoteQuantity", "timestamp"]


async def get(http, sim, path):
    async with http.get(sim.rest_url + path, ssl=sim.ssl_context()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_trade_ids_are_sequential_per_market_and_all_recorded(paused_sim, connect):
    c = await connect(paused_sim)
    await c.subscribe(f"trade.{SYM}")
    await paused_sim.wait_subscriptions(1)
    await paused_sim.step(300)  # random markets: each keeps its own counter
    wire = [f["data"]["t"] for f in await c.quiet(0.5)]
    for symbol in paused_sim.symbols:
        ids = paused_sim.trade_ids(symbol)
        assert ids and ids == list(range(ids[0], ids[0] + len(ids)))
    assert wire == paused_sim.published_trade_ids(SYM) == paused_sim.trade_ids(SYM)
    assert paused_sim.published_trade_ids("BTC_USDC_PERP") == []  # nobody subscribed there


async def test_unsubscribed_trades_are_on_the_tape_but_not_published(paused_sim, connect):
    await paused_sim.step(100, symbol=SYM)
    before = paused_sim.trade_ids(SYM)
    c = await connect(paused_sim)
    await c.subscribe(f"trade.{SYM}")
    await paused_sim.wait_subscriptions(1)
    await paused_sim.step(100, symbol=SYM)
    tape = paused_sim.trade_ids(SYM)
    assert tape[:len(before)] == before
    assert paused_sim.published_trade_ids(SYM) == tape[len(before):]


async def test_recent_trades_newest_first_with_limit(paused_sim, http):
    await paused_sim.step(400, symbol=SYM)
    tape = paused_sim.trade_ids(SYM)
    rows = await get(http, paused_sim, f"/api/v1/trades?symbol={SYM}")
    assert len(rows) == min(100, len(tape)) and [r["id"] for r in rows] == tape[::-1][:len(rows)]
    assert all(list(r) == ROW_KEYS and isinstance(r["timestamp"], int) for r in rows)
    rows = await get(http, paused_sim, f"/api/v1/trades?symbol={SYM}&limit=7")
    assert [r["id"] for r in rows] == tape[::-1][:7]


async def test_history_offset_paging_walks_the_whole_tape(http):
    async with BackpackSimulator(symbols=[SYM], seed=2, paused=True) as sim:
        await sim.step(3000, symbol=SYM)
        tape = sim.trade_ids(SYM)
        assert len(tape) > 250
        seen, offset = [], 0
        while True:
            page = await get(http, sim, f"/api/v1/trades/history?symbol={SYM}&limit=100&offset={offset}")
            if not page:
                break
            seen.extend(r["id"] for r in page)
            offset += len(page)
        assert seen == tape[::-1]
        capped = await get(http, sim, f"/api/v1/trades/history?symbol={SYM}&limit=5000")
        assert len(capped) == min(1000, len(tape))


async def test_history_rate_limit_refuses_the_31st_request_in_a_minute(http):
    async with BackpackSimulator(symbols=[SYM], seed=2, paused=True, history_rate_limit=30) as sim:
        ssl = sim.ssl_context()
        statuses = []
        for _ in range(31):
            async with http.get(f"{sim.rest_url}/api/v1/trades/history?symbol={SYM}", ssl=ssl) as r:
                statuses.append(r.status)
        assert statuses == [200] * 30 + [429]
        async with http.get(f"{sim.rest_url}/api/v1/trades?symbol={SYM}", ssl=ssl) as r:
            assert r.status == 200  # recent trades are not a history endpoint
