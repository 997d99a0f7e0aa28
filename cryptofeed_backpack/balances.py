"""BALANCES by polling ``GET /api/v1/capital`` (instruction ``balanceQuery``).

Why a poll: ``account.balanceUpdate`` appears only in a third party's reading of newer docs and
its fields are unverified (PROTOCOL.md §3.3), so it cannot be parsed honestly yet. The poller is a
cryptofeed connection, so the feed's ConnectionHandler gives it retries, backoff and shutdown.
The first poll emits every asset; later polls emit only assets whose balance changed.
"""
from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import msgspec
from cryptofeed.connection import AsyncConnection
from cryptofeed.defines import BALANCES

from . import private


class BalancePoller(AsyncConnection):
    def __init__(self, feed):
        super().__init__(f"{feed.id}.balances")
        self.feed = feed
        self.interval_s = feed.backpack_config.balance_poll_interval_s
        self._running = False
        self._last: dict[str, tuple] = {}

    @property
    def is_open(self) -> bool:
        return self._running

    async def _open(self) -> None:
        self._running = True
        self.sent = self.received = 0

    async def close(self) -> None:
        self._running = False

    async def read(self) -> AsyncIterator[bytes]:
        client = self.feed._rest()
        while self._running:
            body = await client.request("GET", "/api/v1/capital", instruction="balanceQuery")
            self.received += 1
            self.last_message = time.time()
            yield body
            await asyncio.sleep(self.interval_s)

    async def subscribe(self, conn) -> None:
        self._last.clear()

    async def message_handler(self, msg: bytes, conn, timestamp: float) -> None:
        for balance in private.parse_balances(msgspec.json.decode(msg)):
            key = (balance.balance, balance.reserved)
            if self._last.get(balance.currency) == key:
                continue
            self._last[balance.currency] = key
            await self.feed.callback(BALANCES, balance, timestamp)
