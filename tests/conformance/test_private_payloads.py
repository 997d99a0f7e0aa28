"""Conformance: the real private payloads in ../shared/backpack/payloads (Backpack's docs examples and
ccxt's live samples), read in place, through wire/account.py. Without the ../shared checkout these
tests skip; tests/unit/test_private.py runs the same parsers on the project's own fixtures."""
from __future__ import annotations

import json
from decimal import Decimal

from cryptofeed.defines import BUY, FILLED, LONG, MARKET, OPEN, TAKER, TRIGGER_LIMIT

from cryptofeed_backpack.wire import account
from tests import payloads


def std(symbol: str) -> str:
    return symbol.replace("_", "-")


def parse_order(data, receipt_ts):
    msg, raw = account.decode_order_update(data)
    return account.order_info(msg, raw, std, receipt_ts), account.fill(msg, raw, std, receipt_ts)


def parse_position(data, receipt_ts):
    (position,) = [account.position(msg, raw, std, receipt_ts) for msg, raw in account.decode_position_updates(data)]
    return position


def _decimals(*values):
    for value in values:
        assert type(value) is Decimal, value


def test_docs_order_update_every_field():
    info, fill = parse_order(payloads.raw("docs-example__ws-orderUpdate__SOL_USD.json"), 9.0)
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


def test_ccxt_order_accepted_market_order_in_envelope():
    frame = payloads.raw("ccxt-comment__ws-orderAccepted__ETH_USDC.json")
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
    info, fill = parse_order(payloads.raw("ccxt-comment__ws-orderFill-data__ETH_USDC.json"), 9.0)
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


def test_ccxt_position_opened():
    pos = parse_position(payloads.raw("ccxt-comment__ws-positionOpened__ETH_USDC_PERP.json"), 9.0)
    assert pos.exchange == "BACKPACK" and pos.symbol == "ETH-USDC-PERP"
    assert pos.position == Decimal("0.0010") and pos.side == LONG
    assert pos.entry_price == Decimal("4236.36") and pos.unrealised_pnl == Decimal("-0.000473")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert type(pos.timestamp) is float and pos.timestamp == 1754943862.040486
    assert pos.raw["i"] == 5411399049 and pos.raw["M"] == "4235.88650933"


def test_docs_position_update_with_numeric_decimals():
    pos = parse_position(payloads.raw("docs-example__ws-positionUpdate__SOL_USDC_PERP.json"), 9.0)
    assert pos.symbol == "SOL-USDC-PERP"
    assert pos.position == Decimal("5") and pos.entry_price == Decimal("122") and pos.unrealised_pnl == Decimal("0")
    _decimals(pos.position, pos.entry_price, pos.unrealised_pnl)
    assert pos.side == LONG and pos.timestamp == 1694687692.98
    msg, _ = account.decode_position_updates(payloads.raw("docs-example__ws-positionUpdate__SOL_USDC_PERP.json"))[0]
    assert msg.imf == Decimal("0.5") and msg.position_id == "1111343026172067" and msg.realised_pnl == Decimal("-1")
