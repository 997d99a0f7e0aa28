"""``cryptofeed-backpack stream``: channel data as readable lines or JSON lines, for people and pipes.

Formatting is pure (``text_line``/``json_line``); ``run_stream`` is the I/O edge. A closed stdout
(``stream | head -1``) stops the feed at once and exits 0, as Unix tools do; progress and waits go
to stderr so stdout carries data only.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from decimal import Decimal
from typing import Any, Callable, Optional, TextIO

from cryptofeed.defines import L2_BOOK, TRADES

from .cli_errors import EXIT_NO_DATA, EXIT_OK

DEFAULT_DEPTH = 3
STILL_WAITING_EVERY_S = 10.0
POLL_S = 0.05  # how soon a closed pipe, Ctrl-C or the end of --duration is noticed
SKIPPED_FIELDS = ("exchange", "symbol", "timestamp", "raw")


def _num(value: Any) -> Any:
    """Decimals as plain strings (exact; no exponent), everything else unchanged."""
    return f"{value.normalize():f}" if isinstance(value, Decimal) else value


def _iso(ts: Optional[float]) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def _levels(side, depth: int) -> list[tuple[Decimal, Decimal]]:
    return [side.index(i) for i in range(min(depth, len(side)))]


def book_top(book, depth: int) -> tuple[list, list]:
    """The best ``depth`` levels of a cryptofeed OrderBook as ([(price, size)...] bids, asks)."""
    return _levels(book.book.bids, depth), _levels(book.book.asks, depth)


def text_line(channel: str, obj: Any, depth: int = DEFAULT_DEPTH) -> str:
    head = f"{_iso(getattr(obj, 'timestamp', None))} {channel} {getattr(obj, 'symbol', '-')}"
    if channel == L2_BOOK:
        bids, asks = book_top(obj, depth)
        kind = "snapshot" if obj.delta is None else "update"
        side = lambda levels: "  ".join(f"{_num(q)}@{_num(p)}" for p, q in levels) or "(empty)"
        return f"{head} {kind} seq {obj.sequence_number} | bids {side(bids)} | asks {side(asks)}"
    if channel == TRADES:
        return f"{head} {obj.side} {_num(obj.amount)} @ {_num(obj.price)} id {obj.id}"
    fields = obj.to_dict() if hasattr(obj, "to_dict") else {}
    rest = " ".join(f"{k}={_num(v)}" for k, v in fields.items() if k not in SKIPPED_FIELDS and v is not None)
    return f"{head} {rest}".rstrip()


def json_line(channel: str, obj: Any, receipt: float, depth: int = DEFAULT_DEPTH) -> str:
    if channel == L2_BOOK:
        bids, asks = book_top(obj, depth)
        record = {"exchange": obj.exchange, "symbol": obj.symbol, "timestamp": obj.timestamp,
                  "sequence_number": obj.sequence_number, "snapshot": obj.delta is None,
                  "bids": [[_num(p), _num(q)] for p, q in bids], "asks": [[_num(p), _num(q)] for p, q in asks]}
    else:
        record = {k: v for k, v in obj.to_dict(numeric_type=str).items() if k != "raw"}
    record = {"channel": channel, **record, "receipt_timestamp": receipt}
    return json.dumps(record, separators=(",", ":"), default=str)


class StreamPrinter:
    """The callbacks: one line per object to ``out``; remembers what has arrived, stops on a closed pipe."""

    def __init__(self, out: TextIO, fmt: str, depth: int, expected: set[tuple[str, str]]):
        self.out, self.fmt, self.depth = out, fmt, depth
        self.waiting = set(expected)
        self.count = 0
        self.pipe_closed = asyncio.Event()

    def callback(self, channel: str) -> Callable:
        async def on_data(obj, receipt: float) -> None:
            if self.pipe_closed.is_set():
                return
            self.waiting.discard((channel, getattr(obj, "symbol", "")))
            line = json_line(channel, obj, receipt, self.depth) if self.fmt == "json" else text_line(channel, obj, self.depth)
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                self._close_quietly()
                return
            self.count += 1
        return on_data

    def _close_quietly(self) -> None:
        self.pipe_closed.set()
        # the reader is gone: point stdout at /dev/null so the flush at exit does not raise again
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())


def say(message: str) -> None:
    """Progress for people, on stderr (stdout carries data only)."""
    print(message, file=sys.stderr, flush=True)


async def run_stream(make_feed: Callable[[dict], Any], channels: list[str], symbols: list[str], fmt: str,
                     depth: int, duration: Optional[float], out: TextIO = sys.stdout,
                     metrics_host: Optional[str] = None, metrics_port: Optional[int] = None) -> int:
    from cryptofeed import FeedHandler

    printer = StreamPrinter(out, fmt, depth, {(c, s) for c in channels for s in symbols})
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    feed = make_feed({c: printer.callback(c) for c in channels})
    handler.add_feed(feed)
    say(f"connecting to {feed.backpack_config.ws_url}; waiting for the first {', '.join(channels)} data of "
        f"{', '.join(symbols)}" + (" (books start from a REST snapshot)" if L2_BOOK in channels else ""))
    handler.run(start_loop=False, install_signal_handlers=False)
    server = None
    if metrics_port is not None:
        from .observability import serve_observability

        server = await serve_observability([feed], host=metrics_host or "127.0.0.1", port=metrics_port)
        say(f"metrics and probes on {server.url}/metrics, /health, /health/live, /health/ready")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    next_notice = started + STILL_WAITING_EVERY_S
    try:
        while not stop.is_set() and not printer.pipe_closed.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            if printer.waiting and now >= next_notice:
                pending = ", ".join(f"{c} {s}" for c, s in sorted(printer.waiting))
                say(f"still waiting after {now - started:.0f}s for: {pending} (health: {feed.health().status}; "
                    "quiet markets may send nothing; --debug shows connection logs)")
                next_notice = now + STILL_WAITING_EVERY_S
            await asyncio.sleep(POLL_S)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await handler.stop_async()
        if server is not None:
            await server.close()
    if printer.pipe_closed.is_set():
        return EXIT_OK
    say(f"done: {printer.count} lines in {time.monotonic() - started:.1f}s")
    if stop.is_set() or printer.count:
        return EXIT_OK
    say("no data arrived: check --symbols/--channels, and that the feed is not quiet (see --debug)")
    return EXIT_NO_DATA

