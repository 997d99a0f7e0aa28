"""The examples run out of the box: examples/backpack_native_demo.py --simulator, in a subprocess,
exactly as the docs tell a user to run it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY")}
    env.pop("BACKPACK_API_KEY", None)
    env.pop("BACKPACK_PRIVATE_KEY", None)
    return env


def test_native_demo_against_the_simulator_prints_trades_books_and_private_events():
    out = subprocess.run([sys.executable, "examples/backpack_native_demo.py", "--simulator", "--seconds", "4"],
                         cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("trade ") for line in lines)
    assert any(line.startswith("book ") for line in lines)
    private = [line for line in lines if line.startswith("private ")]
    assert any(" Fill " in line for line in private) and any(" OrderInfo " in line for line in private)
    assert any(line.startswith("health   ok") for line in lines), lines[-5:]


def test_native_demo_reports_a_typed_error_with_its_fix():
    out = subprocess.run([sys.executable, "examples/backpack_native_demo.py", "--simulator", "--seconds", "1",
                          "--proxy", "ftp://127.0.0.1:21"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert out.returncode == 2
    assert "BackpackConfigError" in out.stderr and "proxies.url" in out.stderr and "socks5" in out.stderr


def test_canary_passes_against_the_simulator():
    pytest.importorskip("ccxt")
    out = subprocess.run([sys.executable, "tools/backpack_canary.py", "--simulator", "--seconds", "6"],
                         cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[-1] == "verdict: PASS"
    compared = next(line for line in lines if "trades compared" in line)
    assert int(compared.rsplit(":", 1)[1]) > 0
    assert not [line for line in lines if line.startswith("FAIL")]
