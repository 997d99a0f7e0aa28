"""BackpackSimulator: a local Backpack exchange over TLS on 127.0.0.1 (REST + WebSocket, one port).

    async with BackpackSimulator(symbols=["BTC_USDC_PERP"], seed=1, rate=500) as sim:
        cfg = sim.config()                      # BackpackConfig pointing here, trusting sim.ca_file
        book = sim.book("BTC_USDC_PERP")        # the authoritative book (Decimal -> Decimal)
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from pathlib import Path
from typing import Optional

from aiohttp import web

from . import rest
from .engine import BookView, MarketSim, now_us
from .faults import Faults
from .hub import Hub, SimStats
from .markets import DEFAULT_SYMBOLS, MarketSpec, select_specs
from .private import Accounts
from .publisher import Publisher
from .replay import Replayer, load, symbols_of
from .streams import StreamName
from .tls import LoopbackTLS, make_loopback_tls
from .ws import websocket_handler

LOG = logging.getLogger("cryptofeed_backpack.simulator")
TICK_S = 0.005


class BackpackSimulator:
    def __init__(
        self,
        symbols: Optional[list[str]] = None,
        seed: int = 0,
        rate: float = 200.0,
        ping_interval: float = 60.0,
        pong_timeout: float = 120.0,
        open_interest_interval: float = 60.0,
        rest_rate_limit: Optional[int] = None,
        history_rate_limit: Optional[int] = None,
        port: int = 0,
        replay: Optional[str | Path] = None,
        replay_speed: Optional[float] = None,
        replay_autostart: bool = True,
        record: Optional[str | Path] = None,
        paused: bool = False,
    ):
        """``rate`` is the target of engine frames per second (depth + bookTicker + trade, all
        markets together); ``paused=True`` starts with the engine stopped (use ``step``)."""
        self.seed = seed
        self.rate = float(rate)
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.open_interest_interval = open_interest_interval
        self.rest_rate_limit = rest_rate_limit
        self.history_rate_limit = history_rate_limit  # per minute, on /trades/history and /klines
        self.history_calls: deque = deque()
        self.port = port
        self.faults = Faults(live=_LiveConnections(self))
        self.stats = SimStats()
        self.hub = Hub(self.faults, self.stats)
        self.accounts = Accounts(self.hub)
        self._records = load(replay) if replay is not None else None
        self.replay_speed = replay_speed
        self.replay_autostart = replay_autostart
        self._replayer: Optional[Replayer] = None
        if self._records is not None and symbols is None:
            symbols = symbols_of(self._records)
        self.specs: dict[str, MarketSpec] = {s.symbol: s for s in select_specs(symbols)}
        open_specs = {sym: spec for sym, spec in self.specs.items() if spec.is_open}
        self.publisher = Publisher(self.hub, seed, specs=open_specs, accounts=self.accounts)
        self.markets: dict[str, MarketSim] = {sym: MarketSim(spec, seed, self.publisher) for sym, spec in open_specs.items()}
        self._order = list(self.markets.values())
        self._rng = random.Random(seed)
        self._paused = paused or self._records is not None
        self._record_path = Path(record) if record is not None else None
        self._rest_calls: deque = deque()
        self._rest_peers: set = set()  # (host, port) of every connection that carried a REST call
        self._tasks: list[asyncio.Task] = []
        self._runner: Optional[web.AppRunner] = None
        self._tls: Optional[LoopbackTLS] = None
        self.rest_url = ""
        self.ws_url = ""

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> "BackpackSimulator":
        self._tls = make_loopback_tls()
        if self._record_path is not None:
            self.hub.recorder = open(self._record_path, "w", buffering=1 << 16)
        app = web.Application(middlewares=[rest.edge])
        app[rest.SIM_KEY] = self
        rest.add_routes(app)
        app.router.add_get("/", websocket_handler)
        app.router.add_get("/ws", websocket_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._tls.server_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the bound port
        self.rest_url = f"https://127.0.0.1:{self.port}"
        self.ws_url = f"wss://127.0.0.1:{self.port}"
        if self._records is not None:
            self._replayer = Replayer(self._records, self.hub, self.replay_speed)
        self._tasks = [asyncio.create_task(self._engine_loop()), asyncio.create_task(self._clock())]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for conn in list(self.hub.connections):
            conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.hub.recorder is not None:
            self.hub.recorder.close()
            self.hub.recorder = None
        if self._tls is not None:
            self._tls.cleanup()

    async def __aenter__(self) -> "BackpackSimulator":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- public API --------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        return self._tls.ca_file

    def ssl_context(self):
        return self._tls.client_context()

    @property
    def connections(self) -> int:
        return len(self.hub.connections)

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    def config(self, **overrides):
        from ..config import BackpackConfig

        return BackpackConfig.build(**{"rest_url": self.rest_url, "ws_url": self.ws_url, "ca_file": self.ca_file, **overrides})

    def book(self, symbol: str) -> BookView:
        if self._replayer is not None and symbol in self._replayer.books:
            rb = self._replayer.books[symbol]
            return BookView(symbol, dict(rb.bids), dict(rb.asks), rb.update_id)
        return BookView.of(self.markets[symbol])

    def engine_market(self, symbol: str) -> Optional[MarketSim]:
        """The engine market behind ``symbol``, or None while a recording is replayed for it."""
        if self._replayer is not None and symbol in self._replayer.books:
            return None
        return self.markets.get(symbol)

    def trade_ids(self, symbol: str) -> list[int]:
        """Every trade id the engine made on ``symbol``, oldest first: the tape a lossless feed must
        deliver exactly once and in order (ids are sequential per market, PROTOCOL §3.2)."""
        return list(self.publisher.tape.get(symbol, ()))

    def published_trade_ids(self, symbol: str) -> list[int]:
        """The ids of the trades sent on ``trade.<symbol>`` while at least one client was subscribed."""
        return list(self.publisher.published.get(symbol, ()))

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    async def step(self, n: int = 1, symbol: Optional[str] = None) -> None:
        """Run ``n`` engine events now (on ``symbol`` or on random markets), then let frames go out."""
        for _ in range(n):
            m = self.markets[symbol] if symbol else self._order[self._rng.randrange(len(self._order))]
            m.step()
            self.stats.engine_events += 1
        await asyncio.sleep(0)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued frame has been written to its socket."""
        deadline = time.monotonic() + timeout
        while not self.hub.idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)

    async def wait_subscriptions(self, count: int, timeout: float = 5.0) -> None:
        """Wait until the server has registered ``count`` subscriptions (SUBSCRIBE has no ack)."""
        deadline = time.monotonic() + timeout
        while self.stats.subscriptions < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.stats.subscriptions} subscriptions after {timeout}s, expected {count}")
            await asyncio.sleep(0.005)

    def add_account(self, api_key_b64: str):
        return self.accounts.add(api_key_b64)

    def place_order(self, api_key_b64: str, symbol: str, side: str, price, quantity, client_id: Optional[int] = None):
        """Place an order for a registered account (``price=None`` = market order). Returns the order."""
        account = self.accounts.by_key.get(api_key_b64) or self.accounts.add(api_key_b64)
        return self.accounts.new_order(account, self.markets[symbol], side, price, quantity, client_id)

    def cancel_order(self, api_key_b64: str, symbol: str, order_id: str) -> bool:
        account = self.accounts.by_key[api_key_b64]
        return self.accounts.cancel(account, self.markets[symbol], order_id)

    async def start_replay(self) -> None:
        if self._replayer is not None and not self._replayer.done.is_set() and not getattr(self, "_replay_task", None):
            self._replay_task = asyncio.create_task(self._replayer.run())
            self._tasks.append(self._replay_task)

    async def replay_finished(self) -> None:
        if self._replayer is not None:
            await self._replayer.done.wait()

    # ---- hooks used by the WebSocket session ------------------------------------------------

    def on_subscribed(self, conn, stream: StreamName, account) -> None:
        if stream.kind == "kline" and stream.symbol in self.markets:
            self.publisher.track_klines(stream.symbol, stream.arg)
        elif stream.kind == "account.positionUpdate" and account is not None:
            # the current positions first, without "e" (PROTOCOL §3.3)
            for sym, pos in account.positions.items():
                if stream.symbol in (None, sym):
                    data = self.accounts.position_data(self.markets[sym], pos)
                    conn.push(json.dumps({"data": data, "stream": stream.name}, separators=(",", ":")))
        if self._replayer is not None and self.replay_autostart and not getattr(self, "_replay_task", None):
            async def later():
                await asyncio.sleep(0.2)  # let the client's other SUBSCRIBE frames arrive
                await self.start_replay()
            self._tasks.append(asyncio.create_task(later()))

    def _send_unknown_event(self) -> int:
        """An event type nobody knows, on the first subscribed public stream of each connection."""
        count = 0
        for conn in self.hub.connections:
            streams = sorted(k for k in conn.keys if "|" not in k)
            if not streams:
                continue
            name = streams[0]
            symbol = name.rsplit(".", 1)[-1] if "." in name else None
            data = {"E": now_us(), "e": "someFutureEvent", "s": symbol}
            conn.push(json.dumps({"data": data, "stream": name}, separators=(",", ":")))
            count += 1
        return count

    def _send_oversized(self, symbol: str, size_bytes: int) -> int:
        """A depth frame of about ``size_bytes``: current ids (stale on arrival), deleting prices above
        the deepest ask (absent from the book), so reading it changes nothing."""
        m = self.markets[symbol]
        key = "depth." + symbol
        group = [c for c in self.hub.subs.get(key, ()) if not c.closed]
        if not group:
            return 0
        spec, top = m.spec, (max(m.asks) if m.asks else m.mid0)
        level = len(spec.price_str(top)) + len(spec.qty_str(0)) + 8
        asks = [[spec.price_str(top + 1 + i), spec.qty_str(0)] for i in range(max(1, size_bytes // level))]
        data = {"E": now_us(), "T": now_us(), "U": m.update_id, "a": asks, "b": [], "e": "depth", "s": symbol,
                "u": m.update_id}
        frame = json.dumps({"data": data, "stream": key}, separators=(",", ":"))
        for conn in group:
            conn.push(frame)
        self.faults.count("frame_oversized", len(group))
        return len(group)

    # ---- background loops ------------------------------------------------------------------

    async def _engine_loop(self) -> None:
        """Batch generation per tick: no per-frame sleeps, so high rates stay cheap."""
        last = time.monotonic()
        budget = 0.0
        pub, markets, rng, stats = self.publisher, self._order, self._rng, self.stats
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            dt, last = now - last, now
            if self._paused or not markets:
                budget = 0.0
                continue
            # cap the backlog: under overload the engine slows down instead of starving the writers
            budget = min(budget + self.rate * dt, self.rate * 0.05 + 5)
            n = len(markets)
            while budget >= 1.0:
                before = pub.engine_frames
                markets[rng.randrange(n)].step()
                stats.engine_events += 1
                budget -= max(1, pub.engine_frames - before)

    async def _clock(self) -> None:
        """200 ms clock: aggregated depth windows, 1 s streams, open interest."""
        tick = 0
        next_oi = time.monotonic() + self.open_interest_interval
        start = time.monotonic()
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.2 - time.monotonic()))
            self.publisher.flush_window("200ms")
            if tick % 3 == 0:
                self.publisher.flush_window("600ms")
            if tick % 5 == 0:
                self.publisher.flush_window("1000ms")
                self.publisher.every_second(self.markets)
            if time.monotonic() >= next_oi:
                next_oi += self.open_interest_interval
                self.publisher.open_interest(self.markets)


__all__ = ["BackpackSimulator", "DEFAULT_SYMBOLS"]


class _LiveConnections:
    """The simulator's live connections, as faults act on them (faults.LiveConnections). It reads the
    hub when a fault fires, so the faults can be built before the hub that consults them."""

    def __init__(self, sim: BackpackSimulator):
        self.sim = sim

    def close_after(self, frames: int) -> None:
        self.sim.hub.close_after(frames)

    def drop_sockets(self) -> int:
        return self.sim.hub.drop_sockets()

    def server_close(self, code: int, reason: str) -> int:
        return self.sim.hub.server_close(code, reason)

    def half_open(self, seconds: float) -> int:
        return self.sim.hub.half_open(seconds)

    def stop_stream(self, stream: str, seconds: float) -> int:
        return self.sim.hub.stop_stream(stream, seconds)

    def send_oversized(self, symbol: str, size_bytes: int) -> int:
        return self.sim._send_oversized(symbol, size_bytes)

    def broadcast_raw(self, text: str, stream) -> int:
        return self.sim.hub.broadcast_raw(text, stream)

    def send_unknown_event(self) -> int:
        return self.sim._send_unknown_event()
