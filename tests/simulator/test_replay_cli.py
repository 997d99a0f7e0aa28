"""Replay of recorded frames (JSONL and cryptofeed's raw capture) and the command line."""
from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

import aiohttp

from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.simulator import cli


async def test_record_then_replay_serves_the_same_frames(tmp_path, connect):
    path = tmp_path / "rec.jsonl"
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=9, paused=True, record=path) as sim:
        await sim.step(40)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    depth = [x for x in lines if x["stream"] == "depth.SOL_USDC"]
    assert len(depth) == 40 and all(set(x) == {"ts", "stream", "frame"} for x in lines)
    async with BackpackSimulator(replay=path) as replay:
        assert replay.symbols == ["SOL_USDC"]
        c = await connect(replay)
        await c.subscribe("depth.SOL_USDC")
        got = [await c.recv_raw() for _ in range(40)]
        assert got == [x["frame"] for x in depth]
        await replay.replay_finished()
        last_u = json.loads(depth[-1]["frame"])["data"]["u"]
        async with aiohttp.ClientSession() as s:
            async with s.get(replay.rest_url + "/api/v1/depth", params={"symbol": "SOL_USDC"},
                             ssl=replay.ssl_context()) as r:
                assert (await r.json())["lastUpdateId"] == str(last_u)


async def test_replay_cryptofeed_raw_capture_with_pacing(tmp_path, connect):
    frames = [json.dumps({"data": {"E": 1, "T": 1, "U": 10 + i, "a": [], "b": [["1.00", "2.00"]], "e": "depth",
                                   "s": "SOL_USDC", "u": 10 + i}, "stream": "depth.SOL_USDC"}) for i in range(3)]
    snapshot = json.dumps({"asks": [["2", "1.00"]], "bids": [["1", "3.00"]], "lastUpdateId": "9", "timestamp": 1})
    raw = ["configuration: {}",
           f"https://api.backpack.exchange/api/v1/depth?symbol=SOL_USDC&limit=1000 -> 100.0: {snapshot}",
           f"100.0: {frames[0]}", f"100.2: {frames[1]}", f"100.4: {frames[2]}",
           'wss://ws.backpack.exchange <- 100.0: {"method":"SUBSCRIBE"}']
    path = tmp_path / "capture.0"
    path.write_text("\n".join(raw) + "\n")
    async with BackpackSimulator(replay=path, replay_speed=1.0) as replay:
        c = await connect(replay)
        await c.subscribe("depth.SOL_USDC")
        loop = asyncio.get_running_loop()
        got = []
        for _ in range(3):
            got.append((await c.recv_raw(), loop.time()))
        assert [g[0] for g in got] == frames
        assert got[2][1] - got[0][1] >= 0.3  # original pacing kept
        book = replay.book("SOL_USDC")
        # REST "1" and WS "1.00" are one level: keyed by Decimal, the delta overwrote the snapshot's 3.00
        assert book.last_update_id == 12 and book.bids == {Decimal("1"): Decimal("2")} and len(book.asks) == 1


async def test_cli_arguments_and_run():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--symbols", "SOL_USDC", "--seed", "3", "--rate", "50", "--duration", "0.5",
                              "--rest-errors", "503:2", "--no-pongs"])
    assert (args.symbols, args.seed, args.rate, args.duration) == ("SOL_USDC", 3, 50.0, 0.5)
    ready = asyncio.Event()
    task = asyncio.ensure_future(cli._serve(args, ready))
    await ready.wait()
    assert await task == 0
