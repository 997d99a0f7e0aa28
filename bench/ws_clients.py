"""WebSocket client alternatives inside cryptofeed's connection model.

Each client sits behind a cryptofeed ``AsyncConnection`` (``_open``/``read``/``write``/``close``)
and is driven exactly as cryptofeed's ConnectionHandler drives one: ``async for message in
conn.read(): await handler(message, conn, conn.last_message)``. The handler only counts, so the
figure is the transport's own cost (TLS + WebSocket framing + the adapter). The producer
(bench/_producer.py, its own process) sends as fast as the client reads; each client runs in its
own process. Printed: frames/s, CPU % of one core, frames per CPU-second, and the ratio to
websockets (what cryptofeed 2.5 uses). ``picows`` is the package's own adapter
(transport/ws_picows.py: bounded queue, fragments, close handling, pings) driven by its ``pump()``
as BackpackFeed's handler does; ``picows-read`` is the same adapter through cryptofeed's
``async for`` over ``read()``; ``picows-bare`` is the minimal deque-and-future bridge it grew from,
so the adapter's own cost shows in the same run.

    .venv/bin/python bench/ws_clients.py [--seconds 4] [--markets 91]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from end_to_end import cpu_seconds, start_producer  # noqa: E402

CLIENTS = ("websockets", "aiohttp", "picows-bare", "picows-read", "picows")
SUBSCRIBE = json.dumps({"method": "SUBSCRIBE", "params": ["depth.M000_USDC_PERP"]})


def connection(client: str, url: str, ctx: ssl.SSLContext):
    from cryptofeed.connection import AsyncConnection, WSAsyncConn

    if client == "websockets":
        # cryptofeed's own class with the options BackpackFeed passes (WebsocketEndpoint defaults).
        return WSAsyncConn(url, "BENCH", ssl=ctx, proxy=None, ping_interval=10, ping_timeout=None, max_size=None, max_queue=None)
    if client in ("picows", "picows-read"):
        from cryptofeed_backpack.config import ConnectionPolicy
        from cryptofeed_backpack.transport.proxy import ProxyRoute
        from cryptofeed_backpack.transport.ws_picows import PicowsConn

        return PicowsConn(url, "BENCH", ProxyRoute(None, "none"), ConnectionPolicy(), ssl_context=ctx)

    class AiohttpConn(AsyncConnection):
        def __init__(self):
            super().__init__("BENCH.aiohttp")
            self.session = self.ws = None

        @property
        def is_open(self) -> bool:
            return self.ws is not None and not self.ws.closed

        async def _open(self):
            import aiohttp

            self.session = aiohttp.ClientSession()
            self.ws = await self.session.ws_connect(url, ssl=ctx, heartbeat=10, max_msg_size=0)

        async def read(self):
            import aiohttp

            async for msg in self.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self.last_message = time.time()
                    yield msg.data

        async def write(self, data: str):
            await self.ws.send_str(data)

        async def close(self):
            await self.ws.close()
            await self.session.close()

    class PicowsConn(AsyncConnection):
        """picows calls back per frame; a deque and a future bridge that to cryptofeed's read() loop."""

        def __init__(self):
            super().__init__("BENCH.picows")
            self.transport = None
            self.queue: collections.deque = collections.deque()
            self.waiter = None
            self.closed = False

        @property
        def is_open(self) -> bool:
            return self.transport is not None and not self.closed

        async def _open(self):
            import picows

            conn = self

            class Listener(picows.WSListener):
                def on_ws_frame(self, transport, frame):
                    if frame.msg_type == picows.WSMsgType.TEXT:
                        conn.queue.append(frame.get_payload_as_utf8_text())
                        waiter = conn.waiter
                        if waiter is not None and not waiter.done():
                            waiter.set_result(None)
                    elif frame.msg_type == picows.WSMsgType.CLOSE:
                        transport.disconnect()

                def on_ws_disconnected(self, transport):
                    conn.closed = True
                    if conn.waiter is not None and not conn.waiter.done():
                        conn.waiter.set_result(None)

            self.transport, _ = await picows.ws_connect(Listener, url, ssl_context=ctx, enable_auto_ping=True,
                                                        auto_ping_idle_timeout=10)

        async def read(self):
            loop = asyncio.get_running_loop()
            queue = self.queue
            while True:
                while queue:
                    self.last_message = time.time()
                    yield queue.popleft()
                if self.closed:
                    return
                self.waiter = loop.create_future()
                await self.waiter

        async def write(self, data: str):
            self.transport.send(__import__("picows").WSMsgType.TEXT, data.encode())

        async def close(self):
            self.transport.disconnect()

    return {"aiohttp": AiohttpConn, "picows-bare": PicowsConn}[client]()


async def drive(client: str, url: str, ca: str, seconds: float) -> dict:
    ctx = ssl.create_default_context(cafile=ca)
    conn = connection(client, url, ctx)
    count = [0]

    async def handler(message, c, timestamp):
        count[0] += 1

    async with conn.connect() as c:
        await c.write(SUBSCRIBE)
        reader = asyncio.ensure_future(_loop(c, handler, pump=client != "picows-read"))
        await asyncio.sleep(0.5)  # warm-up
        n0, c0, t0 = count[0], cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        n1, c1, t1 = count[0], cpu_seconds(), time.monotonic()
        reader.cancel()
    return {"client": client, "frames_per_s": (n1 - n0) / (t1 - t0), "cpu_pct": 100 * (c1 - c0) / (t1 - t0)}


async def _loop(conn, handler, pump: bool = True):
    # what the feed's connection handler does (transport/ws.py ReconnectingHandler._handler): a
    # connection with pump() drives the handler itself; the others go through cryptofeed's
    # ConnectionHandler._handler loop over read(), minus its error logging
    if pump and hasattr(conn, "pump"):
        await conn.pump(handler, SimpleNamespace(running=True))
        return
    async for message in conn.read():
        await handler(message, conn, conn.last_message)


def run_client(client: str, markets: int, seconds: float, rate: float = 0, loop: str = "asyncio") -> dict:
    producer, info = start_producer(markets, rate, seconds + 20)
    try:
        out = subprocess.run([sys.executable, __file__, "--client", client, info["WS"], info["CA"], str(seconds), loop],
                             capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode:
            return {"client": client, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        return json.loads(out.stdout)
    finally:
        producer.terminate()
        producer.wait(10)


FEATURES = {
    # what each keeps of what cryptofeed + this project need; see docs/performance.md for the sources
    "websockets": "proxy= (http/https/socks via python-socks), ssl=, reconnects by cryptofeed's ConnectionHandler",
    "aiohttp": "proxy= http/https only (socks needs aiohttp_socks' connector), ssl=, reconnects by the same handler",
    "picows-bare": "the minimal bridge: no bound, no fragments, no close outcome",
    "picows-read": "the package's PicowsConn driven through read(), as cryptofeed's own ConnectionHandler would",
    "picows": "the package's PicowsConn driven by pump(), as BackpackFeed's handler does: HTTP CONNECT via proxy=, SOCKS5(h) via python-socks, ssl_context=, pings, "
              "max frame size, bounded queue; reconnects by the same handler",
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client, url, ca, seconds, loop = sys.argv[2:7]
        run = asyncio.run
        if loop == "uvloop":
            import uvloop

            run = uvloop.run
        print(json.dumps(run(drive(client, url, ca, float(seconds)))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--markets", type=int, default=91)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0,
                        help="frames/s the producer sends (0: as fast as the client reads); at a set rate the CPU "
                             "figure is the transport's floor under bench/end_to_end.py at that rate")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the client's event loop (cryptofeed's FeedHandler installs uvloop by default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs: dict[str, list] = {c: [] for c in CLIENTS}
    for _ in range(args.repeats):
        for client in CLIENTS:  # interleaved, so noise hits all alike
            runs[client].append(run_client(client, args.markets, args.seconds, args.rate, args.loop))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    pace = f"producer at {args.rate:,.0f} frames/s" if args.rate else "producer at full speed"
    print(f"WebSocket clients in cryptofeed's connection model, counting handler, {pace}, {args.loop} loop, "
          f"median of {args.repeats} interleaved runs")
    print("| client | frames/s | CPU % of a core | frames per CPU-second | vs websockets | keeps |\n|---|---|---|---|---|---|")
    summary = {}
    for client, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            print(f"| {client} | failed: {rs[0]['error']} | | | | |")
            continue
        per_cpu = sorted(r["frames_per_s"] / max(r["cpu_pct"], 1e-9) * 100 for r in ok)[len(ok) // 2]
        fps = sorted(r["frames_per_s"] for r in ok)[len(ok) // 2]
        cpu = sorted(r["cpu_pct"] for r in ok)[len(ok) // 2]
        summary[client] = {"frames_per_s": fps, "cpu_pct": cpu, "frames_per_cpu_s": per_cpu}
    base = summary.get("websockets", {}).get("frames_per_cpu_s")
    for client, s in summary.items():
        ratio = f"{s['frames_per_cpu_s'] / base:.2f}x" if base else "-"
        print(f"| {client} | {s['frames_per_s']:,.0f} | {s['cpu_pct']:.0f} | {s['frames_per_cpu_s']:,.0f} | {ratio} | {FEATURES[client]} |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
