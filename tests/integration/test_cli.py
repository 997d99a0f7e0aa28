"""The CLI as people run it: a subprocess against the simulator (itself a `cryptofeed-backpack simulate` process).

Checks what a person sees: readable lines, JSON lines, both symbol forms, one-line errors with the
documented exit codes, no traceback unless --debug, and a quiet exit when the reader of stdout leaves.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from cryptofeed_backpack.cli_errors import EXIT_BAD_INPUT, EXIT_CODES, EXIT_UNREACHABLE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = [sys.executable, "-m", "cryptofeed_backpack.cli"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def sim():
    proc = subprocess.Popen([*CLI, "simulate", "--symbols", "BTC-USDC-PERP,SOL_USDC", "--seed", "5", "--duration", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    urls = {}
    while len(urls) < 3:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        key, _, value = line.strip().partition(" ")
        if key in ("REST", "WS", "CA"):
            urls[key] = value.strip()
    yield ["--rest-url", urls["REST"], "--ws-url", urls["WS"], "--ca-file", urls["CA"]]
    proc.terminate()
    proc.wait()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV)


def test_stream_prints_readable_book_and_trade_lines_for_either_symbol_form(sim):
    done = run("stream", *sim, "--symbols", "BTC_USDC_PERP,SOL-USDC", "--channels", "l2_book,trades",
               "--duration", "4", "--depth", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    books = [line for line in lines if " l2_book " in line]
    trades = [line for line in lines if " trades " in line]
    assert books and trades and not any("object at 0x" in line for line in lines)
    assert {line.split()[2] for line in books} == {"BTC-USDC-PERP", "SOL-USDC"}
    snapshot = next(line for line in books if " snapshot " in line)
    _, bids, asks = snapshot.split(" | ")
    bid_levels, ask_levels = bids.split()[1:], asks.split()[1:]
    assert len(bid_levels) == 2 and len(ask_levels) == 2  # --depth 2: the top two levels of each side
    best_bid = Decimal(bid_levels[0].split("@")[1])
    best_ask = Decimal(ask_levels[0].split("@")[1])
    assert best_bid < best_ask
    side, amount, at, price = trades[0].split()[3:7]
    assert side in ("buy", "sell") and at == "@" and Decimal(amount) > 0 and Decimal(price) > 0
    assert "loading markets from" in done.stderr and "waiting for the first" in done.stderr
    assert "Traceback" not in done.stderr


def test_stream_json_lines(sim):
    done = run("stream", *sim, "--symbols", "SOL_USDC", "--channels", "l2_book,trades,ticker", "--format", "json",
               "--duration", "3")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    channels = {r["channel"] for r in records}
    assert channels == {"l2_book", "trades", "ticker"}
    book = next(r for r in records if r["channel"] == "l2_book")
    assert book["symbol"] == "SOL-USDC" and isinstance(book["sequence_number"], int) and book["snapshot"] is True
    assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0]) and len(book["bids"]) == 3
    trade = next(r for r in records if r["channel"] == "trades")
    assert isinstance(trade["price"], str) and trade["id"] and isinstance(trade["receipt_timestamp"], float)


def test_stream_exits_quietly_when_the_reader_closes_the_pipe(sim):
    # --duration is far longer than the run: ending by it would print "done:" on stderr
    proc = subprocess.Popen([*CLI, "stream", *sim, "--symbols", "SOL_USDC", "--channels", "trades", "--duration", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does after its line
    err = proc.stderr.read()
    code = proc.wait()
    assert " trades SOL-USDC " in first
    assert code == 0 and "done:" not in err and "Traceback" not in err and "BrokenPipe" not in err, err


def test_unknown_symbol_is_one_line_with_a_hint(sim):
    done = run("stream", *sim, "--symbols", "BTC-USD-PERP")
    assert done.returncode == EXIT_BAD_INPUT
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "BTC-USDC-PERP" in errors[0] and "fix:" in errors[0]
    done = run("stream", *sim, "--symbols", "BTC_USD_PERP")
    assert "BTC_USDC_PERP" in done.stderr  # the hint is in the form that was typed


def test_debug_shows_the_traceback(sim):
    done = run("--debug", "stream", *sim, "--symbols", "NOPE-USDC")
    assert done.returncode == EXIT_BAD_INPUT and "Traceback" in done.stderr and "BackpackSymbolError" in done.stderr


def test_bad_channel_and_unreachable_exchange(sim):
    done = run("stream", *sim, "--symbols", "SOL_USDC", "--channels", "trade")
    assert done.returncode == EXIT_BAD_INPUT and "did you mean trades?" in done.stderr
    assert done.stderr.count("\n") == 1
    done = run("markets", "--rest-url", "https://127.0.0.1:9")
    assert done.returncode == EXIT_UNREACHABLE and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: cannot reach 127.0.0.1:9")


def test_markets_lists_both_forms(sim):
    done = run("markets", *sim)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if not line.startswith("#")}
    assert rows["BTC-USDC-PERP"] == "BTC_USDC_PERP" and rows["SOL-USDC"] == "SOL_USDC"


def test_demo_and_simulate_take_either_form():
    done = run("demo", "--duration", "3", "--symbols", "BTC-USDC-PERP,SOL_USDC")
    assert done.returncode == 0, done.stderr
    assert "BTC-USDC-PERP" in done.stdout and "SOL-USDC" in done.stdout and "done:" in done.stdout
    done = run("simulate", "--symbols", "BTC", "--duration", "1")
    assert done.returncode == EXIT_BAD_INPUT and done.stderr.startswith("error: --symbols: 'BTC' is not a market")


def test_help_documents_the_exit_codes():
    done = run("--help")
    assert done.returncode == 0
    for code, _ in EXIT_CODES:
        assert f"\n  {code:<3} " in done.stdout
