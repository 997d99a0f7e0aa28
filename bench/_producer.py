"""Frame producer for bench/end_to_end.py and bench/ws_clients.py (run in its own process).

A TLS WebSocket server on 127.0.0.1 that, once a client sends SUBSCRIBE, pushes pre-encoded
Backpack frames (depth, bookTicker and trade for every market, in the real shapes) at ``--rate``
frames per second (0 = as fast as the socket takes them) for ``--duration`` seconds, then stops.
Only ``E``/``T`` (the send time in µs, so the consumer can measure latency) and the update ids are
spliced in at send time. ``GET /api/v1/depth`` on the same port answers a 1000-level snapshot whose
lastUpdateId is the market's current id, so a BackpackFeed syncs its books against it.
WebSocket frames are written to the transport in batches, as the simulator does (docs/simulator.md).

    python bench/_producer.py --markets 91 --rate 10000 --duration 6
prints ``WS <url>``, ``REST <url>``, ``CA <path>``, ``MARKETS <a,b,...>``, then ``SENT <n>`` at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _frames as F  # noqa: E402

TICK_S = 0.001
# Realtime Backpack traffic is mostly depth; this mix (per 10 frames) is what the firehose sends.
MIX = ("depth",) * 5 + ("bookTicker",) * 3 + ("trade",) * 2


def market_names(n: int) -> list[str]:
    return [f"M{i:03d}_USDC_PERP" for i in range(n)]


def ws_frame(payload: bytes) -> bytes:
    """One unmasked server-to-client TEXT frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + struct.pack("!H", n) + payload
    return b"\x81\x7f" + struct.pack("!Q", n) + payload


class Templates:
    """Per market and kind a %-template; the level/price content is drawn once from a pool."""

    def __init__(self, symbols: list[str], seed: int = 1):
        rng = random.Random(seed)
        self.depth_pool = [(json.dumps(b, separators=(",", ":")).encode(), json.dumps(a, separators=(",", ":")).encode())
                           for b, a in F.depth_updates(4096, 1, 1000, rng)]
        self.trade_pool = [(F.price(F.MID_TICKS + rng.randrange(-50, 50)), F.qty(rng), bool(rng.random() < 0.5)) for _ in range(512)]
        self.snapshots = {}
        bids, asks = F.book_levels(1000, rng)
        self.levels = json.dumps({"asks": asks, "bids": bids}, separators=(",", ":"))[1:-1]
        self.depth, self.ticker, self.trade = {}, {}, {}
        for s in symbols:
            self.depth[s] = (b'{"data":{"E":%d,"T":%d,"U":%d,"a":%s,"b":%s,"e":"depth","s":"' + s.encode()
                             + b'","u":%d},"stream":"depth.' + s.encode() + b'"}')
            self.ticker[s] = (b'{"data":{"A":"1.20000","B":"0.80000","E":%d,"T":%d,"a":"100000.1","b":"100000.0",'
                              b'"e":"bookTicker","s":"' + s.encode() + b'","u":%d},"stream":"bookTicker.' + s.encode() + b'"}')
            self.trade[s] = (b'{"data":{"E":%d,"T":%d,"a":"5121860761","b":"5121861755","e":"trade","m":%s,"p":"%s",'
                             b'"q":"%s","s":"' + s.encode() + b'","t":%d},"stream":"trade.' + s.encode() + b'"}')


class Producer:
    def __init__(self, symbols: list[str], rate: float, duration: float):
        self.symbols = symbols
        self.rate = rate
        self.duration = duration
        self.t = Templates(symbols)
        self.ids = {s: F.START_ID for s in symbols}
        self.trade_ids = {s: 1 for s in symbols}
        self.sent = 0
        self.done = asyncio.Event()

    def snapshot(self, symbol: str) -> bytes:
        return ("{" + self.t.levels + f',"lastUpdateId":"{self.ids[symbol]}","timestamp":{int(time.time() * 1e6)}' + "}").encode()

    def batch(self, n: int) -> bytes:
        now_us = int(time.time() * 1e6)
        parts = []
        symbols, nsym, t = self.symbols, len(self.symbols), self.t
        for i in range(self.sent, self.sent + n):
            s = symbols[i % nsym]
            kind = MIX[(i // nsym) % len(MIX)]
            if kind == "depth":
                self.ids[s] += 1
                uid = self.ids[s]
                b, a = t.depth_pool[i & 4095]
                payload = t.depth[s] % (now_us, now_us, uid, a, b, uid)
            elif kind == "bookTicker":
                payload = t.ticker[s] % (now_us, now_us, self.ids[s])
            else:
                p, q, m = t.trade_pool[i & 511]
                self.trade_ids[s] += 1
                payload = t.trade[s] % (now_us, now_us, b"true" if m else b"false", p.encode(), q.encode(), self.trade_ids[s])
            parts.append(ws_frame(payload))
        self.sent += n
        return b"".join(parts)

    async def stream(self, connection) -> None:
        transport = connection.transport
        start = time.monotonic()
        end = start + self.duration
        while (now := time.monotonic()) < end and not transport.is_closing():
            if self.rate:
                due = int((now - start) * self.rate) - self.sent
                if due > 0:
                    transport.write(self.batch(due))
                await asyncio.sleep(TICK_S)
            else:
                # As fast as the client reads: keep the socket's write buffer just full.
                if transport.get_write_buffer_size() < 1 << 20:
                    transport.write(self.batch(500))
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(TICK_S / 4)
        self.done.set()

    async def handler(self, connection) -> None:
        async for message in connection:
            if json.loads(message).get("method") == "SUBSCRIBE" and not self.done.is_set():
                await self.stream(connection)
                return

    def process_request(self, connection, request):
        url = urlsplit(request.path)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        if url.path == "/api/v1/depth":
            symbol = parse_qs(url.query).get("symbol", [""])[0]
            if symbol in self.ids:
                body = self.snapshot(symbol)
                return Response(HTTPStatus.OK.value, "OK", Headers([("Content-Type", "application/json"),
                                                                    ("Content-Length", str(len(body)))]), body)
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=91)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args()
    from cryptofeed_backpack.simulator.tls import make_loopback_tls

    tls = make_loopback_tls()
    producer = Producer(market_names(args.markets), args.rate, args.duration)
    async with serve(producer.handler, "127.0.0.1", 0, ssl=tls.server_context, process_request=producer.process_request,
                     ping_interval=None, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"WS wss://127.0.0.1:{port}\nREST https://127.0.0.1:{port}\nCA {tls.ca_file}\nMARKETS {','.join(producer.symbols)}",
              flush=True)
        try:
            # Bounded: the stream itself ends after --duration; the wait for a client is bounded too.
            await asyncio.wait_for(producer.done.wait(), timeout=args.duration + 60)
        except asyncio.TimeoutError:
            pass
    print(f"SENT {producer.sent}", flush=True)
    tls.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
