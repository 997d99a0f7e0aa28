"""Signed REST and private streams: verification, order/position events in the recorded shapes."""
from __future__ import annotations

import time

from cryptofeed_backpack import auth

from .conftest import payload

SEED = bytes(range(1, 33))
API_KEY = auth.b64(auth.public_key_from_seed(SEED))
OTHER_SEED = bytes(range(101, 133))
OTHER_KEY = auth.b64(auth.public_key_from_seed(OTHER_SEED))


async def signed_get(http, sim, path, instruction, params=None, *, seed=SEED, key=API_KEY, ts=None, tamper=False):
    headers = auth.rest_headers(key, seed, instruction, params or {}, timestamp_ms=ts)
    if tamper:
        sig = headers["X-Signature"]
        headers["X-Signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    async with http.get(sim.rest_url + path, params=params, headers=headers, ssl=sim.ssl_context()) as r:
        return r.status, await r.json(content_type=None)


async def test_signed_rest_accepted_and_rejected(paused_sim, http):
    paused_sim.add_account(API_KEY)
    status, body = await signed_get(http, paused_sim, "/api/v1/capital", "balanceQuery")
    assert status == 200 and body["USDC"] == {"available": "100000", "locked": "0", "staked": "0"}
    status, body = await signed_get(http, paused_sim, "/api/v1/capital", "balanceQuery", tamper=True)
    assert (status, body) == (400, {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid signature"})
    status, body = await signed_get(http, paused_sim, "/api/v1/capital", "balanceQuery", seed=OTHER_SEED, key=OTHER_KEY)
    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    status, body = await signed_get(http, paused_sim, "/api/v1/capital", "balanceQuery", ts=int(time.time() * 1000) - 60_000)
    assert (status, body) == (400, {"code": "INVALID_CLIENT_REQUEST", "message": "Request has expired"})
    # the wrong instruction for the endpoint is a bad signature
    status, body = await signed_get(http, paused_sim, "/api/v1/capital", "positionQuery")
    assert status == 400 and body["message"] == "Invalid signature"
    async with http.get(paused_sim.rest_url + "/api/v1/capital", ssl=paused_sim.ssl_context()) as r:
        assert r.status == 401


async def test_orders_fills_positions_over_rest(paused_sim, http):
    paused_sim.add_account(API_KEY)
    m = paused_sim.markets["BTC_USDC_PERP"]
    ask = paused_sim.book("BTC_USDC_PERP")
    best_ask = min(ask.asks)
    paused_sim.place_order(API_KEY, "BTC_USDC_PERP", "Bid", best_ask, "0.001")  # marketable: fills now
    resting = paused_sim.place_order(API_KEY, "BTC_USDC_PERP", "Bid", m.spec.price_dec(m.best_bid - 500), "0.002", client_id=42)
    status, orders = await signed_get(http, paused_sim, "/api/v1/orders", "orderQueryAll", {"symbol": "BTC_USDC_PERP"})
    assert status == 200 and [o["id"] for o in orders] == [resting.id]
    assert orders[0]["clientId"] == 42 and orders[0]["status"] == "New" and orders[0]["side"] == "Bid"
    status, positions = await signed_get(http, paused_sim, "/api/v1/position", "positionQuery")
    assert status == 200 and positions[0]["symbol"] == "BTC_USDC_PERP" and positions[0]["netQuantity"] == "0.00100"
    status, fills = await signed_get(http, paused_sim, "/wapi/v1/history/fills", "fillHistoryQueryAll", {"limit": "10"})
    assert status == 200 and fills and fills[0]["side"] == "Bid" and fills[0]["isMaker"] is False
    assert {"orderId", "tradeId", "price", "quantity", "fee", "feeSymbol", "timestamp", "symbol"} <= set(fills[0])
    assert paused_sim.cancel_order(API_KEY, "BTC_USDC_PERP", resting.id)
    status, orders = await signed_get(http, paused_sim, "/api/v1/orders", "orderQueryAll")
    assert orders == []


async def private_client(sim, connect, streams, signature):
    c = await connect(sim)
    await c.subscribe(*streams, signature=signature)
    return c


async def test_private_subscription_rejections(paused_sim, connect):
    paused_sim.add_account(API_KEY)
    bad = auth.ws_signature(API_KEY, SEED)
    bad[1] = ("A" if bad[1][0] != "A" else "B") + bad[1][1:]
    for signature in (
        bad,
        auth.ws_signature(OTHER_KEY, OTHER_SEED),  # a key the exchange does not know
        auth.ws_signature(API_KEY, SEED, timestamp_ms=int(time.time() * 1000) - 30_000),  # expired
        auth.ws_signature(API_KEY, OTHER_SEED),  # signed with the wrong private key
        None,
    ):
        c = await connect(paused_sim)
        msg = {"method": "SUBSCRIBE", "params": ["account.orderUpdate"]}
        if signature is not None:
            msg["signature"] = signature
        await c.send(msg)
        frame = await c.recv()
        assert frame["id"] is None and frame["error"]["message"] == "Invalid signature"
    assert paused_sim.stats.subscriptions == 0


async def test_order_and_position_events(paused_sim, connect):
    paused_sim.add_account(API_KEY)
    sym = "BTC_USDC_PERP"
    c = await private_client(paused_sim, connect, ["account.orderUpdate", f"account.positionUpdate.{sym}"],
                             auth.ws_signature(API_KEY, SEED))
    await paused_sim.wait_subscriptions(2)
    book = paused_sim.book(sym)
    order = paused_sim.place_order(API_KEY, sym, "Bid", min(book.asks), "0.0001", client_id=7)
    frames = await c.quiet(0.3)
    events = [f["data"]["e"] for f in frames]
    assert events[:2] == ["orderAccepted", "orderFill"] and "positionOpened" in events
    accepted, fill = frames[0], frames[1]
    assert accepted["stream"] == "account.orderUpdate"
    ref_acc = payload("ccxt-comment__ws-orderAccepted__ETH_USDC.json")["data"]
    ref_doc = payload("docs-example__ws-orderUpdate__SOL_USD.json")
    assert set(accepted["data"]) <= set(ref_acc) | set(ref_doc)
    assert set(ref_acc) - {"Q"} <= set(accepted["data"])  # Q is the quote size of market orders
    assert accepted["data"]["i"] == order.id and accepted["data"]["c"] == 7 and accepted["data"]["X"] == "New"
    ref_fill = payload("ccxt-comment__ws-orderFill-data__ETH_USDC.json")
    assert set(ref_fill) - {"Q"} <= set(fill["data"]) <= set(ref_fill) | set(ref_doc)
    assert fill["data"]["X"] == "Filled" and isinstance(fill["data"]["t"], int) and fill["data"]["m"] is False
    opened = next(f for f in frames if f["data"]["e"] == "positionOpened")
    assert opened["stream"] == f"account.positionUpdate.{sym}"
    assert set(opened["data"]) == set(payload("ccxt-comment__ws-positionOpened__ETH_USDC_PERP.json")["data"])
    assert opened["data"]["q"] == "0.00010"  # padded to the step, like the live sample
    # a resting order fills when the engine trades through it, then cancel of the filled order fails
    top = paused_sim.book(sym)
    rest = paused_sim.place_order(API_KEY, sym, "Ask", max(top.bids) + paused_sim.markets[sym].spec.price_dec(1), "0.0001")
    for _ in range(200):
        await paused_sim.step(5, symbol=sym)
        if rest.status == "Filled":
            break
    assert rest.status == "Filled"
    frames = await c.quiet(0.3)
    fills = [f["data"] for f in frames if f["data"].get("e") == "orderFill" and f["data"]["i"] == rest.id]
    assert fills and fills[-1]["m"] is True and fills[-1]["z"] == "0.00010"
    assert "positionClosed" in [f["data"].get("e") for f in frames]
    assert not paused_sim.cancel_order(API_KEY, sym, rest.id)


async def test_position_snapshot_on_subscribe_has_no_event_type(paused_sim, connect):
    paused_sim.add_account(API_KEY)
    sym = "AAPL.US_USDC_PERP"
    paused_sim.place_order(API_KEY, sym, "Ask", min(paused_sim.book(sym).bids), "0.010")
    c = await private_client(paused_sim, connect, ["account.positionUpdate"], auth.ws_signature(API_KEY, SEED))
    frame = await c.recv()
    assert frame["stream"] == "account.positionUpdate" and "e" not in frame["data"]
    assert frame["data"]["s"] == sym and frame["data"]["q"] == "-0.010"
    cancel_c = await private_client(paused_sim, connect, ["account.orderUpdate." + sym], auth.ws_signature(API_KEY, SEED))
    await paused_sim.wait_subscriptions(2)
    o = paused_sim.place_order(API_KEY, sym, "Bid", "1.00", "1")
    assert paused_sim.cancel_order(API_KEY, sym, o.id)
    events = [f["data"]["e"] for f in await cancel_c.quiet(0.3)]
    assert events == ["orderAccepted", "orderCancelled"]
