"""WebSocket session: no acknowledgement, error frames, silence, payload shapes, dotted symbols."""
from __future__ import annotations

from datetime import datetime, timezone

from cryptofeed_backpack.simulator import BackpackSimulator

from .conftest import payload


async def test_subscribe_has_no_ack_and_unknown_symbols_are_silent(paused_sim, connect):
    c = await connect(paused_sim)
    await c.subscribe("depth.NOPE_USDC_PERP", "trade.FTT_USDC", "depth.5.X", id=7)
    assert await c.quiet(0.5) == []  # no ack, no error, no data
    await c.subscribe("depth.SOL_USDC")
    assert await c.quiet(0.3) == []  # still nothing: the engine is paused
    await paused_sim.step(5, symbol="SOL_USDC")
    frame = await c.recv()
    assert frame["stream"] == "depth.SOL_USDC" and "id" not in frame


async def test_error_frames(paused_sim, connect):
    c = await connect(paused_sim)
    await c.send("not json")
    assert await c.recv() == {"id": None, "error": {"code": 4002, "message": "Parse error"}}
    await c.send({"method": "LIST_SUBSCRIPTIONS", "params": []})
    assert await c.recv() == {"id": None, "error": {"code": 4002, "message": "Parse error"}}
    await c.send({"op": "ping"})
    assert (await c.recv())["error"]["code"] == 4002
    await c.subscribe("trades.SOL_USDC")
    assert await c.recv() == payload("ccxt-comment__ws-error-4006.json")
    await c.subscribe("depth.100ms.SOL_USDC")
    assert await c.recv() == {"id": None, "error": {"code": 4008, "message": "Invalid depth window"}}
    # the socket stays open after errors
    await c.subscribe("depth.SOL_USDC")
    await paused_sim.wait_subscriptions(1)
    await paused_sim.step(3, symbol="SOL_USDC")
    assert (await c.recv())["stream"] == "depth.SOL_USDC"


def _shape(frame: dict, ref: dict) -> None:
    data = frame["data"]
    ref = ref.get("data", ref)
    assert set(data) == set(ref), (frame["stream"], set(data) ^ set(ref))
    int_keys = {"E", "U", "u", "n"} | ({"T", "t"} if data["e"] != "kline" else set())
    for key in int_keys & set(data):
        assert isinstance(data[key], int) and not isinstance(data[key], bool), (data["e"], key)


async def test_public_payload_shapes():
    async with BackpackSimulator(symbols=["ETH_USDC_PERP", "SOL_USDC"], seed=2, rate=400,
                                 open_interest_interval=0.5) as sim:
        import websockets, json, asyncio
        ws = await websockets.connect(sim.ws_url, ssl=sim.ssl_context(), proxy=None)
        streams = ["trade.ETH_USDC_PERP", "depth.ETH_USDC_PERP", "bookTicker.ETH_USDC_PERP", "ticker.SOL_USDC",
                   "kline.1m.ETH_USDC_PERP", "markPrice.ETH_USDC_PERP", "markPrice.SOL_USDC",
                   "openInterest.ETH_USDC_PERP", "depth.200ms.ETH_USDC_PERP"]
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams}))
        seen = {}
        while len(seen) < len(streams):
            raw = await asyncio.wait_for(ws.recv(), 10)
            frame = json.loads(raw)
            seen.setdefault(frame["stream"], frame)
        await ws.close()
    _shape(seen["trade.ETH_USDC_PERP"], payload("ccxt-comment__ws-trade__ETH_USDC_PERP.json"))
    _shape(seen["depth.ETH_USDC_PERP"], payload("ccxt-comment__ws-depth-empty__ETH_USDC.json"))
    _shape(seen["depth.200ms.ETH_USDC_PERP"], payload("docs-example__ws-depth__SOL_USDC.json"))
    _shape(seen["bookTicker.ETH_USDC_PERP"], payload("ccxt-comment__ws-bookTicker__ETH_USDC.json"))
    _shape(seen["ticker.SOL_USDC"], payload("ccxt-comment__ws-ticker-data__ETH_USDC.json"))
    _shape(seen["kline.1m.ETH_USDC_PERP"], payload("ccxt-comment__ws-kline-2h__ETH_USDC.json"))
    _shape(seen["markPrice.ETH_USDC_PERP"], payload("bpx-api-client-test__ws-markPrice-data__SOL_USDC_PERP.json"))
    _shape(seen["openInterest.ETH_USDC_PERP"], payload("docs-example__ws-openInterest__SOL_USDC_PERP.json"))
    spot_mark = seen["markPrice.SOL_USDC"]["data"]
    assert set(spot_mark) == {"E", "T", "e", "p", "s"}
    kline = seen["kline.1m.ETH_USDC_PERP"]["data"]
    # The first frame may be the closing one (X true) when the run crosses a minute boundary.
    assert kline["t"].count("T") == 1 and isinstance(kline["X"], bool)
    start, end = (datetime.fromisoformat(kline[k]).replace(tzinfo=timezone.utc) for k in ("t", "T"))
    assert (end - start).total_seconds() == 60  # T = start + interval, ISO strings in UTC
    event_time = datetime.fromtimestamp(kline["E"] / 1e6, tz=timezone.utc)
    assert start <= event_time and (kline["X"] or event_time < end)
    trade = seen["trade.ETH_USDC_PERP"]["data"]
    assert trade["p"].count(".") == 1 and len(trade["p"].split(".")[1]) == 2  # padded to the 0.01 tick
    assert len(trade["q"].split(".")[1]) == 4  # padded to the 0.0001 step
    assert seen["depth.200ms.ETH_USDC_PERP"]["data"]["U"] <= seen["depth.200ms.ETH_USDC_PERP"]["data"]["u"]


async def test_dotted_and_lowercase_symbols_and_liquidation_names(paused_sim, connect):
    c = await connect(paused_sim)
    await c.subscribe("depth.AAPL.US_USDC_PERP", "trade.kPEPE_USDC_PERP", "liquidation", "liquidation.kPEPE_USDC_PERP")
    await paused_sim.wait_subscriptions(4)
    await paused_sim.step(2, symbol="AAPL.US_USDC_PERP")
    frame = await c.recv()
    assert frame["stream"] == "depth.AAPL.US_USDC_PERP" and frame["data"]["s"] == "AAPL.US_USDC_PERP"
    liquidations = []
    for _ in range(40):
        await paused_sim.step(50, symbol="kPEPE_USDC_PERP")
        liquidations += [f for f in await c.quiet(0.05) if f["stream"].startswith("liquidation")]
        if {f["stream"] for f in liquidations} == {"liquidation", "liquidation.kPEPE_USDC_PERP"}:
            break
    names = {f["stream"] for f in liquidations}
    assert names == {"liquidation", "liquidation.kPEPE_USDC_PERP"}
    assert set(liquidations[0]["data"]) == set(payload("docs-example__ws-liquidation__SOL_USDC.json"))


async def test_unsubscribe_stops_data(paused_sim, connect):
    c = await connect(paused_sim)
    await c.subscribe("depth.SOL_USDC")
    await paused_sim.wait_subscriptions(1)
    await paused_sim.step(2, symbol="SOL_USDC")
    assert (await c.recv())["stream"] == "depth.SOL_USDC"
    await c.quiet(0.2)
    await c.send({"method": "UNSUBSCRIBE", "params": ["depth.SOL_USDC"]})
    await c.quiet(0.2)
    await paused_sim.step(5, symbol="SOL_USDC")
    assert await c.quiet(0.3) == []
    assert paused_sim.stats.subscriptions == 0
