"""Conformance: auth.py against every known answer in ../shared/backpack/golden-signatures.json
(ccxt, bpx-py, backpack-exchange-sdk and PyNaCl agree on all of them), read in place. Without the
../shared checkout these tests skip; tests/unit/test_auth.py has the project's own known answers
(RFC 8032) and the signing-string rules."""
from __future__ import annotations

import base64
import json

import pytest

from cryptofeed_backpack import auth
from cryptofeed_backpack.errors import BackpackAuthError
from tests.payloads import SHARED

GOLDEN_PATH = SHARED / "golden-signatures.json"


@pytest.fixture(scope="module")
def golden() -> dict:
    if not GOLDEN_PATH.is_file():
        pytest.skip(f"golden vectors not found at {GOLDEN_PATH}: clone the project with ../shared beside it (CI has it)")
    return json.loads(GOLDEN_PATH.read_text())


@pytest.fixture(scope="module")
def seed(golden) -> bytes:
    return auth.parse_private_key(golden["key"]["seed_b64"])


@pytest.fixture(scope="module")
def vectors(golden) -> dict:
    return golden["vectors"]


# ---- the key --------------------------------------------------------------------------------

def test_key_forms_all_give_the_golden_seed_and_public_key(golden):
    key = golden["key"]
    expected = bytes.fromhex(key["seed_hex"])
    assert expected == bytes(range(1, 33))
    urlsafe = base64.urlsafe_b64encode(expected).decode()
    for form in (key["seed_b64"], key["seed_hex"], key["seed_hex"].upper(), key["seed_plus_pub_64byte_b64"],
                 urlsafe, urlsafe.rstrip("="), key["seed_b64"].rstrip("="), f"  {key['seed_b64']}\n",
                 (expected + bytes.fromhex(key["public_key_hex"])).hex()):
        assert auth.parse_private_key(form) == expected, form
    pub = auth.public_key_from_seed(expected)
    assert pub.hex() == key["public_key_hex"]
    assert auth.b64(pub) == key["public_key_b64"]
    assert auth.parse_public_key(key["public_key_hex"]) == pub
    assert auth.parse_public_key(key["public_key_b64"]) == pub
    assert key["seed_plus_pub_64byte_b64"] == auth.b64(expected + pub)


# ---- REST vectors -------------------------------------------------------------------------------

def test_rest_balance_query_signing_string_signature_and_headers(golden, seed, vectors):
    v = vectors["rest_balanceQuery"]
    msg = auth.signing_string(v["instruction"], None, v["timestamp_ms"], v["window_ms"])
    assert msg == v["signing_string"] == "instruction=balanceQuery&timestamp=1700000000000&window=5000"
    assert auth.sign(seed, msg) == v["reference_signature_b64"]
    assert auth.signing_string(v["instruction"], {}, v["timestamp_ms"], v["window_ms"]) == msg
    headers = auth.rest_headers(golden["key"]["public_key_b64"], seed, v["instruction"], None,
                                timestamp_ms=v["timestamp_ms"], window_ms=v["window_ms"])
    # bpx-py and backpack-exchange-sdk send exactly this header set; ccxt adds only X-Broker-Id
    assert headers == v["results"]["bpx-py"]["headers"]
    assert headers == v["results"]["backpack-exchange-sdk"]["headers"]
    ccxt = dict(v["results"]["ccxt"]["headers"])
    assert ccxt.pop("X-Broker-Id") == "1400"
    assert {k: headers[k] for k in ccxt} == ccxt
    assert "X-Passphrase" not in headers
    assert auth.verify(auth.public_key_from_seed(seed), msg, headers["X-Signature"])


def test_ccxt_64_byte_test_secret_uses_first_32_bytes(vectors):
    v = vectors["rest_balanceQuery_ccxt_test_secret"]
    raw = base64.b64decode(v["secret_b64_64_bytes"])
    assert len(raw) == 64
    seed = auth.parse_private_key(v["secret_b64_64_bytes"])
    assert seed == raw[:32]
    pub_b64 = auth.b64(auth.public_key_from_seed(seed))
    assert pub_b64 == v["derived_public_key_b64"]
    assert raw[32:] != auth.public_key_from_seed(seed)  # not a seed||pub keypair, still accepted like ccxt
    msg = auth.signing_string("balanceQuery", None, v["timestamp_ms"], v["window_ms"])
    assert msg == v["signing_string"]
    assert auth.sign(seed, msg) == v["pynacl_signature_b64"] == v["ccxt_headers"]["X-Signature"]
    headers = auth.rest_headers(pub_b64, seed, "balanceQuery", timestamp_ms=v["timestamp_ms"], window_ms=v["window_ms"])
    for name in ("X-Timestamp", "X-Window", "X-API-Key", "X-Signature"):
        assert headers[name] == v["ccxt_headers"][name]


def test_docs_order_cancel_example(seed, vectors):
    v = vectors["rest_docs_orderCancel_example"]
    msg = auth.signing_string(v["instruction"], v["body"], v["timestamp_ms"], v["window_ms"])
    assert msg == v["signing_string_from_docs"]
    assert msg == v["results"]["backpack-exchange-sdk"]["signing_string"]
    sig = auth.sign(seed, msg)
    assert sig == v["reference_signature_b64"]
    for lib in ("backpack-exchange-sdk", "bpx-py", "ccxt"):
        assert v["results"][lib]["X-Signature"] == sig
    # ccxt signs the body it sends; the same dict decoded from that body gives the same string
    assert auth.signing_string(v["instruction"], json.loads(v["results"]["ccxt"]["body"]),
                               v["timestamp_ms"], v["window_ms"]) == msg


def test_docs_batch_order_execute_example(seed, vectors):
    v = vectors["rest_docs_batch_orderExecute_example"]
    msg = auth.signing_string("orderExecute", v["body"], v["timestamp_ms"], v["window_ms"])
    assert msg == v["signing_string_from_docs"]
    assert msg.count("instruction=orderExecute") == 2 and msg.count("timestamp=") == 1
    sig = auth.sign(seed, msg)
    assert sig == v["reference_signature_b64"]
    assert sig == v["results"]["ccxt"]["X-Signature"] == v["results"]["backpack-exchange-sdk"]["X-Signature"]
    headers = auth.rest_headers("k", seed, "orderExecute", v["body"], timestamp_ms=v["timestamp_ms"], window_ms=5000)
    assert headers["X-Signature"] == sig


def test_get_with_query_sorts_keys(seed, vectors):
    v = vectors["rest_orderQueryAll_with_query"]
    assert list(v["query"]) == ["symbol", "marketType"]  # given unsorted on purpose
    msg = auth.signing_string(v["instruction"], v["query"], v["timestamp_ms"], v["window_ms"])
    assert msg == v["signing_string"]
    sig = auth.sign(seed, msg)
    assert sig == v["reference_signature_b64"]
    for lib in ("backpack-exchange-sdk", "ccxt", "bpx-py"):
        assert v["results"][lib]["X-Signature"] == sig


# ---- WS vector -----------------------------------------------------------------------------

def test_ws_subscribe_signature_array_is_four_strings(golden, seed, vectors):
    v = vectors["ws_subscribe"]
    assert auth.signing_string("subscribe", None, v["timestamp_ms"], v["window_ms"]) == v["signing_string"]
    arr = auth.ws_signature(golden["key"]["public_key_b64"], seed, timestamp_ms=v["timestamp_ms"], window_ms=v["window_ms"])
    assert all(type(item) is str for item in arr)
    expected = v["results"]["backpack-exchange-sdk WebSocketClient"]["message"]["signature"]
    assert arr == expected == v["results"]["ccxt.pro"]["message"]["signature"]
    assert arr[1] == v["reference_signature_b64"]
    assert arr == [golden["key"]["public_key_b64"], v["reference_signature_b64"], "1700000000000", "5000"]


def test_independent_crosscheck_flags_all_true(golden):
    assert all(golden["independent_crosscheck"]["results"].values())


def test_public_key_must_be_32_bytes_and_named(golden):
    bad = golden["key"]["seed_plus_pub_64byte_b64"]
    with pytest.raises(BackpackAuthError) as err:
        auth.parse_public_key(bad, "auth.api_key")
    assert "auth.api_key" in str(err.value) and "64 bytes" in str(err.value)
    assert bad not in str(err.value)
