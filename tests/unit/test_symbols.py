from decimal import Decimal as D

import pytest
from cryptofeed.defines import PERPETUAL, SPOT
from cryptofeed.symbols import Symbols, str_to_symbol

from cryptofeed_backpack import symbols as svc
from cryptofeed_backpack.config import BackpackConfig
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


def test_case_and_dots_round_trip():
    spot, perp = payloads.real_markets()[:2]
    mapping, _ = svc.parse_markets([payloads.market_like(perp, "kPEPE_USDC_PERP", "kPEPE"),
                                    payloads.market_like(perp, "AAPL.US_USDC_PERP", "AAPL.US")])
    assert mapping == {"kPEPE-USDC-PERP": "kPEPE_USDC_PERP", "AAPL.US-USDC-PERP": "AAPL.US_USDC_PERP"}
    sym = str_to_symbol("AAPL.US-USDC-PERP")
    assert (sym.base, sym.quote, sym.type) == ("AAPL.US", "USDC", PERPETUAL)
    assert str_to_symbol("kPEPE-USDC-PERP").base == "kPEPE"


@pytest.mark.parametrize("market_type", ["IPERP", "DATED", "PREDICTION", "RFQ", "MONAD", "SOMETHING_NEW"])
def test_other_market_types_never_crash_and_are_listed(market_type):
    spot = payloads.real_markets()[0]
    other = payloads.market_like(spot, f"X_USDC_{market_type}", "X", marketType=market_type)
    mapping, info = svc.parse_markets([spot, other])
    assert list(mapping) == ["ETH-USDC"]
    assert info["unsupported"] == {f"X_USDC_{market_type}": market_type}


def test_closed_markets_are_left_out_unless_asked_for():
    spot = payloads.real_markets()[0]
    closed = payloads.market_like(spot, "OLD_USDC", "OLD", orderBookState="Closed")
    cancel_only = payloads.market_like(spot, "CO_USDC", "CO", orderBookState="CancelOnly")
    mapping, _ = svc.parse_markets([closed, cancel_only])
    assert mapping == {"CO-USDC": "CO_USDC"}
    mapping, info = svc.parse_markets([closed], include_closed=True)
    assert mapping == {"OLD-USDC": "OLD_USDC"} and info["order_book_state"]["OLD-USDC"] == "Closed"


def test_seeded_symbols_are_used_without_any_network_call(clean_symbols):
    svc.seed_symbols(payloads.real_markets())
    # an unreachable exchange: any network call would raise
    config = BackpackConfig(rest_url="https://127.0.0.1:9", symbol_ttl_s=0.001)
    assert svc.load_symbols_blocking(config)["ETH-USDC"] == "ETH_USDC"
    assert svc.cache_fresh(config.symbol_ttl_s)


def test_loaded_symbols_expire_after_the_ttl(clean_symbols, monkeypatch):
    svc.seed_symbols(payloads.real_markets())
    svc._loaded_at["BACKPACK"] = 100.0
    monkeypatch.setattr(svc.time, "monotonic", lambda: 100.0 + 299.0)
    assert svc.cache_fresh(300)
    monkeypatch.setattr(svc.time, "monotonic", lambda: 100.0 + 301.0)
    assert not svc.cache_fresh(300)
    svc._loaded_at.pop("BACKPACK", None)
    assert Symbols.populated("BACKPACK")


def test_hidden_markets_are_left_out_unless_asked_for_and_flagged():
    rwa = payloads.load("bpx-api-client-test__rest-market-rwa__SPCX.US_USDC.json")
    assert rwa["visible"] is False and rwa["rwaMarketType"] == "STOCK"
    mapping, info = svc.parse_markets([rwa])
    assert mapping == {} and info["hidden"] == ["SPCX.US_USDC"]
    mapping, info = svc.parse_markets([rwa], include_closed=True)
    assert mapping == {"SPCX.US-USDC": "SPCX.US_USDC"}
    assert info["visible"]["SPCX.US-USDC"] is False and info["order_book_state"]["SPCX.US-USDC"] == "PostOnly"


def test_tokenised_equity_perp_is_a_perpetual():
    perp = payloads.real_markets()[1]
    aapl = payloads.market_like(perp, "AAPL.US_USDC_PERP", "AAPL.US", rwaMarketType="STOCK")
    mapping, info = svc.parse_markets([aapl])
    assert mapping == {"AAPL.US-USDC-PERP": "AAPL.US_USDC_PERP"}
    assert info["instrument_type"]["AAPL.US-USDC-PERP"] == PERPETUAL


@pytest.mark.parametrize("breakage", [
    {"filters": None},
    {"filters": {"price": {"maxPrice": "10"}, "quantity": {"stepSize": "1"}}},  # no tickSize
    {"filters": {"price": {"tickSize": "not-a-number"}, "quantity": {"stepSize": "1"}}},
    {"quoteSymbol": None},
])
def test_a_market_that_cannot_be_represented_is_skipped_with_one_log_line(breakage, caplog):
    spot, perp = payloads.real_markets()[:2]
    odd = payloads.market_like(perp, "ODD_USDC_PERP", "ODD")
    odd.update(breakage)
    with caplog.at_level("WARNING", logger="feedhandler"):
        mapping, info = svc.parse_markets([spot, odd, perp])
    assert mapping == {"ETH-USDC": "ETH_USDC", "ETH-USDC-PERP": "ETH_USDC_PERP"}
    assert list(info["skipped"]) == ["ODD_USDC_PERP"]
    lines = [r.getMessage() for r in caplog.records if "ODD_USDC_PERP" in r.getMessage()]
    assert len(lines) == 1 and "skipped" in lines[0]


def test_ambiguous_names_are_skipped_not_overwritten(caplog):
    spot = payloads.real_markets()[0]
    dashed = payloads.market_like(spot, "A-B_USDC", "A-B")
    twin = payloads.market_like(spot, "ETH_USDC_2", "ETH")  # would also be ETH-USDC
    mapping, info = svc.parse_markets([spot, dashed, twin])
    assert mapping == {"ETH-USDC": "ETH_USDC"}
    assert set(info["skipped"]) == {"A-B_USDC", "ETH_USDC_2"}


def test_unsupported_types_are_judged_before_their_shape():
    spot = payloads.real_markets()[0]
    rfq = {"symbol": "SOL_USDC_RFQ", "baseSymbol": "SOL", "quoteSymbol": "USDC", "marketType": "RFQ"}  # no filters
    mapping, info = svc.parse_markets([spot, rfq])
    assert list(mapping) == ["ETH-USDC"] and info["unsupported"] == {"SOL_USDC_RFQ": "RFQ"} and info["skipped"] == {}


def test_a_raw_json_reply_with_one_bad_market_still_loads(caplog):
    import json

    spot, perp = payloads.real_markets()[:2]
    body = json.dumps([spot, payloads.market_like(perp, "ODD_USDC_PERP", "ODD", filters={}), perp]).encode()
    mapping, info = svc.parse_markets(body)
    assert set(mapping) == {"ETH-USDC", "ETH-USDC-PERP"} and list(info["skipped"]) == ["ODD_USDC_PERP"]
