"""Third-party clients against the simulator: ccxt.pro (trades, order book), bpx-py and
backpack-exchange-sdk (signed REST). They are real users' tools: if they work here, the
simulator speaks the real protocol."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from cryptofeed_backpack import auth
from cryptofeed_backpack.simulator import BackpackSimulator

SEED = bytes(range(1, 33))
API_KEY = auth.b64(auth.public_key_from_seed(SEED))
SECRET = auth.b64(SEED)

ccxtpro = pytest.importorskip("ccxt.pro")


def ccxt_exchange(sim, **extra):
    ex = ccxtpro.backpack({"cafile": str(sim.ca_file), "enableRateLimit": False, **extra})
    ex.urls["api"] = {"public": sim.rest_url, "private": sim.rest_url,
                      "ws": {"public": sim.ws_url, "private": sim.ws_url}}
    return ex


@pytest.mark.slow
async def test_ccxt_pro_trades_and_order_book_match_the_simulator():
    async with BackpackSimulator(symbols=["BTC_USDC_PERP", "SOL_USDC"], seed=21, rate=400) as sim:
        ex = ccxt_exchange(sim)
        try:
            trades = await asyncio.wait_for(ex.watch_trades("SOL/USDC"), 20)
            assert trades and trades[0]["symbol"] == "SOL/USDC"
            ids = [int(t["id"]) for t in trades]
            assert ids == sorted(ids)
            ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDC:USDC"), 20)
            for _ in range(20):  # let ccxt bridge its snapshot and apply deltas
                ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDC:USDC"), 20)
            sim.pause()
            await sim.drain()
            await sim.step(1, symbol="BTC_USDC_PERP")
            target = sim.book("BTC_USDC_PERP")
            for _ in range(50):
                ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDC:USDC"), 20)
                if ob["nonce"] == target.last_update_id:
                    break
            assert ob["nonce"] == target.last_update_id
            assert {float(p): float(q) for p, q in ob["bids"]} == {float(p): float(q) for p, q in target.bids.items()}
            assert {float(p): float(q) for p, q in ob["asks"]} == {float(p): float(q) for p, q in target.asks.items()}
        finally:
            await ex.close()


@pytest.mark.slow
async def test_ccxt_pro_private_order_stream_and_balance():
    async with BackpackSimulator(symbols=["ETH_USDC_PERP"], seed=4, paused=True) as sim:
        sim.add_account(API_KEY)
        ex = ccxt_exchange(sim, apiKey=API_KEY, secret=SECRET)
        try:
            balance = await ex.fetch_balance()
            assert balance["USDC"]["free"] == 100000
            watcher = asyncio.ensure_future(ex.watch_orders("ETH/USDC:USDC"))
            await sim.wait_subscriptions(1)
            book = sim.book("ETH_USDC_PERP")
            order = sim.place_order(API_KEY, "ETH_USDC_PERP", "Bid", min(book.bids), "0.0100")
            orders = await asyncio.wait_for(watcher, 10)
            assert orders[0]["id"] == order.id and orders[0]["side"] == "buy"
            ex.secret = auth.b64(bytes(range(2, 34)))  # wrong key: the exchange must refuse
            with pytest.raises(Exception) as err:
                await ex.fetch_balance()
            assert "Invalid signature" in str(err.value)
        finally:
            await ex.close()


# bpx-py pins cryptography<44 and the newest ccxt needs cryptography>=50, so they cannot share an
# environment. bpx-py lives in its own virtualenv (`make venv-bpx`, part of `make venv`/`make test`) and
# runs in a subprocess against the simulator of this process, over loopback TLS like any other client.
BPX_PYTHON = Path(os.environ.get("BPX_PYTHON", Path(__file__).resolve().parents[2] / ".venv-bpx" / "bin" / "python"))
BPX_SCRIPT = """
import json, sys
from bpx.account import Account
api_key, secret, url = sys.argv[1:4]
account = Account(api_key, secret)
account.BPX_API_URL = url
print(json.dumps([account.get_balances(), account.get_open_orders(symbol="SOL_USDC"),
                  account.get_fill_history(symbol="SOL_USDC", limit=5)]))
"""


async def _bpx_calls(sim, secret):
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(sim.ca_file)}
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    proc = await asyncio.create_subprocess_exec(str(BPX_PYTHON), "-c", BPX_SCRIPT, API_KEY, secret, sim.rest_url + "/",
                                                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out)


@pytest.mark.skipif(not BPX_PYTHON.exists(), reason=f"bpx-py's own virtualenv is missing at {BPX_PYTHON}: run `make venv-bpx`")
async def test_bpx_py_signed_requests():
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=4, paused=True) as sim:
        sim.add_account(API_KEY)
        sim.place_order(API_KEY, "SOL_USDC", "Bid", "1.00", "2")
        balances, orders, fills = await _bpx_calls(sim, SECRET)
        assert balances["USDC"]["available"] == "100000"
        assert [o["price"] for o in orders] == ["1.00"]
        assert fills == []
        tampered = auth.b64(bytes(range(3, 35)))
        balances, _, _ = await _bpx_calls(sim, tampered)
        assert balances == {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid signature"}


def _sdk_calls(sim, secret):
    from backpack_exchange_sdk.authenticated import AuthenticationClient

    client = AuthenticationClient(API_KEY, secret, base_url=sim.rest_url + "/")
    return client.get_balances()


async def test_backpack_exchange_sdk_signed_requests(monkeypatch):
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=4, paused=True) as sim:
        sim.add_account(API_KEY)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_file))
        balances = await asyncio.to_thread(_sdk_calls, sim, SECRET)
        assert balances["USDC"]["available"] == "100000"
        with pytest.raises(Exception) as err:
            await asyncio.to_thread(_sdk_calls, sim, auth.b64(bytes(range(3, 35))))
        assert "Invalid signature" in str(err.value) or "400" in str(err.value)
