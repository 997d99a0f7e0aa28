"""Read each feed's state into a ``FeedState`` for ``health.evaluate``: the only code here that
knows the attributes of ``BackpackFeed`` and ``CcxtBackpackFeed``."""
from __future__ import annotations

import time
from typing import Optional

from cryptofeed.defines import L2_BOOK

from .health import BookState, FeedState, HealthReport, HealthThresholds, StreamState, evaluate
from .metrics import stream_labels

DEFAULT_THRESHOLDS = HealthThresholds()


def _streams(names, metrics) -> tuple[StreamState, ...]:
    last = metrics.last_frame_by_stream
    return tuple(StreamState(n, stream_labels(n)[0], last.get(n)) for n in names)


def _recent(metrics, window_s: float, now: float) -> tuple[int, int, int]:
    return (metrics.recent_errors.count(window_s, now), metrics.recent_drops.count(window_s, now),
            metrics.recent_gaps.count(window_s, now))


def native_state(feed, thresholds: HealthThresholds = DEFAULT_THRESHOLDS, now: Optional[float] = None) -> FeedState:
    now = time.time() if now is None else now
    m = feed.metrics
    handlers = feed.connection_handlers
    names = list(feed.public_streams()) + list(feed.liquidation_streams()) + list(feed.account_channels.subscribed)
    streams = _streams(names, m)
    book_status = feed.book_status()
    books = []
    for stream in streams:
        if stream.channel != "depth":
            continue
        symbol = stream_labels(stream.name)[1]
        book = book_status.get(symbol)
        books.append(BookState(symbol, book is not None and book.synced, None if book is None else book.last_update_id,
                               stream.last_frame_at, m.book_snapshot_at.get(symbol)))
    auth_error = feed.last_auth_error  # the rejection of the current subscription only (feed/account.py)
    connected = any(h.conn.is_open for h in handlers)
    error = getattr(feed, "last_connection_error", None)
    rest = getattr(feed, "rest_client", None)
    errors, drops, gaps = _recent(m, thresholds.window_s, now)
    return FeedState(
        kind="native",
        # before FeedHandler starts the feed there are no handlers yet: alive, not ready
        running=m.stopped_at is None and (not handlers or any(h.running for h in handlers)),
        connected=connected, ever_connected=m.subscribed_at is not None, subscribed_at=m.subscribed_at,
        connect_error=None if error is None else str(error),
        streams=streams, books=tuple(books), recent_errors=errors, recent_drops=drops, recent_gaps=gaps,
        stream_silence_s=feed.backpack_config.stream_silence_s,
        auth_error=None if auth_error is None else str(auth_error),
        rest_breaker=getattr(rest, "breaker_state", "closed") if rest is not None else "closed",
        trade_loss=feed.trade_channel.last_loss, backend_failure=feed.backend_failure,
    )


def ccxt_stream_names(feed) -> dict[tuple[str, str], str]:
    """(channel, cryptofeed symbol) -> the Backpack stream the ccxt feed's watch reads (polled channels: none)."""
    from ..ccxt_feed.convert import stream_name

    names = {}
    for channel, symbols in feed._wanted.items():  # noqa: SLF001
        for symbol in symbols:
            name = stream_name(channel, feed.std_symbol_to_exchange_symbol(symbol), feed.candle_interval)
            if name is not None:
                names[(channel, symbol)] = name
    return names


def ccxt_state(feed, thresholds: HealthThresholds = DEFAULT_THRESHOLDS, now: Optional[float] = None) -> FeedState:
    now = time.time() if now is None else now
    m = feed.metrics
    by_key = ccxt_stream_names(feed)
    streams = _streams(by_key.values(), m)
    failing = tuple(sorted(by_key[k] for k in feed._failures if k in by_key))  # noqa: SLF001
    last = m.last_frame_by_stream
    books = tuple(
        BookState(stream_labels(by_key[(channel, symbol)])[1],
                  last.get(by_key[(channel, symbol)]) is not None and by_key[(channel, symbol)] not in failing,
                  None, last.get(by_key[(channel, symbol)]), last.get(by_key[(channel, symbol)]))
        for channel, symbol in by_key if channel == L2_BOOK)
    # ccxt hides its sockets: the feed counts as connected once data flowed and not every stream is failing
    connected = m.last_frame_at is not None and len(failing) < len(streams)
    errors, drops, gaps = _recent(m, thresholds.window_s, now)
    error = getattr(feed, "last_error", None)
    return FeedState(
        kind="ccxt", running=m.stopped_at is None, connected=connected,
        ever_connected=m.last_frame_at is not None, subscribed_at=m.subscribed_at,
        connect_error=None if error is None else str(error), streams=streams, books=books,
        recent_errors=errors, recent_drops=drops, recent_gaps=gaps,
        stream_silence_s=feed.backpack_config.stream_silence_s, failing=failing,
        backend_failure=feed.backend_failure,
    )


def native_health(feed, now: Optional[float] = None) -> HealthReport:
    thresholds = getattr(feed, "health_thresholds", None) or DEFAULT_THRESHOLDS
    return evaluate(native_state(feed, thresholds, now), thresholds, now)


def ccxt_health(feed, now: Optional[float] = None) -> HealthReport:
    thresholds = getattr(feed, "health_thresholds", None) or DEFAULT_THRESHOLDS
    return evaluate(ccxt_state(feed, thresholds, now), thresholds, now)
