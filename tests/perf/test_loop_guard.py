"""Regression guard for the loop between the socket's queue and the feed's handler: PicowsConn.pump()
against cryptofeed's ``async for`` over read(), measured in the same run (bench/handler_loop.py),
so a change that puts an async generator or another await back on every message shows. Measured
1.22x to 1.9x (docs/performance.md); the margin catches a regression (about 1.0x), not noise."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import handler_loop  # noqa: E402

pytestmark = pytest.mark.slow


def test_pump_hands_messages_over_faster_than_cryptofeeds_read_loop():
    figures = handler_loop.measure(messages=10000, per=10, repeats=7)
    assert figures["read"] / figures["pump"] > 1.1, figures
