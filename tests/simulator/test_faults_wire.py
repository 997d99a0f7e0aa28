"""The faults a lossless feed must survive, each observed on the wire by a plain client, and counted."""
from __future__ import annotations

import argparse
import ast
import asyncio
import json
import random
import ssl

import aiohttp
import pytest
import websockets

from cryptofeed_backpack.simulator import BackpackSimulator, cli
from cryptofeed_backpack.simulator.fault_menu import CONNECTION_FAULTS, FAULT_MENU, inject

SYM = "SOL_USDC"


async def subscribed(sim, connect, *streams):
    c = await connect(sim)
    await c.subscribe(*streams)
    await sim.wait_subscriptions(len(streams))
    return c


async def depth_frames(sim, c, steps: int) -> list[dict]:
    await sim.step(steps, symbol=SYM)
    return [f["data"] for f in await c.quiet(0.3) if f["stream"] == f"depth.{SYM}"]


async def test_half_open_socket_sends_nothing_answers_no_ping_then_drops():
    async with BackpackSimulator(symbols=[SYM], paused=True, ping_interval=0.2, pong_timeout=5) as sim:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(sim.ws_url, ssl=sim.ssl_context(), autoping=False) as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": [f"depth.{SYM}"]})
                await sim.wait_subscriptions(1)
                assert sim.faults.half_open(1.5) == 1
                await sim.step(5, symbol=SYM)
                await ws.ping(b"probe")
                kinds = []
                with pytest.raises(asyncio.TimeoutError):
                    while True:  # no data, no server ping, no pong for about a second
                        kinds.append((await asyncio.wait_for(ws.receive(), 1.0)).type)
                assert kinds == [] and not ws.closed
                msg = await asyncio.wait_for(ws.receive(), 3.0)  # the socket is dropped, no Close frame
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert sim.faults.counts() == {"half_open": 1}
        assert sim.connections == 0


async def test_stall_without_pongs_then_frames_and_pongs_resume(paused_sim, connect):
    c = await subscribed(paused_sim, connect, f"depth.{SYM}")
    paused_sim.faults.stall(1.0, pongs=False)
    await paused_sim.step(3, symbol=SYM)
    waiter = await c.ws.ping()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(waiter), 0.5)
    assert await c.quiet(0.2) == []
    assert len(await c.quiet(1.0)) == 3  # queued frames follow the stall
    waiter = await c.ws.ping()
    await asyncio.wait_for(waiter, 2)
    assert paused_sim.faults.counts() == {"stall": 1, "pongs_withheld": 1}


async def test_stopped_stream_goes_quiet_while_siblings_flow_until_resubscribed(paused_sim, connect):
    trade, depth = f"trade.{SYM}", f"depth.{SYM}"
    c = await subscribed(paused_sim, connect, trade, depth)
    assert paused_sim.faults.stop_stream(trade, 30) == 1
    await paused_sim.step(200, symbol=SYM)
    streams = [f["stream"] for f in await c.quiet(0.5)]
    assert streams.count(depth) >= 100 and trade not in streams
    published_before = len(paused_sim.published_trade_ids(SYM))
    assert published_before > 10  # trades were made and "sent" to a subscriber that never saw them
    await c.subscribe(trade)  # a resubscribe brings the stream back
    await asyncio.sleep(0.1)
    await paused_sim.step(200, symbol=SYM)
    assert trade in [f["stream"] for f in await c.quiet(0.5)]
    assert paused_sim.faults.counts() == {"stream_stopped": 1}


@pytest.mark.parametrize("straddle", [True, False])
async def test_far_ahead_delta(paused_sim, connect, straddle):
    c = await subscribed(paused_sim, connect, f"depth.{SYM}")
    paused_sim.faults.far_ahead_next_depth(SYM, ahead=10_000, straddle=straddle)
    frames = await depth_frames(paused_sim, c, 3)
    far, after, last = frames
    true_id = after["U"] - 1  # the engine's own ids carry on after the far-ahead frame
    assert last["U"] == after["u"] + 1
    assert far["u"] == true_id + 10_000
    assert far["U"] == (true_id if straddle else true_id + 10_000)
    assert paused_sim.faults.counts() == {"depth_far_ahead": 1}


async def test_swapped_deltas_arrive_in_the_wrong_order(paused_sim, connect):
    c = await subscribed(paused_sim, connect, f"depth.{SYM}")
    paused_sim.faults.swap_next_depth(SYM)
    us = [d["u"] for d in await depth_frames(paused_sim, c, 4)]
    assert len(us) == 4 and us[0] > us[1] and sorted(us) == list(range(us[1], us[1] + 4))
    assert paused_sim.faults.counts() == {"depth_swapped": 1}


async def test_duplicated_trade_frames_carry_the_same_trade_id(paused_sim, connect):
    c = await subscribed(paused_sim, connect, f"trade.{SYM}")
    paused_sim.faults.duplicate_next_trades(SYM, 3)
    await paused_sim.step(100, symbol=SYM)
    ids = [f["data"]["t"] for f in await c.quiet(0.5)]
    published = paused_sim.published_trade_ids(SYM)
    assert len(ids) == len(published) + 3
    assert ids[:2] == [published[0]] * 2 and sorted(set(ids)) == published
    assert paused_sim.faults.counts() == {"trade_duplicated": 3}


async def test_oversized_frame_is_sent_whole_and_a_default_client_refuses_it(paused_sim, connect):
    big = await connect(paused_sim, max_size=None)
    await big.subscribe(f"depth.{SYM}")
    small = await subscribed(paused_sim, connect, f"depth.{SYM}")  # websockets' 1 MiB default
    await paused_sim.wait_subscriptions(2)
    assert paused_sim.faults.send_oversized(SYM, 2 << 20) == 2
    raw = await big.recv_raw()
    assert len(raw) >= 2 << 20 and '"stream":"depth.SOL_USDC"' in raw
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await small.recv()
    assert closed.value.sent is not None and closed.value.sent.code == 1009  # "message too big"
    assert paused_sim.faults.counts() == {"frame_oversized": 2}


@pytest.mark.parametrize("code", [1001, 1011, 1012])
async def test_server_close_sends_the_code(paused_sim, code):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(paused_sim.ws_url, ssl=paused_sim.ssl_context()) as ws:
            await asyncio.sleep(0.05)
            assert paused_sim.faults.server_close(code, "bye") == 1
            msg = await asyncio.wait_for(ws.receive(), 3)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == code and msg.extra == "bye"
    assert paused_sim.faults.counts() == {"server_close": 1}


async def test_drop_sockets_closes_without_handshake(paused_sim, connect):
    c = await subscribed(paused_sim, connect, f"depth.{SYM}")
    assert paused_sim.faults.drop_sockets() == 1
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await c.recv()
    assert closed.value.rcvd is None  # no Close frame came
    assert paused_sim.faults.counts() == {"socket_dropped": 1}


async def test_rest_faults_hit_only_the_chosen_path(paused_sim, http):
    ssl = paused_sim.ssl_context()
    depth = f"{paused_sim.rest_url}/api/v1/depth?symbol={SYM}&limit=5"
    trades = f"{paused_sim.rest_url}/api/v1/trades?symbol={SYM}"
    paused_sim.faults.rest_errors(429, count=2, paths=("/api/v1/depth",))
    paused_sim.faults.rest_timeouts(1, paths=("/api/v1/trades",), hold_s=2)
    with pytest.raises(asyncio.TimeoutError):
        await http.get(trades, ssl=ssl, timeout=aiohttp.ClientTimeout(total=0.5))
    async with http.get(trades, ssl=ssl) as r:
        assert r.status == 200
    for status in (429, 429, 200):
        async with http.get(depth, ssl=ssl) as r:
            assert r.status == status
    assert paused_sim.faults.counts() == {"rest_error": 2, "rest_timeout": 1}


async def test_rest_timeout_never_answers(paused_sim, http):
    paused_sim.faults.rest_timeouts(1, paths=("/api/v1/depth",), hold_s=1)
    with pytest.raises(asyncio.TimeoutError):
        await http.get(f"{paused_sim.rest_url}/api/v1/depth?symbol={SYM}", ssl=paused_sim.ssl_context(),
                       timeout=aiohttp.ClientTimeout(total=0.4))


async def test_every_menu_fault_is_counted_when_it_happens():
    async with BackpackSimulator(symbols=[SYM], seed=5, rate=400) as sim:
        async with websockets.connect(sim.ws_url, ssl=sim.ssl_context(), max_size=None) as ws:
            await ws.send('{"method":"SUBSCRIBE","params":["depth.SOL_USDC","trade.SOL_USDC"]}')
            await sim.wait_subscriptions(2)
            rng = random.Random(1)
            wire_faults = sorted((n for n in FAULT_MENU if not n.startswith("rest_")), key=CONNECTION_FAULTS.__contains__)
            for name in wire_faults:
                touched = inject(sim, name, SYM, rng)
                await asyncio.sleep(0.3)
                if name in CONNECTION_FAULTS:
                    assert touched == 1
                    break  # the connection is gone after this one
        counts = sim.faults.counts()
        assert {"depth_dropped", "depth_duplicated", "depth_swapped", "depth_far_ahead", "trade_duplicated",
                "stream_stopped", "stall", "frame_oversized", "frame_malformed", "event_unknown"} <= set(counts)


async def test_cli_fault_every_injects_and_prints_the_counts(capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--symbols", SYM, "--rate", "400", "--duration", "2.5",
                              "--fault-every", "0.5:depth_duplicate", "--rest-timeouts", "1:/api/v1/trades",
                              "--rest-errors", "429:1:/api/v1/depth"])
    ready = asyncio.Event()
    task = asyncio.ensure_future(cli._serve(args, ready))
    await ready.wait()
    info = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    ssl_ctx = ssl.create_default_context(cafile=info["CA"].strip())
    async with websockets.connect(info["WS"].strip(), ssl=ssl_ctx, proxy=None) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["depth.SOL_USDC"]}')
        frames = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                frames.append(json.loads(await ws.recv())["data"])
    assert await task == 0
    out = capsys.readouterr().out
    counts = ast.literal_eval(out.split("FAULTS ", 1)[1].strip())
    assert counts["depth_duplicated"] >= 3
    repeated = sum(1 for a, b in zip(frames, frames[1:]) if a == b)
    assert repeated >= 3  # the duplicates reached the client
    with pytest.raises(SystemExit):
        cli._periodic_fault("0.5:no_such_fault")
