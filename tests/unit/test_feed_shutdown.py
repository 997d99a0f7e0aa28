"""BackpackFeed.shutdown: nothing that uses REST outlives the REST client's close."""
from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

import aiohttp
import pytest
from cryptofeed.defines import BALANCES

from cryptofeed_backpack import BackpackFeed, auth
from cryptofeed_backpack.feed.account import BalancePoller
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures

SEED = bytes(range(1, 33))
# the REST port refuses at once: every poll fails fast and polls again after the interval
CONFIG = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "balance_poll_interval_s": 0.01,
          "enable_private_channels": True,
          "auth": {"api_key": auth.b64(auth.public_key_from_seed(SEED)), "private_key": base64.b64encode(SEED).decode()}}


@pytest.fixture
def feed(clean_symbols):
    seed_symbols(fixtures.markets())
    return BackpackFeed(config=CONFIG, symbols=["SUI-USDC"], channels=[BALANCES])


async def test_a_poll_that_wakes_while_the_rest_client_closes_opens_no_new_session(feed, monkeypatch):
    # closing a session takes time (its TLS connections close); a balance poll that woke then used
    # to open a fresh session on the closed client, which nothing ever closed
    close = aiohttp.ClientSession.close

    async def slow_close(session):
        await asyncio.sleep(0.1)
        await close(session)

    monkeypatch.setattr(aiohttp.ClientSession, "close", slow_close)
    poller = BalancePoller(feed)
    feed.connection_handlers.append(SimpleNamespace(conn=poller, running=True))
    await poller._open()

    async def poll():
        async for _ in poller.read():
            pass

    polling = asyncio.create_task(poll())
    await asyncio.sleep(0.05)  # a few polls have run: the client has its session
    assert feed.rest_client is not None and feed.rest_client._session is not None
    await feed.shutdown()
    await asyncio.wait_for(polling, 5)  # the poller stops on its own once closed
    assert feed.rest_client._session is None


async def test_a_closed_rest_client_refuses_calls_instead_of_opening_a_session():
    from cryptofeed_backpack.config import BackpackConfig
    from cryptofeed_backpack.errors import BackpackConnectionError
    from cryptofeed_backpack.transport.rest import BackpackRestClient

    client = BackpackRestClient(BackpackConfig(rest_url="https://127.0.0.1:9", ws_url="wss://127.0.0.1:9"))
    await client.close()
    with pytest.raises(BackpackConnectionError, match="was closed.*create a new BackpackRestClient"):
        await client.server_time_ms()
    assert client._session is None
