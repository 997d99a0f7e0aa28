"""Every fault of sim.faults, observed from a plain client."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
import websockets

from cryptofeed_backpack.simulator import BackpackSimulator

SYM = "SOL_USDC"


async def depth_client(sim, connect, n_streams=1):
    c = await connect(sim)
    await c.subscribe(f"depth.{SYM}")
    await sim.wait_subscriptions(n_streams)
    return c


async def test_drop_next_depth_makes_a_gap(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    await paused_sim.step(3, symbol=SYM)
    paused_sim.faults.drop_next_depth(SYM)
    await paused_sim.step(3, symbol=SYM)
    frames = [f["data"] for f in await c.quiet(0.3)]
    us = [d["U"] for d in frames]
    assert len(us) == 5
    gaps = [b - a for a, b in zip(us, us[1:])]
    assert sorted(gaps) == [1, 1, 1, 2]


async def test_duplicate_next_depth(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    paused_sim.faults.duplicate_next_depth(SYM)
    await paused_sim.step(2, symbol=SYM)
    frames = [f["data"] for f in await c.quiet(0.3)]
    assert len(frames) == 3 and frames[0] == frames[1] and frames[2]["U"] == frames[0]["u"] + 1


async def test_reorder_levels_within_a_frame(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    paused_sim.faults.reorder_next_depth(SYM)
    for _ in range(50):
        await paused_sim.step(5, symbol=SYM)
        if not paused_sim.faults.reorder_depth[SYM]:
            break
    frames = [f["data"] for f in await c.quiet(0.3)]

    def out_of_order(d):
        bids = [Decimal(p) for p, _ in d["b"]]
        asks = [Decimal(p) for p, _ in d["a"]]
        return bids != sorted(bids, reverse=True) or asks != sorted(asks)

    assert sum(out_of_order(d) for d in frames) == 1


async def test_close_after_n_frames(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    paused_sim.faults.close_after(4)
    await paused_sim.step(10, symbol=SYM)
    got = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            got.append(await c.recv())
    assert len(got) == 4
    # a new connection is not affected
    c2 = await depth_client(paused_sim, connect)
    await paused_sim.step(6, symbol=SYM)
    assert len(await c2.quiet(0.3)) == 6


async def test_stop_pongs(paused_sim, connect):
    c = await connect(paused_sim)
    waiter = await c.ws.ping()
    await asyncio.wait_for(waiter, 2)  # answered normally
    paused_sim.faults.stop_pongs()
    waiter = await c.ws.ping()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(waiter), 0.5)
    paused_sim.faults.stop_pongs(False)
    waiter = await c.ws.ping()
    await asyncio.wait_for(waiter, 2)


async def test_server_pings_and_closes_without_pong():
    async with BackpackSimulator(symbols=[SYM], paused=True, ping_interval=0.2, pong_timeout=0.4) as sim:
        async with aiohttp.ClientSession() as s:
            # autoping=False: this client never answers the server's pings
            async with s.ws_connect(sim.ws_url, ssl=sim.ssl_context(), autoping=False) as ws:
                kinds = []
                async for msg in ws:
                    kinds.append(msg.type)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert kinds and set(kinds) == {aiohttp.WSMsgType.PING}
                assert ws.closed and ws.close_code == 1008
            # a client that answers stays connected across several ping rounds
            async with s.ws_connect(sim.ws_url, ssl=sim.ssl_context()) as ws:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.receive(), 1.2)
                assert not ws.closed


async def test_stall_holds_frames_then_releases_them(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    paused_sim.faults.stall(0.8)
    await paused_sim.step(3, symbol=SYM)
    assert await c.quiet(0.4) == []
    later = await c.quiet(1.0)
    assert len(later) == 3
    assert paused_sim.connections == 1


@pytest.mark.parametrize("status,code", [(429, "TOO_MANY_REQUESTS"), (500, "SERVER_ERROR"), (502, None),
                                         (503, "MAINTENANCE"), (451, "FORBIDDEN"), (403, "FORBIDDEN")])
async def test_rest_errors(paused_sim, http, status, code):
    paused_sim.faults.rest_errors(status, count=2, retry_after=3)
    url = paused_sim.rest_url + "/api/v1/status"
    for _ in range(2):
        async with http.get(url, ssl=paused_sim.ssl_context()) as r:
            assert r.status == status
            text = await r.text()
            if code:
                assert json.loads(text)["code"] == code
            else:
                assert "Bad Gateway" in text
            if status in (429, 503):
                assert r.headers["Retry-After"] == "3"
    async with http.get(url, ssl=paused_sim.ssl_context()) as r:
        assert r.status == 200


async def test_malformed_and_unknown_event_frames(paused_sim, connect):
    c = await depth_client(paused_sim, connect)
    assert paused_sim.faults.send_malformed() == 1
    raw = await c.recv_raw()
    with pytest.raises(ValueError):
        json.loads(raw)
    assert paused_sim.faults.send_unknown_event() == 1
    frame = await c.recv()
    assert frame["stream"] == f"depth.{SYM}" and frame["data"]["e"] == "someFutureEvent"
    # the stream carries on normally afterwards
    await paused_sim.step(1, symbol=SYM)
    assert (await c.recv())["data"]["e"] == "depth"
