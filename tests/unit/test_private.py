"""wire/account.py and wire/session.py: the real private payloads in ../shared/backpack/payloads, the status table, balances,
stream names, the subscribe frame and the auth-error explanation."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from cryptofeed.defines import (
    BALANCES, BOTH, BUY, CANCELLED, EXPIRED, FAILED, FILLED, FILLS, L2_BOOK, LIMIT, LONG, MAKER, MARKET, OPEN,
    ORDER_INFO, PARTIAL, PENDING, POSITIONS, SELL, SHORT, TAKER, TRADES, TRIGGER_LIMIT, TRIGGER_MARKET,
)

from cryptofeed_backpack import auth
from cryptofeed_backpack.wire import account, session
from cryptofeed_backpack.errors import BackpackAuthError, BackpackProtocolError

PAYLOADS = Path(__file__).resolve().parents[2].parent / "shared" / "backpack" / "payloads"


def std(symbol: str) -> str:
    return symbol.replace("_", "-")


def payload(name: str) -> bytes:
    path = PAYLOADS / name
    if not path.is_file():
        pytest.skip(f"real payload {name} not found in {PAYLOADS} (the ../shared checkout is absent)")
    return path.read_bytes()


def parse_order(data, receipt_ts):
    """(OrderInfo, Fill or None) of one order event given as bytes, dict, envelope or Struct."""
    msg, raw = (data, None) if isinstance(data, account.OrderUpdateMsg) else account.decode_order_update(data)
    return account.order_info(msg, raw, std, receipt_ts), account.fill(msg, raw, std, receipt_ts)


def parse_positions(data, receipt_ts):
    return [account.position(msg, raw, std, receipt_ts) for msg, raw in account.decode_position_updates(data)]


def parse_position(data, receipt_ts):
    (position,) = parse_positions(data, receipt_ts)
    return position


def parse_balances(data):
    return account.balances(account.capital(data))


def _decimals(*values):
    for value in values:
        assert type(value) is Decimal, value


# ---- orders ------------------------------------------------------------------------------------

def test_docs_order_update_every_field():
    info, fill = parse_order(payload("docs-example__ws-orderUpdate__SOL_USD.json"), 9.0)
    assert fill is None  # orderAccepted
    assert info.exchange == "BACKPACK"
    assert info.symbol == "SOL-USD"
    assert info.id == "1111343026172067"
    assert info.client_order_id == "123"  # an integer on the wire, a str in cryptofeed
    assert info.side == BUY
    assert info.status == OPEN  # X = New
    assert info.type == TRIGGER_LIMIT  # o = LIMIT with trigger price P = 21
    assert info.price == Decimal("20") and info.amount == Decimal("32123")
    assert info.remaining == Decimal("31802")  # q - z = 32123 - 321
    _decimals(info.price, info.amount, info.remaining)
    assert type(info.timestamp) is float and info.timestamp == 1694687692.98  # E, µs -> s
    assert info.raw["N"] == "USD" and info.raw["H"] == 6023471188


def test_docs_order_update_struct_keeps_all_keys():
    msg, raw = account.decode_order_update(payload("docs-example__ws-orderUpdate__SOL_USD.json"))
    assert msg.trigger_price == Decimal("21") and msg.trigger_by == "LastPrice"
    assert msg.take_profit_trigger_price == Decimal("30") and msg.stop_loss_trigger_price == Decimal("10")
    assert msg.take_profit_limit_price == Decimal("30") and msg.stop_loss_limit_price == Decimal("10")
    assert msg.take_profit_trigger_by == "MarkPrice" and msg.stop_loss_trigger_by == "IndexPrice"
    assert msg.trigger_quantity == "10" and msg.expiry_reason == "PRICE_BAND"
    assert msg.trade_id == 567 and msg.fill_quantity == Decimal("1.23") and msg.fill_price == Decimal("20")
    assert msg.executed_quote_quantity == Decimal("123") and msg.quote_quantity == Decimal("32123")
    assert msg.maker is True and msg.fee == Decimal("23") and msg.fee_symbol == "USD"
    assert msg.self_trade_prevention == "RejectTaker" and msg.origin == "USER"
    assert msg.related_order_id == "1111343026156135" and msg.strategy_id == 6023471188 and msg.post_only is True
    assert msg.engine_time_us == 1694687692989999 and msg.event_time_us == 1694687692980000
    assert set(raw) == {"e", "E", "s", "c", "S", "o", "f", "q", "Q", "p", "P", "B", "a", "b", "j", "k", "d", "g", "Y",
                        "X", "R", "i", "t", "l", "z", "Z", "L", "m", "n", "N", "V", "T", "O", "I", "H", "y"}


def test_ccxt_order_accepted_market_order_in_envelope():
    frame = payload("ccxt-comment__ws-orderAccepted__ETH_USDC.json")
    assert json.loads(frame)["stream"] == "account.orderUpdate.ETH_USDC"
    info, fill = parse_order(frame, 9.0)
    assert fill is None
    assert info.symbol == "ETH-USDC" and info.id == "5406825793" and info.client_order_id is None
    assert info.side == BUY and info.status == OPEN and info.type == MARKET
    assert info.price == Decimal(0)  # market orders carry no p
    assert info.amount == Decimal("0.0010") and info.remaining == Decimal("0.0010")
    _decimals(info.price, info.amount, info.remaining)
    assert info.timestamp == 1754939110.175843  # E given as a string by ccxt
    assert info.raw["t"] is None and info.raw["r"] is False


def test_ccxt_order_fill_gives_order_info_and_fill():
    info, fill = parse_order(payload("ccxt-comment__ws-orderFill-data__ETH_USDC.json"), 9.0)
    assert info.status == FILLED and info.remaining == Decimal("0.0000")
    assert info.timestamp == 1754939110.175879
    assert fill is not None
    assert fill.exchange == "BACKPACK" and fill.symbol == "ETH-USDC"
    assert fill.side == BUY
    assert fill.amount == Decimal("0.0010") and fill.price == Decimal("4299.16")
    assert fill.fee == Decimal("0.000001")
    _decimals(fill.amount, fill.price, fill.fee)
    assert fill.raw["N"] == "ETH"  # fee currency lives in raw
    assert fill.id == "2888471" and fill.order_id == "5406825793"
    assert fill.liquidity == TAKER and fill.type == MARKET
    assert fill.timestamp == 1754939110.174705  # T, the engine time of the match


def test_order_update_accepts_dict_envelope_struct_and_numbers():
    data = json.loads(payload("ccxt-comment__ws-orderFill-data__ETH_USDC.json"))
    numeric = dict(data, E=int(data["E"]), T=int(data["T"]), m=True, S="Ask")
    info, fill = parse_order({"stream": "account.orderUpdate", "data": numeric}, 9.0)
    assert info.timestamp == 1754939110.175879 and info.side == SELL
    assert fill.liquidity == MAKER and fill.side == SELL
    struct, _ = account.decode_order_update(msgspec.json.encode(numeric))
    info2, fill2 = parse_order(struct, 9.0)
    assert info2.id == info.id and fill2.price == fill.price
    info3, _ = parse_order(msgspec.Raw(msgspec.json.encode(numeric)), 9.0)
    assert info3.amount == Decimal("0.0010")


def test_partial_fill_then_cancel_sequence():
    base = {"s": "SOL_USDC", "i": "42", "S": "Ask", "o": "LIMIT", "q": "2", "p": "150.5", "E": 1_000_000, "T": 999_000}
    partial, fill = parse_order(
        dict(base, e="orderFill", X="PartiallyFilled", z="0.5", l="0.5", L="150.5", t=7, m=True, n="0.01", N="USDC"),
        9.0)
    assert partial.status == PARTIAL and partial.remaining == Decimal("1.5") and partial.type == LIMIT
    assert fill.timestamp == 0.999 and partial.timestamp == 1.0 and fill.liquidity == MAKER
    cancelled, none = parse_order(dict(base, e="orderCancelled", X="Cancelled", z="0.5"), 9.0)
    assert cancelled.status == CANCELLED and cancelled.remaining == Decimal("1.5") and none is None


def test_missing_times_fall_back_to_receipt():
    info, _ = parse_order({"s": "SOL_USDC", "i": 1, "e": "orderAccepted"}, 123.5)
    assert info.timestamp == 123.5 and info.id == "1" and info.remaining is None and info.amount == Decimal(0)


def test_order_without_id_or_symbol_is_a_protocol_error():
    with pytest.raises(BackpackProtocolError, match="OrderUpdateMsg"):
        parse_order({"e": "orderAccepted", "s": "SOL_USDC"}, 1.0)
    with pytest.raises(BackpackProtocolError, match="not JSON"):
        parse_order(b"{nope", 1.0)


# ---- the status table --------------------------------------------------------------------------

@pytest.mark.parametrize("state, status", [
    ("New", OPEN), ("PartiallyFilled", PARTIAL), ("Filled", FILLED), ("Cancelled", CANCELLED),
    ("Expired", EXPIRED), ("TriggerPending", PENDING), ("Triggered", OPEN), ("TriggerFailed", FAILED),
])
def test_state_table(state, status):
    assert account.ORDER_STATE_TO_STATUS[state] == status
    assert account.order_status("orderAccepted", state) == status  # X wins over the event


@pytest.mark.parametrize("event, status", [
    ("orderAccepted", OPEN), ("orderModified", OPEN), ("orderCancelled", CANCELLED), ("orderExpired", EXPIRED),
    ("triggerPlaced", PENDING), ("triggerFailed", FAILED),
])
def test_event_fallback_when_state_missing_or_unknown(event, status):
    assert account.order_status(event, None) == status
    assert account.order_status(event, "SomeFutureState") == status


def test_fill_event_fallback_uses_executed_quantity():
    assert account.order_status("orderFill", None, Decimal("2"), Decimal("2")) == FILLED
    assert account.order_status("orderFill", None, Decimal("2"), Decimal("0.5")) == PARTIAL
    assert account.order_status("someFutureEvent", "SomeFutureState") == "somefuturestate"


def test_every_documented_event_and_state_is_covered():
    assert set(account.ORDER_STATE_TO_STATUS) == {"New", "PartiallyFilled", "Filled", "Cancelled", "Expired",
                                                  "TriggerPending", "Triggered", "TriggerFailed"}
    assert set(account.ORDER_EVENT_TO_STATUS) | {"orderFill"} == account.ORDER_EVENTS


@pytest.mark.parametrize("wire, trigger, kind", [
    ("LIMIT", None, LIMIT), ("Limit", None, LIMIT), ("MARKET", None, MARKET),
    ("LIMIT", Decimal(1), TRIGGER_LIMIT), ("MARKET", Decimal(1), TRIGGER_MARKET), (None, None, "unknown"),
])
def test_order_type_table(wire, trigger, kind):
    assert account.order_type(wire, trigger) == kind


# ---- positions --------------------------------------------------------------------------------

def test_ccxt_position_opened():
    pos = parse_position(payload("ccxt-comment__ws-positionOpened__ETH_USDC_PERP.json"), 9.0)
    assert pos.exchange == "BACKPACK" and pos.symbol == "ETH-USDC-PERP"
    assert pos.position == Decimal("0.0010") and pos.side == LONG
    assert pos.entry_price == Decimal("4236.36") and pos.unrealised_pnl == Decimal("-0.000473")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert type(pos.timestamp) is float and pos.timestamp == 1754943862.040486
    assert pos.raw["i"] == 5411399049 and pos.raw["M"] == "4235.88650933"


def test_docs_position_update_with_numeric_decimals():
    pos = parse_position(payload("docs-example__ws-positionUpdate__SOL_USDC_PERP.json"), 9.0)
    assert pos.symbol == "SOL-USDC-PERP"
    assert pos.position == Decimal("5") and pos.entry_price == Decimal("122") and pos.unrealised_pnl == Decimal("0")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert pos.side == LONG and pos.timestamp == 1694687692.98
    msg, _ = account.decode_position_updates(payload("docs-example__ws-positionUpdate__SOL_USDC_PERP.json"))[0]
    assert msg.imf == Decimal("0.5") and msg.position_id == "1111343026172067" and msg.realised_pnl == Decimal("-1")


def test_initial_positions_message_without_event_type():
    data = json.loads(payload("ccxt-comment__ws-positionOpened__ETH_USDC_PERP.json"))["data"]
    snapshot = {k: v for k, v in data.items() if k != "e"}
    short = dict(snapshot, s="SOL_USDC_PERP", q="-3", Q="3", B="150")
    positions = parse_positions({"stream": "account.positionUpdate", "data": [snapshot, short]}, 9.0)
    assert [p.symbol for p in positions] == ["ETH-USDC-PERP", "SOL-USDC-PERP"]
    assert [p.side for p in positions] == [LONG, SHORT]
    assert positions[1].position == Decimal("-3")
    single = parse_positions(msgspec.json.encode(snapshot), 9.0)
    assert len(single) == 1 and single[0].raw.get("e") is None


def test_closed_position_is_flat():
    pos = parse_position({"e": "positionClosed", "s": "SOL_USDC_PERP", "q": "0", "T": 2_000_000}, 9.0)
    assert pos.side == BOTH and pos.position == Decimal(0) and pos.entry_price == Decimal(0) and pos.timestamp == 2.0


# ---- balances ---------------------------------------------------------------------------------

def test_parse_balances_capital_shape():
    reply = {"USDC": {"available": "120", "locked": "5.5", "staked": "0"},
             "SOL": {"available": "1.25", "locked": "0", "staked": "2"}}
    balances = parse_balances(reply)
    assert [b.currency for b in balances] == ["SOL", "USDC"]
    sol, usdc = balances
    assert usdc.balance == Decimal("125.5") and usdc.reserved == Decimal("5.5")
    assert sol.balance == Decimal("3.25") and sol.reserved == Decimal("2")
    _decimals(sol.balance, sol.reserved, usdc.balance, usdc.reserved)
    assert usdc.raw == {"available": "120", "locked": "5.5", "staked": "0"}
    assert parse_balances(json.dumps(reply).encode())[1].balance == Decimal("125.5")
    assert parse_balances({}) == []


def test_parse_balances_rejects_other_shapes():
    with pytest.raises(BackpackProtocolError, match="keyed by asset"):
        parse_balances([{"symbol": "USDC"}])
    with pytest.raises(BackpackProtocolError, match=r"capital\[USDC\]"):
        parse_balances({"USDC": {"locked": "1"}})


# ---- streams and the subscribe frame ------------------------------------------------------

def test_private_stream_names():
    assert session.private_stream_names([ORDER_INFO]) == ["account.orderUpdate"]
    assert session.private_stream_names([FILLS, ORDER_INFO, POSITIONS]) == ["account.orderUpdate", "account.positionUpdate"]
    assert session.private_stream_names([ORDER_INFO, FILLS, POSITIONS], ["SOL_USDC_PERP", "AAPL.US_USDC_PERP"]) == [
        "account.orderUpdate.SOL_USDC_PERP", "account.orderUpdate.AAPL.US_USDC_PERP",
        "account.positionUpdate.SOL_USDC_PERP", "account.positionUpdate.AAPL.US_USDC_PERP",
    ]
    assert session.private_stream_names([TRADES, L2_BOOK, BALANCES], ["SOL_USDC"]) == []


def test_subscribe_message_is_golden_text():
    seed = bytes(range(1, 33))
    sig = auth.ws_signature(auth.b64(auth.public_key_from_seed(seed)), seed, timestamp_ms=1700000000000)
    text = session.subscribe_frame(["account.orderUpdate"], signature=sig)
    assert isinstance(text, str)
    assert text == ('{"method":"SUBSCRIBE","params":["account.orderUpdate"],"signature":['
                    '"ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",'
                    '"qYObWEJ/qkxAAHMEK/xzkZFUSR1Jk4ee5KLJO+o1QyNFW2JS6Zy87vmr7m2UCH48q5LsojwfHIaXGeexEBF4BA==",'
                    '"1700000000000","5000"]}')
    unsub = json.loads(session.subscribe_frame(["account.positionUpdate"], "UNSUBSCRIBE", signature=sig))
    assert unsub["method"] == "UNSUBSCRIBE" and unsub["params"] == ["account.positionUpdate"]
    with pytest.raises(ValueError, match="four|timestamp"):
        session.subscribe_frame(["account.orderUpdate"], signature=sig[:3])


# ---- rejected private subscriptions ----------------------------------------------------------

@pytest.mark.parametrize("code, message, cause_word", [
    (None, "Request has expired", "clock"),
    (4000, "Invalid timestamp: outside of the recvWindow", "clock"),
    ("TOO_EARLY", "Too early", "clock"),
    (4003, "Invalid signature", "signature"),
    ("INVALID_SIGNATURE", "", "signature"),
    ("INVALID_CLIENT_REQUEST", "Invalid X-Signature header", "signature"),
    ("UNAUTHORIZED", "Unauthorized", "API key"),
    (4001, "Invalid API key", "API key"),
])
def test_explain_ws_error_auth_causes(code, message, cause_word):
    err = session.explain_ws_error(code, message)
    assert isinstance(err, BackpackAuthError)
    assert cause_word in err.cause and err.fix
    assert "auth-check" in err.fix or "api_key" in err.fix


@pytest.mark.parametrize("code, message", [(4002, "Parse error"), (4006, "Invalid stream"), (4008, "Invalid depth window")])
def test_explain_ws_error_ignores_non_auth_errors(code, message):
    assert session.explain_ws_error(code, message) is None


def test_missing_credentials_error():
    err = session.explain_ws_error("UNAUTHORIZED", "Missing authentication headers")
    assert "no (or incomplete) credentials" in err.cause and "enable_private_channels" in err.fix


def test_clock_error_mentions_window_limit():
    err = session.explain_ws_error(None, "Request has expired")
    assert "window_ms" in err.fix and "60000" in err.fix
