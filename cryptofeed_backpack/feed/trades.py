"""The TRADES channel, lossless: every trade of a market reaches the callback exactly once, in
trade-id order (docs/operations.md, "Lossless trades").

Backpack's trade ids are sequential per market (docs/protocol.md §3.2). The channel keeps the
last id it delivered for each market. A trade at or below it is a duplicate and is dropped. A
trade beyond ``last + 1`` reveals a hole, and so does every reconnect: the channel then holds the
live trades of that market, fetches the missing ones from REST (``/api/v1/trades``, then
``/api/v1/trades/history`` by offset, within the REST budget), delivers them in order, and only
then releases the held live trades. A hole that cannot be filled (older than the history pages
allowed, or REST down past ``trade_backfill.timeout_s``) is reported: ``trades_lost`` and
``trade_holes_unfilled`` in the metrics, one log line, and the health report.

Backfilled trades are ordinary cryptofeed ``Trade`` objects whose ``raw`` is
``{"backfill": True, "trade": <the REST element>}`` (live trades have ``raw=None``); their
timestamps have the REST reply's millisecond resolution.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Awaitable, Optional

import msgspec
from cryptofeed.defines import TRADES

from .. import delivery
from ..constants import PAGE_LIMIT
from ..errors import BackpackError
from ..transport.policy import Backoff
from ..wire import market, market_rest
from ..wire.market import TradeMsg

LOG = logging.getLogger("feedhandler")


def is_backfilled(trade) -> bool:
    """True for a Trade this channel fetched from REST to fill a hole."""
    return isinstance(trade.raw, dict) and trade.raw.get("backfill") is True


class _MarketTrades:
    __slots__ = ("symbol", "last_id", "filling", "pending", "task")

    def __init__(self, symbol: str):
        self.symbol = symbol  # the cryptofeed symbol
        self.last_id: Optional[int] = None  # the last trade id delivered
        self.filling = False  # a hole is being filled: live trades wait in ``pending``
        self.pending: deque[tuple[TradeMsg, float]] = deque()
        self.task: Optional[asyncio.Task] = None


class TradeChannel:
    def __init__(self, feed):
        self.feed = feed
        self.policy = feed.backpack_config.trade_backfill
        self.markets: dict[str, _MarketTrades] = {}  # exchange symbol -> its trade state
        self.last_loss: Optional[tuple[float, str, int]] = None  # (when, market, trades lost)

    # ---- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """On every (re)connect: what was published while the socket was down is fetched from REST."""
        if not self.policy.enabled:
            return
        for exchange_symbol, state in self.markets.items():
            if state.last_id is not None and not state.filling:
                self._start_fill(exchange_symbol, state)

    async def shutdown(self) -> None:
        """Cancel the backfills, but not while one is delivering a trade."""
        tasks = [state.task for state in self.markets.values() if state.task is not None]
        drain_s = self.feed.backpack_config.connection.stop_drain_s
        await self.feed.delivery_guard.cancel_between_deliveries(tasks, drain_s, owner=self.feed.id)

    def status(self) -> dict[str, Optional[int]]:
        """exchange symbol -> the last trade id delivered."""
        return {sym: s.last_id for sym, s in self.markets.items()}

    # ---- live frames ---------------------------------------------------------------------------

    def on_trade(self, msg: TradeMsg, symbol: str, timestamp: float) -> Optional[Awaitable]:
        """Update the market's state now; return the delivery to await, or None (held or dropped)."""
        state = self.markets.get(msg.symbol)
        if state is not None and not state.filling and state.last_id == msg.trade_id - 1:
            # the next trade in sequence: the one case that happens on nearly every frame
            state.last_id = msg.trade_id
            return self.feed.deliver(TRADES, market.trade(msg, symbol), timestamp)
        return self._out_of_sequence(msg, symbol, timestamp, state)

    def _out_of_sequence(self, msg: TradeMsg, symbol: str, timestamp: float,
                         state: Optional[_MarketTrades]) -> Optional[Awaitable]:
        """The first trade of a market, a duplicate, a hole, or a trade while a hole is being filled."""
        if state is None:
            state = self.markets[msg.symbol] = _MarketTrades(symbol)
        if state.filling:
            state.pending.append((msg, timestamp))
            if len(state.pending) > self.policy.max_buffered:
                self._give_up(msg.symbol, state, "too many live trades arrived while it was being filled")
            return None
        last = state.last_id
        if last is not None and msg.trade_id <= last:
            self.feed.metrics.inc("trade_duplicates")
            return None
        if last is not None and msg.trade_id > last + 1:
            if self.policy.enabled:
                state.pending.append((msg, timestamp))
                self._start_fill(msg.symbol, state)
                return None
            self._report_loss(msg.symbol, msg.trade_id - last - 1, "trade backfill is disabled")
        state.last_id = msg.trade_id
        return self.feed.deliver(TRADES, market.trade(msg, symbol), timestamp)

    # ---- filling holes ---------------------------------------------------------------------------

    def _start_fill(self, exchange_symbol: str, state: _MarketTrades) -> None:
        state.filling = True
        state.task = delivery.spawn(self._fill_and_release(exchange_symbol, state))

    async def _fill_and_release(self, exchange_symbol: str, state: _MarketTrades) -> None:
        try:
            while True:
                await self._fill(exchange_symbol, state)
                if await self._release(state):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leave a market held: report and release what was buffered
            LOG.error("%s: %s trade backfill failed: %s", self.feed.id, exchange_symbol, exc, exc_info=True)
            self._give_up(exchange_symbol, state, f"backfill failed ({type(exc).__name__})")
        finally:
            if state.task is asyncio.current_task():
                state.task = None

    async def _fill(self, exchange_symbol: str, state: _MarketTrades) -> None:
        """Deliver the trades after ``state.last_id`` and before the first held live trade. What REST
        cannot give is reported lost and skipped, so the held trades are never held twice for it."""
        feed = self.feed
        after = state.last_id
        until = state.pending[0][0].trade_id if state.pending else None
        deadline = time.monotonic() + self.policy.timeout_s
        backoff = Backoff(feed.backpack_config.rest)
        why = ""
        while True:
            try:
                trades, complete = await self._fetch_after(exchange_symbol, after, until)
                break
            except BackpackError as exc:
                feed.metrics.inc("trade_backfill_errors")
                if time.monotonic() >= deadline:
                    trades, complete = [], False
                    why = f"REST failed for {self.policy.timeout_s:.0f}s ({exc})"
                    break
                await asyncio.sleep(backoff.next_delay(exc))
        if not complete and not why:
            why = f"older than the {self.policy.max_pages} history pages a hole may read"
        for t in trades:
            if t.id > state.last_id:
                raw = {"backfill": True, "trade": msgspec.to_builtins(t)}
                async with feed.delivery_guard.delivering():
                    state.last_id = t.id
                    feed.metrics.inc("trades_backfilled")
                    await feed.deliver(TRADES, market_rest.trade(t, state.symbol, raw=raw), time.time())
        if not complete:
            if until is not None:
                self._report_loss(exchange_symbol, until - after - 1 - len(trades), why)
                state.last_id = max(state.last_id, until - 1)
            else:
                self._report_loss(exchange_symbol, trades[0].id - after - 1 if trades else None, why)

    async def _fetch_after(self, exchange_symbol: str, after: int, until: Optional[int]) -> tuple[list, bool]:
        """The REST trades with ``after < id < until`` (``until`` None: up to the newest), ascending,
        and whether they reach back to ``after + 1``."""
        client = self.feed.backpack_rest()
        found: dict[int, market_rest.RestTrade] = {}

        def keep(page) -> Optional[int]:
            for t in page:
                if t.id > after and (until is None or t.id < until):
                    found[t.id] = t
            return min((t.id for t in page), default=None)

        oldest = keep(await client.trades(exchange_symbol, PAGE_LIMIT))
        offset, pages = PAGE_LIMIT, 0
        while oldest is not None and oldest > after + 1 and pages < self.policy.max_pages:
            page = await client.trades_history(exchange_symbol, PAGE_LIMIT, offset)
            if not page:
                break
            oldest = min(oldest, keep(page))
            offset += len(page)
            pages += 1
        if until is not None:
            complete = len(found) == until - after - 1
        else:
            complete = oldest is None or oldest <= after + 1
        return [found[i] for i in sorted(found)], complete

    async def _release(self, state: _MarketTrades) -> bool:
        """Deliver the held live trades in order. False when they reveal another hole (fill again)."""
        feed = self.feed
        while state.pending:
            msg, timestamp = state.pending[0]
            if msg.trade_id <= state.last_id:
                state.pending.popleft()
                feed.metrics.inc("trade_duplicates")
                continue
            if msg.trade_id > state.last_id + 1:
                return False
            async with feed.delivery_guard.delivering():
                state.pending.popleft()
                state.last_id = msg.trade_id
                await feed.deliver(TRADES, market.trade(msg, state.symbol), timestamp)
        state.filling = False  # no await between the last check and here: nothing can slip past
        return True

    def _give_up(self, exchange_symbol: str, state: _MarketTrades, why: str) -> None:
        """Stop filling: count the hole as lost and let the held trades through in order."""
        if state.task is not None and state.task is not asyncio.current_task():
            state.task.cancel()
        state.task = None
        if state.pending:
            first = state.pending[0][0].trade_id
            if state.last_id is not None and first > state.last_id + 1:
                self._report_loss(exchange_symbol, first - state.last_id - 1, why)
            state.last_id = first - 1
        state.task = delivery.spawn(self._release_after_give_up(state))

    async def _release_after_give_up(self, state: _MarketTrades) -> None:
        try:
            while not await self._release(state):  # later holes are not filled either: skip them
                first = state.pending[0][0].trade_id
                self._report_loss(state.symbol, first - state.last_id - 1, "given up")
                state.last_id = first - 1
        finally:
            if state.task is asyncio.current_task():
                state.task = None

    def _report_loss(self, exchange_symbol: str, lost: Optional[int], why: str) -> None:
        metrics = self.feed.metrics
        metrics.inc("trade_holes_unfilled")
        if lost:
            metrics.inc("trades_lost", lost)
        self.last_loss = (time.time(), exchange_symbol, lost or 0)
        LOG.warning("%s: %s: %s trade(s) could not be recovered: %s", self.feed.id, exchange_symbol,
                    "an unknown number of" if lost is None else lost, why)
