"""StreamGuard: which streams count as stopped, and what a check costs as the stream list grows."""
import pytest
from cryptofeed.defines import L2_BOOK, OPEN_INTEREST, TRADES

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures

OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "stream_silence_s": 30.0}
SYMBOLS = ["SUI-USDC-PERP", "kPEPE-USDC-PERP", "AAPL.US-USDC-PERP"]


@pytest.fixture
def feed(clean_symbols):
    seed_symbols(fixtures.markets())
    return BackpackFeed(config=OFFLINE, symbols=SYMBOLS, channels=[TRADES, L2_BOOK, OPEN_INTEREST])


def test_a_silent_stream_is_stopped_while_its_siblings_flow(feed):
    guard, now = feed.stream_guard, 10_000.0
    streams = feed.public_streams()
    for s in streams:
        feed.metrics.frame(s, now - 31 if s == "trade.SUI_USDC_PERP" else now - 1)
    assert guard.stopped_streams(now) == ["trade.SUI_USDC_PERP"]
    # quiet streams (open interest) never count, however long they are silent
    assert not any(s.startswith("openInterest.") for s in guard.watched_streams())
    assert {s for s in streams if s.startswith("openInterest.")} and len(guard.watched_streams()) == 6


def test_nothing_is_stopped_when_every_stream_is_silent(feed):
    # a dead socket, not a stopped stream: the ping timeout handles that
    now = 10_000.0
    for s in feed.public_streams():
        feed.metrics.frame(s, now - 100)
    assert feed.stream_guard.stopped_streams(now) == []


async def test_a_check_builds_the_stream_names_once_per_subscription(feed, monkeypatch):
    # the names used to be rebuilt once per stream on every check: 62 ms of blocked event loop
    # at 91 markets and 644 ms at 300, every stream_silence_s / 4
    calls = []
    public_streams = feed.public_streams
    monkeypatch.setattr(feed, "public_streams", lambda: calls.append(1) or public_streams())
    guard = feed.stream_guard
    for _ in range(5):
        guard.stopped_streams(10_000.0)
    built_once = len(calls)
    assert 1 <= built_once <= 2  # public_streams, and quiet_streams which reads it
    guard.on_subscribed()  # a reconnect may subscribe afresh: the names are built again, once
    try:
        for _ in range(5):
            guard.stopped_streams(10_000.0)
    finally:
        await guard.shutdown()
    assert len(calls) == 2 * built_once
