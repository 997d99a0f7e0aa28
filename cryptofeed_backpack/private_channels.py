"""The private channels of BackpackFeed: signed subscription, account.* frames, balance polling,
and the diagnosis of a rejected subscription (clock or key?)."""
from __future__ import annotations

import logging
from typing import Any

import msgspec
from cryptofeed.connection import AsyncConnection
from cryptofeed.defines import BALANCES, FILLS, ORDER_INFO, POSITIONS

from .errors import BackpackError

LOG = logging.getLogger("feedhandler")


class PrivateChannelsMixin:
    async def _subscribe_private(self, conn: AsyncConnection) -> None:
        private_channels = [c for c in self._wanted_std if c in (ORDER_INFO, FILLS, POSITIONS)]
        if not private_channels:
            return
        from . import auth, private

        bp = self.backpack_config
        symbols = None if bp.private_scope == "all" else sorted(
            set().union(*(self._by_kind[c] for c in private_channels))
        )
        streams = private.private_stream_names(private_channels, symbols)
        signature = auth.ws_signature(bp.auth.api_key, bp.auth.seed, window_ms=bp.window_ms)
        self._private_subscribed = streams
        await conn.write(private.subscribe_message(streams, signature))
        self.metrics.inc("ws_private_subscribes")

    async def _on_private(self, stream: str, data: msgspec.Raw, timestamp: float, msg) -> None:
        from . import private

        try:
            events = _parse_private(private, stream, bytes(data), self.exchange_symbol_to_std_symbol, timestamp)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError, BackpackError) as exc:
            self._drop("undecodable", "account", msg, exc)
            return
        for channel, obj in events:
            if channel in self._wanted_std:
                await self.callback(channel, obj, timestamp)

    async def _diagnose_auth_failure(self, explained) -> None:
        from . import auth
        from .errors import BackpackAuthError

        window = self.backpack_config.window_ms
        skew = None
        try:
            sent = auth.now_ms()
            server = int((await self._rest().get_text("/api/v1/time")).strip())
            skew = server - (sent + auth.now_ms()) / 2
        except (BackpackError, ValueError) as exc:
            LOG.warning("%s: could not measure clock skew against /api/v1/time: %s", self.id, exc)
        self.clock_skew_ms = skew
        if skew is not None and abs(skew) > window / 2:
            explained = BackpackAuthError(
                "private subscription rejected",
                cause=f"the local clock is {skew:+.0f} ms off the exchange's (window_ms={window})",
                fix="sync the clock with NTP, or raise window_ms (max 60000)",
            )
            self.last_auth_error = explained
        LOG.error("%s: %s%s", self.id, explained,
                  "" if skew is None else f" [measured clock skew {skew:+.0f} ms against /api/v1/time]")

    def _connect_rest(self):
        if BALANCES not in self._wanted_std:
            return []
        from .balances import BalancePoller

        poller = BalancePoller(self)
        return [(poller, poller.subscribe, poller.message_handler, self.authenticate)]


def _parse_private(private, stream: str, data: bytes, to_std, timestamp: float) -> list[tuple[str, Any]]:
    if stream.startswith("account.orderUpdate"):
        info, fill = private.parse_order_update(data, to_std, timestamp)
        return [(ORDER_INFO, info)] + ([(FILLS, fill)] if fill is not None else [])
    if stream.startswith("account.positionUpdate"):
        return [(POSITIONS, p) for p in private.parse_position_updates(data, to_std, timestamp)]
    raise ValueError(f"unhandled private stream {stream}")


