"""Fixtures: a simulator per test and a plain websockets client over TLS trusting its CA."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
import websockets

from cryptofeed_backpack.simulator import BackpackSimulator

PAYLOADS = Path(__file__).resolve().parents[2].parent / "shared" / "backpack" / "payloads"


def payload(name: str):
    path = PAYLOADS / name
    if not path.is_file():
        pytest.skip(f"shared payload {name} not found at {PAYLOADS} (run next to ../shared)")
    return json.loads(path.read_text())


class Client:
    """A bare websocket client: send dicts, receive parsed frames."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, obj) -> None:
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def subscribe(self, *streams, **extra) -> None:
        await self.send({"method": "SUBSCRIBE", "params": list(streams), **extra})

    async def recv(self, timeout: float = 5.0):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "frames must be TEXT"
        return json.loads(raw)

    async def recv_raw(self, timeout: float = 5.0) -> str:
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def recv_until(self, predicate, timeout: float = 10.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if predicate(frame):
                return frame

    async def quiet(self, seconds: float) -> list:
        """Everything received during ``seconds`` (used to prove silence)."""
        got = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                got.append(await self.recv(left))
            except asyncio.TimeoutError:
                break
        return got


@pytest.fixture
async def sim():
    async with BackpackSimulator(symbols=["BTC_USDC_PERP", "SOL_USDC", "AAPL.US_USDC_PERP"], seed=7, rate=300) as s:
        yield s


@pytest.fixture
async def paused_sim():
    async with BackpackSimulator(symbols=["BTC_USDC_PERP", "SOL_USDC", "AAPL.US_USDC_PERP", "kPEPE_USDC_PERP"],
                                 seed=3, rate=300, paused=True) as s:
        yield s


@pytest.fixture
async def connect():
    opened = []

    async def _connect(sim, **kw) -> Client:
        ws = await websockets.connect(sim.ws_url, ssl=sim.ssl_context(), proxy=None, **kw)
        opened.append(ws)
        return Client(ws)

    yield _connect
    for ws in opened:
        await ws.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
