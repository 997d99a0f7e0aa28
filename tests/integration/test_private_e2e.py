"""Private channels end to end: signed SUBSCRIBE over TLS to the simulator's verifier."""
from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from cryptofeed.defines import BALANCES, BUY, FILLS, L2_BOOK, ORDER_INFO, POSITIONS, TRADES
from cryptofeed.types import Balance, Fill, OrderInfo, Position

from cryptofeed_backpack import auth
from cryptofeed_backpack.simulator import BackpackSimulator
from tests.integration.feed_harness import running_feed, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYM, STD = "BTC_USDC_PERP", "BTC-USDC-PERP"
PRIVATE = [ORDER_INFO, FILLS, POSITIONS, BALANCES]


def new_key():
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return auth.b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)), seed


def private_config(sim, api_key, seed, **extra):
    return sim.config(auth={"api_key": api_key, "private_key": seed.hex()}, enable_private_channels=True,
                      balance_poll_interval_s=0.2, **extra)


async def test_private_channels_deliver_cryptofeed_objects_and_survive_a_reconnect(clean_symbols, caplog):
    caplog.set_level(logging.DEBUG)
    api_key, seed = new_key()
    async with BackpackSimulator(symbols=[SYM], seed=8, rate=100) as sim:
        sim.add_account(api_key)
        async with running_feed(sim, [STD], PRIVATE + [TRADES], config=private_config(sim, api_key, seed)) as (feed, rec):
            assert await wait_until(lambda: feed.metrics.counters["ws_private_subscribes"] >= 1 and sim.connections >= 1)
            assert await wait_until(lambda: rec.items[BALANCES])
            await wait_until(lambda: False, timeout=0.3)  # let the subscription land (no ack exists)
            order = sim.place_order(api_key, SYM, "Bid", None, D("0.01"))  # marketable: fills at once
            assert await wait_until(lambda: rec.items[FILLS] and rec.items[POSITIONS] and len(rec.items[ORDER_INFO]) >= 2)

            infos = [o for o, _ in rec.items[ORDER_INFO]]
            assert all(isinstance(o, OrderInfo) and o.symbol == STD and o.side == BUY for o in infos)
            assert {o.status for o in infos} >= {"filled"}
            fill = rec.items[FILLS][0][0]
            assert isinstance(fill, Fill) and fill.symbol == STD and fill.side == BUY
            assert type(fill.price) is D and type(fill.amount) is D and fill.amount > 0 and type(fill.fee) is D
            assert fill.order_id == str(order.order_id) if hasattr(order, "order_id") else fill.order_id
            pos = rec.items[POSITIONS][-1][0]
            assert isinstance(pos, Position) and pos.symbol == STD and pos.position > 0
            bal = rec.items[BALANCES][0][0]
            assert isinstance(bal, Balance) and type(bal.balance) is D

            # reconnect: the feed signs again with a fresh timestamp and keeps receiving
            subscribes = feed.metrics.counters["ws_private_subscribes"]
            sim.faults.close_after(3)
            assert await wait_until(lambda: feed.metrics.counters["ws_private_subscribes"] > subscribes, timeout=20)
            await wait_until(lambda: False, timeout=0.5)
            fills_before = len(rec.items[FILLS])
            sim.place_order(api_key, SYM, "Ask", None, D("0.01"))
            assert await wait_until(lambda: len(rec.items[FILLS]) > fills_before)
            assert feed.last_auth_error is None

    # no form of the secret anywhere in the captured logs, metrics or reprs
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(feed.backpack_config) + str(feed.metrics_snapshot())
    for secret in (seed.hex(), auth.b64(seed), seed.hex().upper()):
        assert secret not in text
    assert len(caplog.records) > 0


async def test_wrong_key_is_rejected_with_a_named_cause(clean_symbols):
    api_key, seed = new_key()  # never registered with the exchange
    async with BackpackSimulator(symbols=[SYM], seed=8, rate=50) as sim:
        async with running_feed(sim, [STD], [ORDER_INFO], config=private_config(sim, api_key, seed)) as (feed, rec):
            assert await wait_until(lambda: feed.last_auth_error is not None)
            assert await wait_until(lambda: feed.clock_skew_ms is not None)
    assert feed.metrics.counters["auth_failures"] >= 1
    text = str(feed.last_auth_error)
    assert "cause:" in text and "fix:" in text and "clock" not in text.split("cause:")[1].split(";")[0]
    assert abs(feed.clock_skew_ms) < 1000
    assert feed.health().status != "ok"


async def test_expired_timestamp_is_reported_as_clock_skew(clean_symbols, monkeypatch):
    api_key, seed = new_key()
    async with BackpackSimulator(symbols=[SYM], seed=8, rate=50) as sim:
        sim.add_account(api_key)
        real_now = auth.now_ms
        monkeypatch.setattr(auth, "now_ms", lambda: real_now() - 120_000)  # this machine's clock is 2 min late
        async with running_feed(sim, [STD], [ORDER_INFO], config=private_config(sim, api_key, seed)) as (feed, rec):
            assert await wait_until(lambda: feed.clock_skew_ms is not None)
            assert await wait_until(lambda: "clock" in str(feed.last_auth_error))
    assert 110_000 < feed.clock_skew_ms < 130_000
    assert "window_ms=5000" in str(feed.last_auth_error) and "NTP" in str(feed.last_auth_error)


async def test_public_and_private_channels_share_one_feed(clean_symbols):
    api_key, seed = new_key()
    async with BackpackSimulator(symbols=[SYM], seed=8, rate=200) as sim:
        sim.add_account(api_key)
        config = private_config(sim, api_key, seed, private_scope="all")
        async with running_feed(sim, [STD], [TRADES, L2_BOOK, ORDER_INFO], config=config) as (feed, rec):
            assert await wait_until(lambda: rec.items[TRADES] and rec.items[L2_BOOK])
            await wait_until(lambda: False, timeout=0.3)
            sim.place_order(api_key, SYM, "Bid", None, D("0.01"))
            assert await wait_until(lambda: rec.items[ORDER_INFO])
            assert feed.account_channels.subscribed == ["account.orderUpdate"]
            assert len(feed.connection_handlers) == 1
