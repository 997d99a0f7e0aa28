"""Regression guard for the hot path: ratios against peers measured in the same run, never absolute
times (the CI machine is shared and its speed varies). Each figure is the median over interleaved
repeats (bench/handlers.py); every book is checked against a reference after every repeat, so a
fast but wrong handler fails too. Margins are about half of what docs/performance.md measures.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ccxt")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import handlers  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def figures(request):
    from cryptofeed.symbols import Symbols

    try:
        yield handlers.measure(frames=3000, repeats=5)
    finally:
        Symbols.data.pop("BACKPACK", None)
        Symbols.data.pop("BINANCE", None)


def test_trade_path_is_several_times_faster_than_ccxt_pro(figures):
    trade = figures["trade"]
    assert trade["ccxt"] / trade["native"] > 3.0, trade


@pytest.mark.parametrize("kind", handlers.KINDS)
def test_no_frame_kind_falls_behind_cryptofeed_binance_on_equivalent_frames(figures, kind):
    # Measured 1.15x to 1.65x faster on a loaded 2-core machine (docs/performance.md): this catches a
    # collapse (a lost optimisation costs 20 % to 40 %), not noise.
    r = figures[kind]
    assert r["binance"] / r["native"] > 0.85, r


def test_depth_path_is_faster_than_ccxt_pro_on_a_1000_level_book(figures):
    depth = figures["depth 20 levels"]
    assert depth["ccxt"] / depth["native"] > 1.1, depth


def test_depth_path_stays_near_the_decode_and_book_set_floor(figures):
    depth = figures["depth 20 levels"]
    assert depth["native"] / depth["floor"] < 2.5, depth
