"""The demo: a live terminal view of recent trades and the top of the book.

By default it starts the embedded simulator (TLS on 127.0.0.1) and points a BackpackFeed at it
through a regular cryptofeed FeedHandler; ``live=True`` streams the real exchange instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import defaultdict, deque
from decimal import Decimal
from typing import Optional, TextIO

from cryptofeed import FeedHandler
from cryptofeed.defines import L2_BOOK, TRADES

from .cli_symbols import resolve
from .config import BackpackConfig
from .feed import BackpackFeed
from .symbols import load_symbols

DEFAULT_SIM_SYMBOLS = ["BTC_USDC_PERP", "SOL_USDC", "AAPL.US_USDC_PERP", "kPEPE_USDC_PERP"]


class DemoView:
    """Collects what the callbacks deliver and renders it as text."""

    def __init__(self, symbols: list[str]):
        self.symbols = symbols
        self.trades: dict[str, deque] = defaultdict(lambda: deque(maxlen=5))
        self.top: dict[str, tuple] = {}
        self.counts: dict[str, int] = defaultdict(int)

    async def on_trade(self, trade, receipt: float) -> None:
        self.trades[trade.symbol].appendleft((trade.side, trade.amount, trade.price, trade.timestamp))
        self.counts["trades"] += 1

    async def on_book(self, book, receipt: float) -> None:
        bids, asks = book.book.bids, book.book.asks
        bid = bids.index(0) if len(bids) else (None, None)
        ask = asks.index(0) if len(asks) else (None, None)
        self.top[book.symbol] = (bid, ask, book.sequence_number, len(bids), len(asks))
        self.counts["book updates" if book.delta else "book snapshots"] += 1

    def render(self, elapsed: float, source: str, health: Optional[str] = None) -> str:
        lines = [f"Backpack demo on {source} — {elapsed:5.1f}s — "
                 + ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))]
        if health:
            lines.append(f"health: {health}")
        for sym in self.symbols:
            lines.append("")
            top = self.top.get(sym)
            if top:
                (bp, bq), (ap, aq), seq, nb, na = top
                spread = (ap - bp) if bp is not None and ap is not None else None
                lines.append(f"{sym:<20} bid {_fmt(bq)} @ {_fmt(bp)}   ask {_fmt(aq)} @ {_fmt(ap)}   "
                             f"spread {_fmt(spread)}   levels {nb}/{na}   seq {seq}")
            else:
                lines.append(f"{sym:<20} (waiting for the book)")
            for side, amount, price, ts in self.trades.get(sym, ()):
                lines.append(f"    {time.strftime('%H:%M:%S', time.gmtime(ts))} {side:<4} {_fmt(amount)} @ {_fmt(price)}")
        return "\n".join(lines)


def _fmt(value: Optional[Decimal]) -> str:
    return "-" if value is None else f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


async def run_demo(duration: float = 20.0, live: bool = False, symbols: Optional[list[str]] = None,
                   out: TextIO = sys.stdout, rate: float = 200.0, seed: int = 7) -> int:
    async with contextlib.AsyncExitStack() as stack:
        if live:
            config = BackpackConfig()
            source = config.ws_url
            exchange_symbols = symbols or ["BTC_USDC_PERP", "SOL_USDC", "ETH_USDC_PERP"]
        else:
            from .simulator import BackpackSimulator

            exchange_symbols = symbols or DEFAULT_SIM_SYMBOLS
            sim = await stack.enter_async_context(BackpackSimulator(symbols=exchange_symbols, seed=seed, rate=rate))
            config = sim.config()
            source = f"the local simulator {sim.ws_url}"
        print(f"loading markets from {config.rest_url} ...", file=sys.stderr, flush=True)
        mapping = await load_symbols(config, refresh=True)
        std_symbols = resolve(exchange_symbols, mapping)
        view = DemoView(std_symbols)

        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        feed = BackpackFeed(config=config, symbols=std_symbols, channels=[TRADES, L2_BOOK],
                            callbacks={TRADES: view.on_trade, L2_BOOK: view.on_book})
        handler.add_feed(feed)
        handler.run(start_loop=False, install_signal_handlers=False)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, stop.set)
        started = time.monotonic()
        tty = out.isatty()
        try:
            while not stop.is_set() and time.monotonic() - started < duration:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                text = view.render(time.monotonic() - started, source, feed.health().status)
                out.write(("\x1b[H\x1b[2J" if tty else "\n") + text + "\n")
                out.flush()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
            await handler.stop_async()
        out.write(f"\ndone: {view.counts.get('trades', 0)} trades, {view.counts.get('book updates', 0)} book updates, "
                  f"{view.counts.get('book snapshots', 0)} book snapshots\n")
        return 0 if view.counts.get("trades") or live else 1
