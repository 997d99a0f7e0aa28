"""Simulator throughput: sustained frames/s a plain TLS websocket client receives, and CPU use.

Starts the simulator (``python -m cryptofeed_backpack.simulator``) in its own process at
increasing --rate targets, subscribes one client to every public stream of every default
market, and prints received frames/s, the simulator's CPU% and the client's CPU%.

    .venv/bin/python bench/sim_throughput.py [--rates 1000,5000,20000,50000] [--seconds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time

import websockets

STREAMS = ("trade", "depth", "bookTicker", "ticker", "markPrice", "kline.1m", "depth.200ms")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(rate: float, seconds: float) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "cryptofeed_backpack.simulator", "--rate", str(rate), "--seed", "1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        info = {}
        while len(info) < 4:
            key, _, value = proc.stdout.readline().strip().partition(" ")
            info[key] = value.strip()
        ctx = ssl.create_default_context(cafile=info["CA"])
        params = [f"{s}.{m}" for m in info["MARKETS"].split(",") for s in STREAMS]
        # compression off: the simulator (like Backpack) deflates only when the client offers it
        async with websockets.connect(info["WS"], ssl=ctx, proxy=None, max_queue=None, compression=None) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params}))
            warm_end = time.monotonic() + 1.0
            while time.monotonic() < warm_end:
                await ws.recv()
            n, t0, c0, s0 = 0, time.monotonic(), time.process_time(), cpu_seconds(proc.pid)
            end = t0 + seconds
            while time.monotonic() < end:
                await ws.recv()
                n += 1
            dt = time.monotonic() - t0
            return {"target": rate, "frames_per_s": n / dt,
                    "sim_cpu_pct": 100 * (cpu_seconds(proc.pid) - s0) / dt,
                    "client_cpu_pct": 100 * (time.process_time() - c0) / dt}
    finally:
        proc.terminate()
        proc.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1000,5000,20000,50000")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"{'target/s':>10} {'received/s':>11} {'sim CPU%':>9} {'client CPU%':>12}")
    for rate in (float(r) for r in args.rates.split(",")):
        r = await measure(rate, args.seconds)
        print(f"{r['target']:>10.0f} {r['frames_per_s']:>11.0f} {r['sim_cpu_pct']:>9.0f} {r['client_cpu_pct']:>12.0f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
