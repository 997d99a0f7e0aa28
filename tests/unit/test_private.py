"""wire/account.py and wire/session.py: the account frames and replies in tests/fixtures, the status table, balances,
stream names, the subscribe frame and the auth-error explanation."""
from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest
from cryptofeed.defines import (
    BALANCES, BOTH, BUY, CANCELLED, EXPIRED, FAILED, FILLED, FILLS, L2_BOOK, LIMIT, LONG, MAKER, MARKET, OPEN,
    ORDER_INFO, PARTIAL, PENDING, POSITIONS, SELL, SHORT, TAKER, TRADES, TRIGGER_LIMIT, TRIGGER_MARKET,
)

from cryptofeed_backpack import auth
from cryptofeed_backpack.wire import account, session
from cryptofeed_backpack.errors import BackpackAuthError, BackpackProtocolError
from tests.fixtures import load, raw


def std(symbol: str) -> str:
    return symbol.replace("_", "-")


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

def test_order_update_with_every_documented_key():
    info, fill = parse_order(raw("ws_orderUpdate__expired_trigger_limit_every_key.json"), 9.0)
    assert fill is None  # orderExpired: only orderFill events give a Fill, even with t, l and L present
    assert info.exchange == "BACKPACK"
    assert info.symbol == "SUI-USDC-PERP"
    assert info.id == "9100000000012500"
    assert info.client_order_id == "4711"  # an integer on the wire, a str in cryptofeed
    assert info.side == BUY
    assert info.status == EXPIRED  # X = Expired
    assert info.type == TRIGGER_LIMIT  # o = LIMIT with trigger price P = 3.4150
    assert info.price == Decimal("3.4200") and info.amount == Decimal("300.0")
    assert info.remaining == Decimal("260.0")  # q - z = 300.0 - 40.0
    _decimals(info.price, info.amount, info.remaining)
    assert type(info.timestamp) is float and info.timestamp == 1796047515.0003  # E, µs -> s
    assert info.raw["N"] == "USDC" and info.raw["H"] == 5550001234


def test_order_update_struct_keeps_all_keys():
    msg, raw_event = account.decode_order_update(raw("ws_orderUpdate__expired_trigger_limit_every_key.json"))
    assert msg.trigger_price == Decimal("3.4150") and msg.trigger_by == "LastPrice"
    assert msg.take_profit_trigger_price == Decimal("3.6000") and msg.stop_loss_trigger_price == Decimal("3.3000")
    assert msg.take_profit_limit_price == Decimal("3.5990") and msg.stop_loss_limit_price == Decimal("3.2990")
    assert msg.take_profit_trigger_by == "MarkPrice" and msg.stop_loss_trigger_by == "IndexPrice"
    assert msg.trigger_quantity == "300.0" and msg.expiry_reason == "PRICE_BAND"
    assert msg.trade_id == 4455690 and msg.fill_quantity == Decimal("40.0") and msg.fill_price == Decimal("3.4200")
    assert msg.executed_quote_quantity == Decimal("136.8000") and msg.quote_quantity == Decimal("1026.0000")
    assert msg.maker is True and msg.fee == Decimal("0.027360") and msg.fee_symbol == "USDC"
    assert msg.self_trade_prevention == "RejectTaker" and msg.origin == "USER"
    assert msg.related_order_id == "9100000000012498" and msg.strategy_id == 5550001234 and msg.post_only is True
    assert msg.engine_time_us == 1796047515000111 and msg.event_time_us == 1796047515000300
    assert set(raw_event) == {"e", "E", "s", "c", "S", "o", "f", "q", "Q", "p", "P", "B", "a", "b", "j", "k", "d", "g", "Y",
                              "X", "R", "i", "t", "l", "z", "Z", "L", "m", "n", "N", "V", "T", "O", "I", "H", "y"}


def test_market_order_accepted_in_envelope():
    frame = raw("ws_orderUpdate__accepted_market_no_price.json")
    assert json.loads(frame)["stream"] == "account.orderUpdate.SUI_USDC"
    info, fill = parse_order(frame, 9.0)
    assert fill is None
    assert info.symbol == "SUI-USDC" and info.id == "9100000000012399" and info.client_order_id is None
    assert info.side == BUY and info.status == OPEN and info.type == MARKET
    assert info.price == Decimal(0)  # market orders carry no p
    assert info.amount == Decimal("120.0") and info.remaining == Decimal("120.0")
    _decimals(info.price, info.amount, info.remaining)
    assert info.timestamp == 1796047501.23395
    assert info.raw["t"] is None and info.raw["r"] is False


def test_order_fill_gives_order_info_and_fill():
    info, fill = parse_order(load("ws_orderUpdate__fill_market.json")["data"], 9.0)
    assert info.status == FILLED and info.remaining == Decimal("0.0")
    assert info.timestamp == 1796047501.234123
    assert fill is not None
    assert fill.exchange == "BACKPACK" and fill.symbol == "SUI-USDC"
    assert fill.side == BUY
    assert fill.amount == Decimal("120.0") and fill.price == Decimal("3.4250")
    assert fill.fee == Decimal("0.120")
    _decimals(fill.amount, fill.price, fill.fee)
    assert fill.raw["N"] == "SUI"  # fee currency lives in raw
    assert fill.id == "310246" and fill.order_id == "9100000000012399"
    assert fill.liquidity == TAKER and fill.type == MARKET
    assert fill.timestamp == 1796047501.234001  # T, the engine time of the match


def test_order_update_accepts_dict_envelope_struct_and_string_integers():
    data = load("ws_orderUpdate__fill_market.json")["data"]
    # ccxt's recordings carry E and T as strings; the wire sends numbers: both decode
    stringly = dict(data, E=str(data["E"]), T=str(data["T"]), m=True, S="Ask")
    info, fill = parse_order({"stream": "account.orderUpdate", "data": stringly}, 9.0)
    assert info.timestamp == 1796047501.234123 and info.side == SELL
    assert fill.liquidity == MAKER and fill.side == SELL and fill.timestamp == 1796047501.234001
    struct, _ = account.decode_order_update(msgspec.json.encode(stringly))
    info2, fill2 = parse_order(struct, 9.0)
    assert info2.id == info.id and fill2.price == fill.price
    info3, _ = parse_order(msgspec.Raw(msgspec.json.encode(stringly)), 9.0)
    assert info3.amount == Decimal("120.0")


def test_limit_order_lifecycle_from_the_fixtures():
    states = [parse_order(raw(f"ws_orderUpdate__{case}.json"), 9.0) for case in ("accepted_limit", "partial_fill_limit", "cancelled")]
    assert [info.status for info, _ in states] == [OPEN, PARTIAL, CANCELLED]
    assert [info.remaining for info, _ in states] == [Decimal("250.0"), Decimal("150.0"), Decimal("150.0")]
    assert [fill is None for _, fill in states] == [True, False, True]
    fill = states[1][1]
    assert (fill.id, fill.liquidity, fill.amount, fill.fee, fill.raw["N"]) == ("310245", MAKER, Decimal("100.0"),
                                                                             Decimal("0.034250"), "USDC")


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

def test_position_opened():
    pos = parse_position(raw("ws_positionUpdate__opened.json"), 9.0)
    assert pos.exchange == "BACKPACK" and pos.symbol == "SUI-USDC-PERP"
    assert pos.position == Decimal("500.0") and pos.side == LONG
    assert pos.entry_price == Decimal("3.4150") and pos.unrealised_pnl == Decimal("1.900000")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert type(pos.timestamp) is float and pos.timestamp == 1796047520.000456
    assert pos.raw["i"] == 7712345678 and pos.raw["M"] == "3.4188"


def test_position_update_with_numeric_decimals():
    pos = parse_position(raw("ws_positionUpdate__numeric_decimals.json"), 9.0)
    assert pos.symbol == "SUI-USDC-PERP"
    assert pos.position == Decimal("750") and pos.entry_price == Decimal("3.4155") and pos.unrealised_pnl == Decimal("2.625")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert pos.side == LONG and pos.timestamp == 1796047530.000789
    msg, _ = account.decode_position_updates(raw("ws_positionUpdate__numeric_decimals.json"))[0]
    # JSON numbers become the Decimal of their text, not of the binary float
    assert msg.imf == Decimal("0.02") and msg.mark_price == Decimal("3.419") and msg.net_exposure_notional == Decimal("2564.25")
    assert msg.position_id == "7712345678" and msg.realised_pnl == Decimal("0.42") and msg.liquidation_price is None


def test_initial_positions_message_without_event_type():
    short = load("ws_positionUpdate__snapshot.json")["data"]
    assert "e" not in short
    long = {k: v for k, v in load("ws_positionUpdate__opened.json")["data"].items() if k != "e"}
    positions = parse_positions({"stream": "account.positionUpdate", "data": [long, short]}, 9.0)
    assert [p.symbol for p in positions] == ["SUI-USDC-PERP", "AAPL.US-USDC-PERP"]
    assert [p.side for p in positions] == [LONG, SHORT]
    assert positions[1].position == Decimal("-2.000") and positions[1].entry_price == Decimal("230.10")
    single = parse_positions(raw("ws_positionUpdate__snapshot.json"), 9.0)
    assert len(single) == 1 and single[0].raw.get("e") is None and single[0].timestamp == 1796047500.0001


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


def test_parse_balances_of_our_capital_reply():
    by_asset = {b.currency: b for b in parse_balances(raw("rest_capital__balances.json"))}
    assert set(by_asset) == {"SUI", "USDC", "kPEPE"}  # the asset's case is kept
    sui, usdc, kpepe = by_asset["SUI"], by_asset["USDC"], by_asset["kPEPE"]
    assert (kpepe.balance, kpepe.reserved) == (Decimal("250000"), Decimal("250000"))  # all staked
    assert (sui.balance, sui.reserved) == (Decimal("1030.1"), Decimal("150.0"))
    assert (usdc.balance, usdc.reserved) == (Decimal("12845.25"), Decimal("345.0"))
    _decimals(sui.balance, sui.reserved, usdc.balance, kpepe.reserved)


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
