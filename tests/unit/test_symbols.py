from decimal import Decimal as D

import pytest
from cryptofeed.defines import PERPETUAL, SPOT
from cryptofeed.symbols import Symbols, str_to_symbol

from cryptofeed_backpack import symbols as svc
from cryptofeed_backpack.config import BackpackConfig
from tests import fixtures


def test_real_markets_become_cryptofeed_symbols():
    mapping, info = svc.parse_markets(fixtures.markets())
    assert mapping["SUI-USDC"] == "SUI_USDC"
    assert mapping["SUI-USDC-PERP"] == "SUI_USDC_PERP"
    assert mapping["kPEPE-USDC-PERP"] == "kPEPE_USDC_PERP"
    assert mapping["AAPL.US-USDC-PERP"] == "AAPL.US_USDC_PERP"
    assert mapping["NVDA.US-USDC"] == "NVDA.US_USDC"
    assert "FTT-USDC" not in mapping and "RAY-USDC" in mapping  # Closed is left out, CancelOnly kept
    assert info["instrument_type"]["SUI-USDC"] == SPOT and info["instrument_type"]["SUI-USDC-PERP"] == PERPETUAL
    assert info["tick_size"]["AAPL.US-USDC-PERP"] == D("0.01") and type(info["tick_size"]["AAPL.US-USDC-PERP"]) is D
    assert info["step_size"]["kPEPE-USDC-PERP"] == D("1")
    # the wire sends fundingInterval as an integer (ccxt's recorder stringified it: tests/conformance)
    assert info["funding_interval_ms"]["SUI-USDC-PERP"] == 3600000


def test_case_and_dots_round_trip():
    spot, perp = fixtures.markets()[:2]
    mapping, _ = svc.parse_markets([fixtures.market_like(perp, "kPEPE_USDC_PERP", "kPEPE"),
                                    fixtures.market_like(perp, "AAPL.US_USDC_PERP", "AAPL.US")])
    assert mapping == {"kPEPE-USDC-PERP": "kPEPE_USDC_PERP", "AAPL.US-USDC-PERP": "AAPL.US_USDC_PERP"}
    sym = str_to_symbol("AAPL.US-USDC-PERP")
    assert (sym.base, sym.quote, sym.type) == ("AAPL.US", "USDC", PERPETUAL)
    assert str_to_symbol("kPEPE-USDC-PERP").base == "kPEPE"


@pytest.mark.parametrize("market_type", ["IPERP", "DATED", "PREDICTION", "RFQ", "MONAD", "SOMETHING_NEW"])
def test_other_market_types_never_crash_and_are_listed(market_type):
    spot = fixtures.markets()[0]
    other = fixtures.market_like(spot, f"X_USDC_{market_type}", "X", marketType=market_type)
    mapping, info = svc.parse_markets([spot, other])
    assert list(mapping) == ["SUI-USDC"]
    assert info["unsupported"] == {f"X_USDC_{market_type}": market_type}


def test_closed_markets_are_left_out_unless_asked_for():
    spot = fixtures.markets()[0]
    closed = fixtures.market_like(spot, "OLD_USDC", "OLD", orderBookState="Closed")
    cancel_only = fixtures.market_like(spot, "CO_USDC", "CO", orderBookState="CancelOnly")
    mapping, _ = svc.parse_markets([closed, cancel_only])
    assert mapping == {"CO-USDC": "CO_USDC"}
    mapping, info = svc.parse_markets([closed], include_closed=True)
    assert mapping == {"OLD-USDC": "OLD_USDC"} and info["order_book_state"]["OLD-USDC"] == "Closed"


def test_seeded_symbols_are_used_without_any_network_call(clean_symbols):
    svc.seed_symbols(fixtures.markets())
    # an unreachable exchange: any network call would raise
    config = BackpackConfig(rest_url="https://127.0.0.1:9", symbol_ttl_s=0.001)
    assert svc.load_symbols_blocking(config)["SUI-USDC"] == "SUI_USDC"
    assert svc.cache_fresh(config.symbol_ttl_s)


def test_loaded_symbols_expire_after_the_ttl(clean_symbols, monkeypatch):
    svc.seed_symbols(fixtures.markets())
    svc._loaded_at["BACKPACK"] = 100.0
    monkeypatch.setattr(svc.time, "monotonic", lambda: 100.0 + 299.0)
    assert svc.cache_fresh(300)
    monkeypatch.setattr(svc.time, "monotonic", lambda: 100.0 + 301.0)
    assert not svc.cache_fresh(300)
    svc._loaded_at.pop("BACKPACK", None)
    assert Symbols.populated("BACKPACK")


def test_hidden_markets_are_left_out_unless_asked_for_and_flagged():
    # Backpack's own client records a spot RWA market with visible: false (tests/conformance keeps it)
    nvda = next(m for m in fixtures.markets() if m["symbol"] == "NVDA.US_USDC")
    hidden = fixtures.market_like(nvda, "NVDA.US_USDC", "NVDA.US", visible=False)
    mapping, info = svc.parse_markets([hidden])
    assert mapping == {} and info["hidden"] == ["NVDA.US_USDC"]
    mapping, info = svc.parse_markets([hidden], include_closed=True)
    assert mapping == {"NVDA.US-USDC": "NVDA.US_USDC"}
    assert info["visible"]["NVDA.US-USDC"] is False and info["order_book_state"]["NVDA.US-USDC"] == "PostOnly"


def test_tokenised_equity_perp_is_a_perpetual():
    perp = fixtures.markets()[1]
    aapl = fixtures.market_like(perp, "AAPL.US_USDC_PERP", "AAPL.US", rwaMarketType="STOCK")
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
    spot, perp = fixtures.markets()[:2]
    odd = fixtures.market_like(perp, "ODD_USDC_PERP", "ODD")
    odd.update(breakage)
    with caplog.at_level("WARNING", logger="feedhandler"):
        mapping, info = svc.parse_markets([spot, odd, perp])
    assert mapping == {"SUI-USDC": "SUI_USDC", "SUI-USDC-PERP": "SUI_USDC_PERP"}
    assert list(info["skipped"]) == ["ODD_USDC_PERP"]
    lines = [r.getMessage() for r in caplog.records if "ODD_USDC_PERP" in r.getMessage()]
    assert len(lines) == 1 and "skipped" in lines[0]


def test_ambiguous_names_are_skipped_not_overwritten(caplog):
    spot = fixtures.markets()[0]
    dashed = fixtures.market_like(spot, "A-B_USDC", "A-B")
    twin = fixtures.market_like(spot, "SUI_USDC_2", "SUI")  # would also be SUI-USDC
    mapping, info = svc.parse_markets([spot, dashed, twin])
    assert mapping == {"SUI-USDC": "SUI_USDC"}
    assert set(info["skipped"]) == {"A-B_USDC", "SUI_USDC_2"}


def test_unsupported_types_are_judged_before_their_shape():
    spot = fixtures.markets()[0]
    rfq = {"symbol": "SOL_USDC_RFQ", "baseSymbol": "SOL", "quoteSymbol": "USDC", "marketType": "RFQ"}  # no filters
    mapping, info = svc.parse_markets([spot, rfq])
    assert list(mapping) == ["SUI-USDC"] and info["unsupported"] == {"SOL_USDC_RFQ": "RFQ"} and info["skipped"] == {}


def test_a_raw_json_reply_with_one_bad_market_still_loads(caplog):
    import json

    spot, perp = fixtures.markets()[:2]
    body = json.dumps([spot, fixtures.market_like(perp, "ODD_USDC_PERP", "ODD", filters={}), perp]).encode()
    mapping, info = svc.parse_markets(body)
    assert set(mapping) == {"SUI-USDC", "SUI-USDC-PERP"} and list(info["skipped"]) == ["ODD_USDC_PERP"]
