"""The account channels: ORDER_INFO, FILLS and POSITIONS from the signed ``account.*`` streams, and
BALANCES from a poll of ``GET /api/v1/capital``.

Why a poll for balances: ``account.balanceUpdate`` appears only in a third party's reading of newer
docs and its fields are unverified (docs/protocol.md §3.3), so it cannot be parsed honestly yet.
A rejected subscription is diagnosed: the exchange's text rarely says whether the clock or the key
is wrong, so the clock is measured against ``/api/v1/time``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator, Optional

import msgspec
from cryptofeed.connection import AsyncConnection
from cryptofeed.defines import BALANCES, FILLS, ORDER_INFO, POSITIONS
from cryptofeed.exceptions import UnsupportedSymbol

from .. import auth, delivery
from ..constants import ORDER_UPDATE_STREAM, POSITION_UPDATE_STREAM
from ..errors import BackpackAuthError, BackpackError
from ..transport.policy import retry_delay
from ..wire import account, session

LOG = logging.getLogger("feedhandler")

STREAM_CHANNELS = (ORDER_INFO, FILLS, POSITIONS)
#: a rejection is taken as cleared when a later subscription has gone this long without one
AUTH_GRACE_S = 5.0


class AccountChannels:
    def __init__(self, feed, wanted: dict[str, set[str]]):
        self.feed = feed
        self.channels = [c for c in wanted if c in STREAM_CHANNELS]
        self._symbols = sorted(set().union(*(wanted[c] for c in self.channels))) if self.channels else []
        self.subscribed: list[str] = []  # the private streams of the last (re)connect
        self.last_auth_error: Optional[BackpackAuthError] = None
        self.clock_skew_ms: Optional[float] = None
        self._subscribed_at = self._rejected_at = self._event_at = 0.0
        self._diagnosis: Optional[asyncio.Task] = None

    @property
    def wants_stream(self) -> bool:
        return bool(self.channels)

    def stream_names(self) -> list[str]:
        scope_all = self.feed.backpack_config.private_scope == "all"
        return session.private_stream_names(self.channels, None if scope_all else self._symbols)

    async def subscribe(self, conn: AsyncConnection) -> None:
        """Signed again on every (re)connect, with a fresh timestamp."""
        if not self.channels:
            return
        bp = self.feed.backpack_config
        streams = self.stream_names()
        signature = auth.ws_signature(bp.auth.api_key, bp.auth.seed, window_ms=bp.window_ms)
        self.subscribed = streams
        self._subscribed_at = time.monotonic()
        await conn.write(session.subscribe_frame(streams, signature=signature))
        self.feed.metrics.inc("ws_private_subscribes")

    async def on_frame(self, stream: str, data: msgspec.Raw, timestamp: float, msg) -> None:
        feed = self.feed
        try:
            events = self._parse(stream, bytes(data), timestamp)
        except UnsupportedSymbol as exc:  # a market listed after our symbol load
            feed.drop("unknown_symbol", "account", msg, exc)
            return
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError, BackpackError) as exc:
            feed.drop("undecodable", "account", msg, exc)
            return
        self._event_at = time.monotonic()
        for channel, obj in events:
            if channel in self.channels:
                await feed.deliver(channel, obj, timestamp)

    def _parse(self, stream: str, data: bytes, timestamp: float) -> list[tuple[str, Any]]:
        to_std = self.feed.exchange_symbol_to_std_symbol
        if stream.startswith(ORDER_UPDATE_STREAM):
            msg, raw = account.decode_order_update(data)
            info = account.order_info(msg, raw, to_std, timestamp)
            fill = account.fill(msg, raw, to_std, timestamp)
            return [(ORDER_INFO, info)] + ([(FILLS, fill)] if fill is not None else [])
        if stream.startswith(POSITION_UPDATE_STREAM):
            return [(POSITIONS, account.position(m, raw, to_std, timestamp)) for m, raw in account.decode_position_updates(data)]
        raise ValueError(f"unhandled private stream {stream}")

    def current_auth_error(self, grace_s: float = AUTH_GRACE_S) -> Optional[BackpackAuthError]:
        """The rejection of the current subscription, if any. A rejection clears when account events
        arrive afterwards, or when a later subscription has gone ``grace_s`` without one."""
        error = self.last_auth_error
        if error is None:
            return None
        if self._event_at > self._rejected_at or (
                self._subscribed_at > self._rejected_at and time.monotonic() - self._subscribed_at > grace_s):
            self.last_auth_error = None
            return None
        return error

    def on_rejected(self, code: int, message: str) -> bool:
        """An error frame after a private subscribe: True when it rejected our credentials."""
        if not self.subscribed:
            return False
        explained = session.explain_ws_error(code, message)
        if explained is None:
            return False
        self.feed.metrics.inc("auth_failures")
        self.last_auth_error = explained
        self._rejected_at = time.monotonic()
        self._diagnosis = delivery.spawn(self._diagnose(explained))
        return True

    async def shutdown(self) -> None:
        if self._diagnosis is not None:
            self._diagnosis.cancel()

    async def _diagnose(self, explained: BackpackAuthError) -> None:
        window = self.feed.backpack_config.window_ms
        skew = None
        try:
            sent = auth.now_ms()
            server = await self.feed.backpack_rest().server_time_ms()
            skew = auth.clock_sample(sent, auth.now_ms(), server).skew_ms
        except BackpackError as exc:
            LOG.warning("%s: could not measure clock skew against /api/v1/time: %s", self.feed.id, exc)
        self.clock_skew_ms = skew
        if skew is not None and abs(skew) > window / 2:
            explained = BackpackAuthError.because(
                "private subscription rejected",
                cause=f"the local clock is {skew:+.0f} ms off the exchange's (window_ms={window})",
                fix="sync the clock with NTP, or raise window_ms (max 60000)",
            )
            self.last_auth_error = explained
        LOG.error("%s: %s%s", self.feed.id, explained,
                  "" if skew is None else f" [measured clock skew {skew:+.0f} ms against /api/v1/time]")

    def connections(self) -> list:
        """The balance poller, as a cryptofeed connection (the ConnectionHandler retries and stops it)."""
        if BALANCES not in self.feed.wanted_channels:
            return []
        poller = BalancePoller(self.feed)
        return [(poller, poller.subscribe, poller.message_handler, self.feed.authenticate)]


class BalancePoller(AsyncConnection):
    """Polls ``/api/v1/capital``. The first poll emits every asset; later polls only changed ones."""

    def __init__(self, feed):
        super().__init__(f"{feed.id}.balances")
        self.feed = feed
        self.interval_s = feed.backpack_config.balance_poll_interval_s
        self._running = False
        self._poll: Optional[asyncio.Future] = None
        self._last: dict[str, tuple] = {}
        self._logged: set[tuple] = set()

    @property
    def is_open(self) -> bool:
        return self._running

    async def _open(self) -> None:
        self._running = True
        self.sent = self.received = 0

    async def close(self) -> None:
        self._running = False
        if self._poll is not None:
            # a call in flight (with its retries) would otherwise outlive the feed's REST client
            self._poll.cancel()

    async def read(self) -> AsyncIterator[dict]:
        client = self.feed.backpack_rest()
        failures = 0
        while self._running:
            try:
                self._poll = asyncio.ensure_future(client.balances())
                reply = await self._poll
            except asyncio.CancelledError:
                if self._running:  # the task itself was cancelled, not only the poll by close()
                    raise
                return
            except BackpackError as exc:
                # a rejected key or an outage: back off (up to 10 polls' worth), say it once per cause
                failures += 1
                self._log_once(exc)
                self.feed.metrics.inc("balance_poll_errors")
                await asyncio.sleep(max(self.interval_s, retry_delay(failures, exc, self.interval_s, 10 * self.interval_s)))
                continue
            if failures:
                LOG.info("%s: balance polling recovered after %d failed polls", self.feed.id, failures)
                failures = 0
                self._logged.clear()
            self.received += 1
            self.last_message = time.time()
            yield reply
            await asyncio.sleep(self.interval_s)

    def _log_once(self, exc: BackpackError) -> None:
        cause = (type(exc).__name__, getattr(exc, "status", None))
        if cause not in self._logged:
            self._logged.add(cause)
            LOG.warning("%s: balance poll failed: %s; backing off, further failures of this kind are only counted",
                        self.feed.id, exc)

    async def subscribe(self, conn) -> None:
        self._last.clear()

    async def message_handler(self, reply: dict, conn, timestamp: float) -> None:
        for balance in account.balances(reply):
            key = (balance.balance, balance.reserved)
            if self._last.get(balance.currency) == key:
                continue
            self._last[balance.currency] = key
            await self.feed.deliver(BALANCES, balance, timestamp)
