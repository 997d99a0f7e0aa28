"""The loop between the socket's queue and the feed's handler, in-process: PicowsConn.pump() (what
BackpackFeed's connection handler runs) against cryptofeed's ``async for`` over PicowsConn.read().

The socket is simulated by a loop callback that pushes ``--per`` messages into the FrameQueue per
loop turn, as picows' frame callback does per TCP read; the handler does nothing, so the figure is
the loop's own cost per message (queue, counters, timestamps, the await chain, the wake-up once per
batch). Repeats are interleaved; the median is printed with the ratio.

    .venv/bin/python bench/handler_loop.py [--messages 20000] [--per 10] [--repeats 7]
"""
from __future__ import annotations

import argparse
import asyncio
import time
from types import SimpleNamespace

LOOPS = ("read", "pump")


class _OpenTransport:
    is_disconnected = False


async def _nothing(message, conn, timestamp) -> None:
    return None


async def _one_run(loop_kind: str, messages: int, per: int) -> float:
    from cryptofeed_backpack.config import ConnectionPolicy
    from cryptofeed_backpack.transport.proxy import ProxyRoute
    from cryptofeed_backpack.transport.ws_picows import FrameQueue, PicowsConn

    conn = PicowsConn("wss://127.0.0.1:9", "BENCH", ProxyRoute(None, "none"), ConnectionPolicy())
    queue = conn._queue = FrameQueue()
    conn.conn = _OpenTransport()
    loop = asyncio.get_running_loop()
    batches = messages // per
    sent = [0]

    def socket_read() -> None:
        for _ in range(per):
            queue.push("m")
        sent[0] += 1
        if sent[0] < batches:
            loop.call_soon(socket_read)
        else:
            queue.end()

    loop.call_soon(socket_read)
    owner = SimpleNamespace(running=True)
    start = time.perf_counter()
    if loop_kind == "pump":
        await conn.pump(_nothing, owner)
    else:  # cryptofeed 2.5 ConnectionHandler._handler
        async for message in conn.read():
            if not owner.running:
                break
            await _nothing(message, conn, conn.last_message)
    elapsed = time.perf_counter() - start
    conn.conn = None
    return elapsed / (batches * per) * 1e6


def measure(messages: int = 20000, per: int = 10, repeats: int = 7) -> dict[str, float]:
    """{loop: median µs per message}, the loops interleaved repeat by repeat."""
    runs: dict[str, list[float]] = {k: [] for k in LOOPS}
    for _ in range(repeats):
        for kind in LOOPS:
            runs[kind].append(asyncio.run(_one_run(kind, messages, per)))
    return {k: sorted(v)[len(v) // 2] for k, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--per", type=int, default=10, help="messages per simulated socket read")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    figures = measure(args.messages, args.per, args.repeats)
    print(f"queue -> handler loop, {args.messages} messages, {args.per} per socket read, no-op handler, "
          f"median of {args.repeats} interleaved runs")
    print("| loop | µs per message | read / this |\n|---|---|---|")
    for kind in LOOPS:
        print(f"| {kind} | {figures[kind]:.3f} | {figures['read'] / figures[kind]:.2f}x |")


if __name__ == "__main__":
    main()
