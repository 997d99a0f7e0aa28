"""The CLI's pure parts: symbol forms and hints, error lines and exit codes, stream lines."""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from cryptofeed.defines import BID, ASK, L2_BOOK, TICKER, TRADES
from cryptofeed.types import OrderBook, Ticker, Trade

from cryptofeed_backpack import cli_errors, cli_stream, cli_symbols
from cryptofeed_backpack.errors import (BackpackConnectionError, BackpackRegionRestrictedError, BackpackSymbolError,
                                        CircuitOpenError)

MAPPING = {"BTC-USDC-PERP": "BTC_USDC_PERP", "SOL-USDC": "SOL_USDC", "kPEPE-USDC-PERP": "kPEPE_USDC_PERP",
           "AAPL.US-USDC-PERP": "AAPL.US_USDC_PERP"}


def test_both_forms_resolve_to_cryptofeed_symbols():
    assert cli_symbols.resolve(["BTC_USDC_PERP", "SOL-USDC", "AAPL.US_USDC_PERP", "kpepe-usdc-perp"], MAPPING) == [
        "BTC-USDC-PERP", "SOL-USDC", "AAPL.US-USDC-PERP", "kPEPE-USDC-PERP"]
    assert cli_symbols.to_exchange_form("AAPL.US-USDC-PERP") == "AAPL.US_USDC_PERP"
    assert cli_symbols.split_list(" a, ,b ") == ["a", "b"]


@pytest.mark.parametrize("typed, hint", [("BTC-USD-PERP", "BTC-USDC-PERP"), ("BTC_USD_PERP", "BTC_USDC_PERP"),
                                         ("SOL-USDT", "SOL-USDC")])
def test_unknown_symbol_hints_the_closest_in_the_typed_form(typed, hint):
    with pytest.raises(BackpackSymbolError) as caught:
        cli_symbols.resolve([typed], MAPPING)
    text = str(caught.value)
    assert f"did you mean {hint}?" in text and "fix:" in text and "\n" not in text


def test_errors_map_to_documented_codes():
    documented = {code for code, _ in cli_errors.EXIT_CODES}
    cases = [
        (BackpackSymbolError("unknown market"), cli_errors.EXIT_BAD_INPUT),
        (cli_errors.UsageError("--depth 0 is below 1", "give 1 or more"), cli_errors.EXIT_BAD_INPUT),
        (BackpackConnectionError("cannot reach x; fix: check it"), cli_errors.EXIT_UNREACHABLE),
        (CircuitOpenError.after(5, 3.0), cli_errors.EXIT_UNREACHABLE),
        (BackpackRegionRestrictedError.from_reply(451, "FORBIDDEN", "blocked"), cli_errors.EXIT_REFUSED),
        (ConnectionRefusedError(111, "refused"), cli_errors.EXIT_UNREACHABLE),
        (KeyError("x"), cli_errors.EXIT_UNEXPECTED),
    ]
    for exc, code in cases:
        got, line = cli_errors.describe(exc)
        assert got == code and got in documented and "\n" not in line, (exc, line)
        assert line.startswith(("error:", "unexpected error:"))
        assert line.count("fix:") <= 1 and ("fix:" in line or got == cli_errors.EXIT_UNEXPECTED), line


def _book() -> OrderBook:
    book = OrderBook("BACKPACK", "SOL-USDC", bids={D("150.01"): D("2"), D("150.00"): D("1.5"), D("149.9"): D("3")},
                     asks={D("150.05"): D("0.10"), D("150.2"): D("4")})
    book.sequence_number, book.timestamp = 42, 1796000000.5
    return book


def test_book_lines_show_the_top_levels():
    line = cli_stream.text_line(L2_BOOK, _book(), depth=2)
    assert line == ("2026-11-30T00:53:20.500Z l2_book SOL-USDC snapshot seq 42 | bids 2@150.01  1.5@150 "
                    "| asks 0.1@150.05  4@150.2")
    book = _book()
    book.delta = {BID: [], ASK: [(D("150.05"), D("0.10"))]}
    record = json.loads(cli_stream.json_line(L2_BOOK, book, 1796000000.6, depth=1))
    assert record == {"channel": "l2_book", "exchange": "BACKPACK", "symbol": "SOL-USDC", "timestamp": 1796000000.5,
                      "sequence_number": 42, "snapshot": False, "bids": [["150.01", "2"]], "asks": [["150.05", "0.1"]],
                      "receipt_timestamp": 1796000000.6}


def test_trade_and_other_lines():
    trade = Trade("BACKPACK", "BTC-USDC-PERP", "buy", D("0.010"), D("100000.1"), 1796000000.0, id="77")
    assert cli_stream.text_line(TRADES, trade).endswith("trades BTC-USDC-PERP buy 0.01 @ 100000.1 id 77")
    record = json.loads(cli_stream.json_line(TRADES, trade, 1.0))
    assert record["price"] == "100000.1" and record["id"] == "77" and "raw" not in record
    ticker = Ticker("BACKPACK", "SOL-USDC", D("150.01"), D("150.05"), 1796000000.0)
    assert cli_stream.text_line(TICKER, ticker).endswith("ticker SOL-USDC bid=150.01 ask=150.05")
