"""End to end: a producer process serving pre-encoded frames over loopback TLS at set rates to a
FeedHandler running BackpackFeed (trades, L2 books synced over REST, bookTicker -> TICKER) in a
second process. Per rate: frames/s received, consumer CPU (% of one core, from /proc), p50/p99
latency from the send time the producer puts in E/T (µs) to the callback, and book gaps. The last
row (rate 0) lets the producer send as fast as the consumer reads: the sustained ceiling.
Each rate runs once per WebSocket client (``BackpackConfig.connection.ws_client``), interleaved, and
the ratios of the clients at each rate come last.

    .venv/bin/python bench/end_to_end.py [--rates 2000,5000,10000,20000,40000,80000,0] [--markets 91] [--seconds 4]
                                         [--clients picows,websockets]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


#: the consumer's bounded waits: for every book to sync, then for the backlog to clear
SYNC_WAIT_S = 20.0
SETTLE_WAIT_S = 15.0


def cpu_seconds(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# ---- consumer (runs in its own process) ---------------------------------------------------------

class GcClock:
    """Time spent in the cyclic garbage collector while it is installed, and its runs per generation."""

    def __init__(self):
        self.seconds = 0.0
        self.runs = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.runs[info["generation"]] += 1

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)


async def consume(ws: str, rest: str, ca: str, markets: list[str], warmup: float, seconds: float, client: str) -> dict:
    """Run the feed until every book is synced and the backlog is gone, then measure ``seconds``."""
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK, TICKER, TRADES

    from _peers import bp_market_objects
    from cryptofeed_backpack import BackpackConfig, BackpackFeed
    from cryptofeed_backpack.symbols import seed_symbols

    seed_symbols(bp_market_objects(markets))
    latencies: list[float] = []
    counter = [0]
    now = time.time

    async def on_event(obj, receipt):
        counter[0] += 1
        latencies.append(now() - obj.timestamp)

    async def on_book(book, receipt):
        if book.delta is not None:  # snapshots carry the REST timestamp, not a send time
            counter[0] += 1
            latencies.append(now() - book.timestamp)

    config = BackpackConfig.build(rest_url=rest, ws_url=ws, ca_file=ca, proxies={"direct": True},
                                  connection={"ws_client": client})
    channels = [TRADES, L2_BOOK, TICKER]
    std = [m.replace("_", "-") for m in markets]
    feed = BackpackFeed(config=config, symbols=std, channels=channels,
                        callbacks={TRADES: on_event, TICKER: on_event, L2_BOOK: on_book})
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    try:
        t_start = time.monotonic()
        while time.monotonic() - t_start < warmup or not all(b.synced for b in feed.book_channel.books.values()) \
                or len(feed.book_channel.books) < len(markets):
            if time.monotonic() - t_start > warmup + SYNC_WAIT_S:
                break
            await asyncio.sleep(0.05)
        synced = sum(b.synced for b in feed.book_channel.books.values())
        # Syncing 1000-level books leaves a backlog: wait (bounded) until the feed has caught up.
        settle_end = time.monotonic() + SETTLE_WAIT_S
        caught_up = False
        while time.monotonic() < settle_end and not caught_up:
            latencies.clear()
            await asyncio.sleep(0.3)
            recent = sorted(latencies)
            caught_up = bool(recent) and percentile(recent, 0.5) < 0.02
        latencies.clear()
        counter[0] = 0
        print("MEASURING", flush=True)
        gc_clock = GcClock()
        c0, t0 = cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        c1, t1 = cpu_seconds(), time.monotonic()
        gc_clock.stop()
        n = counter[0]
        lat = sorted(latencies[:n])
    finally:
        await handler.stop_async()
    gaps = feed.metrics.counters.get("book_gaps", 0)
    return {"frames_per_s": n / (t1 - t0), "cpu_pct": 100 * (c1 - c0) / (t1 - t0),
            "p50_ms": 1e3 * percentile(lat, 0.50), "p99_ms": 1e3 * percentile(lat, 0.99),
            "gc_pct": 100 * gc_clock.seconds / max(c1 - c0, 1e-9), "gc_runs": gc_clock.runs,
            "books_synced": synced, "caught_up": caught_up, "book_gaps": gaps, "dropped": feed.metrics.counters.get("dropped_messages", 0)}


# ---- driver -------------------------------------------------------------------------------------

def start_producer(markets: int, rate: float, duration: float) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, str(HERE / "_producer.py"), "--markets", str(markets), "--rate", str(rate),
                             "--duration", str(duration)], stdout=subprocess.PIPE, text=True)
    info = {}
    while len(info) < 4:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("producer exited before it printed its address")
        key, _, value = line.strip().partition(" ")
        info[key] = value
    return proc, info


def run_rate(rate: float, markets: int, warmup: float, seconds: float, client: str = "picows", loop: str = "uvloop") -> dict:
    # the producer outlasts the consumer's longest path (both waits, then the measurement), so a
    # consumer that falls behind still measures against a live stream
    producer, info = start_producer(markets, rate, warmup + SYNC_WAIT_S + SETTLE_WAIT_S + seconds + 5)
    consumer = None
    try:
        consumer = subprocess.Popen([sys.executable, __file__, "--consumer", info["WS"], info["REST"], info["CA"], info["MARKETS"],
                                     str(warmup), str(seconds), client, loop], stdout=subprocess.PIPE, text=True)
        line = consumer.stdout.readline()
        p0, t0 = cpu_seconds(producer.pid), time.monotonic()
        if line.strip() != "MEASURING":
            raise SystemExit(f"consumer failed: {line}")
        result_line = consumer.stdout.readline()
        p1, t1 = cpu_seconds(producer.pid), time.monotonic()
        consumer.wait(30)
        result = json.loads(result_line)
        result["producer_cpu_pct"] = 100 * (p1 - p0) / (t1 - t0)
        result["rate"] = rate
        result["client"] = client
        return result
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)
        producer.terminate()
        producer.wait(10)


def render(rows: list[dict], markets: int) -> str:
    lines = [f"end to end, {markets} markets, loopback TLS, FeedHandler + BackpackFeed (trade, L2_BOOK, TICKER); "
             "latency = callback time - send time in E/T",
             "| target frames/s | WebSocket client | received frames/s | consumer CPU % of a core | CPU µs/frame "
             "| frames per CPU-second | p50 ms | p99 ms | GC % of consumer CPU (runs gen0/1/2) | producer CPU % | books synced | gaps "
             "| caught up before measuring |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = "max" if not r["rate"] else f"{r['rate']:,.0f}"
        per_frame = 1e4 * r["cpu_pct"] / r["frames_per_s"] if r["frames_per_s"] else float("nan")
        lines.append(f"| {target} | {r.get('client', 'picows')} | {r['frames_per_s']:,.0f} | {r['cpu_pct']:.1f} | {per_frame:.1f} "
                     f"| {1e6 / per_frame:,.0f} "
                     f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['gc_pct']:.1f} ({'/'.join(map(str, r['gc_runs']))}) "
                     f"| {r['producer_cpu_pct']:.0f} | {r['books_synced']} | {r['book_gaps']} "
                     f"| {'yes' if r['caught_up'] else 'no'} |")
    return "\n".join(lines)


def render_ratios(rows: list[dict], clients: list[str]) -> str:
    """Per rate, each client against the last one named (websockets by default): frames per CPU-second
    (higher is better) and consumer CPU and p99 (lower is better)."""
    if len(clients) < 2:
        return ""
    base_name = clients[-1]
    lines = [f"ratios against {base_name}, same run: frames per CPU-second (x higher), consumer CPU and p99 (x of {base_name})",
             "| target frames/s | client | frames per CPU-second | consumer CPU | p99 |", "|---|---|---|---|---|"]
    for rate in dict.fromkeys(r["rate"] for r in rows):
        by_client = {r["client"]: r for r in rows if r["rate"] == rate}
        base = by_client.get(base_name)
        if base is None:
            continue
        for name in clients[:-1]:
            r = by_client.get(name)
            if r is None or not r["cpu_pct"] or not base["cpu_pct"] or not base["frames_per_s"]:
                # a client that received nothing (its books never synced) has no ratio: the table above shows it
                continue
            per_cpu = (r["frames_per_s"] / r["cpu_pct"]) / (base["frames_per_s"] / base["cpu_pct"])
            target = "max" if not rate else f"{rate:,.0f}"
            lines.append(f"| {target} | {name} | {per_cpu:.2f}x | {r['cpu_pct'] / base['cpu_pct']:.2f}x "
                         f"| {r['p99_ms'] / base['p99_ms']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--consumer":
        ws, rest, ca, markets, warmup, seconds, client, loop = sys.argv[2:10]
        run = asyncio.run
        if loop == "uvloop":  # what cryptofeed's FeedHandler installs by default (config uvloop: true)
            import uvloop

            run = uvloop.run
        result = run(consume(ws, rest, ca, markets.split(","), float(warmup), float(seconds), client))
        print(json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="2000,5000,10000,20000,40000,80000,0")
    parser.add_argument("--markets", type=int, default=91)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", default="picows,websockets",
                        help="BackpackConfig.connection.ws_client values, run interleaved; ratios are against the last")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the consumer's event loop: uvloop is what cryptofeed's FeedHandler installs by default")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clients = args.clients.split(",")
    rows = [run_rate(float(r), args.markets, args.warmup, args.seconds, client, args.loop)
            for r in args.rates.split(",") for client in clients]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: under contention a process gets its share of a "
          "core, so frames per CPU-second is the figure that carries over")
    print(f"consumer event loop: {args.loop}")
    print(render(rows, args.markets))
    ratios = render_ratios(rows, clients)
    if ratios:
        print(ratios)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
