"""Conformance: the real Market objects in ../shared/backpack/payloads (ccxt's recording and
Backpack's Rust client fixtures), read in place, through the symbol service. Without the ../shared
checkout these tests skip; tests/unit/test_symbols.py runs on the project's own markets reply."""
from decimal import Decimal as D

from cryptofeed.defines import PERPETUAL, SPOT

from cryptofeed_backpack import symbols as svc
from tests import payloads


def test_real_markets_become_cryptofeed_symbols():
    mapping, info = svc.parse_markets(payloads.real_markets())
    assert mapping["ETH-USDC"] == "ETH_USDC"
    assert mapping["ETH-USDC-PERP"] == "ETH_USDC_PERP"
    assert mapping["ADA-USDC-PERP"] == "ADA_USDC_PERP"
    assert mapping["SOL-USDC-PERP"] == "SOL_USDC_PERP"
    # Backpack's own client records SPCX.US_USDC with visible: false (hidden from its listing): left out
    assert "SPCX.US-USDC" not in mapping and info["hidden"] == ["SPCX.US_USDC"]
    assert info["instrument_type"]["ETH-USDC"] == SPOT and info["instrument_type"]["ETH-USDC-PERP"] == PERPETUAL
    assert info["tick_size"]["ETH-USDC-PERP"] == D("0.01") and type(info["tick_size"]["ETH-USDC-PERP"]) is D
    assert info["step_size"]["ADA-USDC-PERP"] == D("1")
    # ccxt's recorder stringified fundingInterval; the wire sends an integer: both decode
    assert info["funding_interval_ms"]["SOL-USDC-PERP"] == 3600000
