"""What a public-only process loads: signing (cryptography), the HTTP endpoint (aiohttp.web), the
simulator server and the ccxt fallback load only when something asks for them (docs/performance.md,
"Memory and cold start"). Each check runs in a fresh interpreter, so nothing another test imported
can hide a regression."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("cryptography", "aiohttp.web", "ccxt", "cryptofeed_backpack.simulator.server",
         "cryptofeed_backpack.observability.endpoint", "cryptofeed_backpack.ccxt_feed")


def loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of HEAVY it left in sys.modules."""
    probe = f"import json, sys\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


PUBLIC_FEED = """
from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures
seed_symbols(fixtures.markets())
async def cb(*args): pass
feed = BackpackFeed(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "proxies": {"direct": True}},
                    symbols=["SUI-USDC-PERP"], channels=[L2_BOOK, TRADES], callbacks={L2_BOOK: cb, TRADES: cb})
feed.metrics_snapshot()
"""


def test_a_public_feed_loads_no_signing_no_endpoint_no_simulator_no_ccxt():
    assert loaded_after(PUBLIC_FEED) == {m: False for m in HEAVY}


def test_the_market_specs_of_the_simulator_load_without_its_server():
    loaded = loaded_after("from cryptofeed_backpack.simulator.markets import select_specs\nselect_specs(['BTC_USDC_PERP'])")
    assert loaded["cryptofeed_backpack.simulator.server"] is False
    assert loaded["cryptography"] is False


def test_credentials_load_cryptography_and_sign():
    code = """
import base64
from cryptofeed_backpack import BackpackConfig, auth
seed = bytes(range(32))
pub = base64.b64encode(auth.public_key_from_seed(seed)).decode()
config = BackpackConfig(auth={"api_key": pub, "private_key": base64.b64encode(seed).decode()})
message = auth.signing_string("subscribe", None, 1700000000000)
assert auth.verify(auth.parse_public_key(pub), message, auth.sign(config.auth.seed, message))
"""
    assert loaded_after(code)["cryptography"] is True


def test_the_lazy_names_still_resolve_and_unknown_names_still_fail():
    from cryptofeed_backpack import observability, simulator
    from cryptofeed_backpack.observability.endpoint import ObservabilityServer, serve_observability
    from cryptofeed_backpack.simulator.server import BackpackSimulator

    assert observability.serve_observability is serve_observability
    assert observability.ObservabilityServer is ObservabilityServer
    assert simulator.BackpackSimulator is BackpackSimulator
    with pytest.raises(AttributeError):
        observability.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        simulator.no_such_name  # noqa: B018
