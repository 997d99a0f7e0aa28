"""auth.py on known answers of its own: the Ed25519 test vectors of RFC 8032 §7.1 (TEST 1 and
TEST 2) and the signing-string rules of docs/auth.md §3, plus edge cases. No file outside the
repository is read; tests/conformance/test_golden_signatures.py adds the cross-library vectors."""
from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cryptofeed_backpack import auth
from cryptofeed_backpack.errors import BackpackAuthError

# RFC 8032 §7.1 TEST 1: SECRET KEY, PUBLIC KEY and the SIGNATURE of the empty message
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
# RFC 8032 §7.1 TEST 2: a one-byte message, 0x72 ("r")
RFC2_SECRET = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC2_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC2_SIGNATURE_R = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")

API_KEY = base64.b64encode(RFC_PUBLIC).decode()


@pytest.fixture(scope="module")
def seed() -> bytes:
    return RFC_SECRET


def signed_by_rfc_key(message: str, signature_b64: str) -> bool:
    """Checked with the RFC's public key as published, not one derived by auth.py."""
    try:
        Ed25519PublicKey.from_public_bytes(RFC_PUBLIC).verify(base64.b64decode(signature_b64), message.encode())
        return True
    except InvalidSignature:
        return False


# ---- the key: RFC 8032 known answers ------------------------------------------------------------

def test_rfc8032_public_keys_and_signatures():
    assert auth.public_key_from_seed(RFC_SECRET) == RFC_PUBLIC
    assert auth.sign(RFC_SECRET, "") == auth.b64(RFC_SIGNATURE_EMPTY)
    assert auth.verify(RFC_PUBLIC, "", auth.b64(RFC_SIGNATURE_EMPTY))
    assert auth.public_key_from_seed(RFC2_SECRET) == RFC2_PUBLIC
    assert auth.sign(RFC2_SECRET, "r") == auth.b64(RFC2_SIGNATURE_R)
    assert auth.verify(RFC2_PUBLIC, "r", auth.b64(RFC2_SIGNATURE_R))
    assert not auth.verify(RFC2_PUBLIC, "", auth.b64(RFC_SIGNATURE_EMPTY))


def test_every_accepted_key_form_gives_the_rfc_seed():
    b64 = base64.b64encode(RFC_SECRET).decode()
    urlsafe = base64.urlsafe_b64encode(RFC_SECRET).decode()
    pair = RFC_SECRET + RFC_PUBLIC
    # docs/auth.md §1: base64, url-safe base64 (padding optional), hex, 64-byte seed || public key
    forms = [b64, b64.rstrip("="), urlsafe, urlsafe.rstrip("="), RFC_SECRET.hex(), RFC_SECRET.hex().upper(),
             f"  {b64}\n", base64.b64encode(pair).decode(), pair.hex()]
    assert "-" in urlsafe or "_" in urlsafe  # this seed really exercises the url-safe alphabet
    for form in forms:
        assert auth.parse_private_key(form) == RFC_SECRET, form
    assert auth.parse_public_key(API_KEY) == RFC_PUBLIC
    assert auth.parse_public_key(RFC_PUBLIC.hex()) == RFC_PUBLIC


def test_a_64_byte_secret_uses_its_first_32_bytes_whatever_follows():
    # like ccxt: the second half need not be the seed's public key
    odd_pair = base64.b64encode(RFC_SECRET + RFC2_PUBLIC).decode()
    assert auth.parse_private_key(odd_pair) == RFC_SECRET
    assert auth.public_key_from_seed(auth.parse_private_key(odd_pair)) == RFC_PUBLIC


# ---- docs/auth.md §3: what gets signed, with the RFC key -----------------------------------------

def test_rest_request_without_params_signs_instruction_timestamp_window(seed):
    msg = auth.signing_string("balanceQuery", None, 1700000000000, 5000)
    assert msg == "instruction=balanceQuery&timestamp=1700000000000&window=5000"
    assert auth.signing_string("balanceQuery", {}, 1700000000000, 5000) == msg
    headers = auth.rest_headers(API_KEY, seed, "balanceQuery", timestamp_ms=1700000000000, window_ms=5000)
    assert set(headers) == {"X-API-Key", "X-Signature", "X-Timestamp", "X-Window", "Content-Type"}  # no passphrase
    assert (headers["X-API-Key"], headers["X-Timestamp"], headers["X-Window"]) == (API_KEY, "1700000000000", "5000")
    assert signed_by_rfc_key(msg, headers["X-Signature"])
    assert not signed_by_rfc_key("instruction=balanceQuery&timestamp=1700000000001&window=5000", headers["X-Signature"])


def test_get_query_keys_are_sorted(seed):
    query = {"symbol": "SUI_USDC", "marketType": "SPOT"}  # given unsorted on purpose
    msg = auth.signing_string("orderQueryAll", query, 1796047500000, 5000)
    assert msg == "instruction=orderQueryAll&marketType=SPOT&symbol=SUI_USDC&timestamp=1796047500000&window=5000"
    headers = auth.rest_headers(API_KEY, seed, "orderQueryAll", query, timestamp_ms=1796047500000)
    assert signed_by_rfc_key(msg, headers["X-Signature"])


def test_json_body_signs_like_its_sorted_keys(seed):
    body = {"symbol": "SUI_USDC", "orderId": "9100000000012345"}
    msg = auth.signing_string("orderCancel", body, 1796047509000, 60000)
    assert msg == "instruction=orderCancel&orderId=9100000000012345&symbol=SUI_USDC&timestamp=1796047509000&window=60000"
    assert signed_by_rfc_key(msg, auth.sign(seed, msg))


def test_batch_body_repeats_the_instruction_per_order(seed):
    orders = [{"symbol": "SUI_USDC", "side": "Ask", "orderType": "Limit", "price": "3.4250", "quantity": "250.0"},
              {"symbol": "SUI_USDC", "side": "Bid", "orderType": "Market", "quantity": "120.0"}]
    msg = auth.signing_string("orderExecute", orders, 1796047500700, 5000)
    assert msg == ("instruction=orderExecute&orderType=Limit&price=3.4250&quantity=250.0&side=Ask&symbol=SUI_USDC"
                   "&instruction=orderExecute&orderType=Market&quantity=120.0&side=Bid&symbol=SUI_USDC"
                   "&timestamp=1796047500700&window=5000")
    headers = auth.rest_headers(API_KEY, seed, "orderExecute", orders, timestamp_ms=1796047500700)
    assert signed_by_rfc_key(msg, headers["X-Signature"])


def test_ws_subscribe_signature_array_is_four_strings(seed):
    arr = auth.ws_signature(API_KEY, seed, timestamp_ms=1700000000000, window_ms=5000)
    assert all(type(item) is str for item in arr)
    assert arr[0] == API_KEY and arr[2:] == ["1700000000000", "5000"]
    # the signature covers no stream names: only the subscribe instruction and the timing
    assert signed_by_rfc_key("instruction=subscribe&timestamp=1700000000000&window=5000", arr[1])


# ---- hand-checked edge cases -----------------------------------------------------------------

def test_booleans_are_lower_case_and_none_values_are_omitted():
    msg = auth.signing_string("orderExecute", {"symbol": "SOL_USDC", "postOnly": True, "reduceOnly": False,
                                               "clientId": None, "price": "141"}, 1, 5000)
    assert msg == "instruction=orderExecute&postOnly=true&price=141&reduceOnly=false&symbol=SOL_USDC&timestamp=1&window=5000"
    assert "True" not in msg and "None" not in msg and "clientId" not in msg


def test_integers_are_written_as_integers():
    assert auth.signing_string("orderCancel", {"orderId": 28, "clientId": 0}, 2, 1) == (
        "instruction=orderCancel&clientId=0&orderId=28&timestamp=2&window=1"
    )


def test_empty_params_and_empty_batch_sign_like_no_params():
    bare = "instruction=orderExecute&timestamp=1700000000000&window=5000"
    assert auth.signing_string("orderExecute", None, 1700000000000) == bare
    assert auth.signing_string("orderExecute", {}, 1700000000000) == bare
    assert auth.signing_string("orderExecute", [], 1700000000000) == bare
    assert auth.signing_string("orderExecute", [{}], 1700000000000) == bare


def test_batch_elements_are_sorted_individually_and_keep_their_order():
    msg = auth.signing_string("orderExecute", [{"b": 2, "a": 1}, {"d": True, "c": None}], 5, 5)
    assert msg == "instruction=orderExecute&a=1&b=2&instruction=orderExecute&d=true&timestamp=5&window=5"


@pytest.mark.parametrize("window", [1, 5000, 60000, "60000"])
def test_window_bounds_accepted(window, seed):
    assert auth.signing_string("subscribe", None, 1700000000000, window).endswith(f"&window={window}")


@pytest.mark.parametrize("window", [0, -1, 60001, 5000.0, True, "5s", None])
def test_window_out_of_bounds_rejected(window):
    with pytest.raises(BackpackAuthError, match="window_ms"):
        auth.signing_string("subscribe", None, 1700000000000, window)


@pytest.mark.parametrize("ts", [1700000000000000, 1700000000.5, 1700000000000.0, 0, -5, "17e11", None])
def test_timestamp_must_be_integer_milliseconds(ts):
    with pytest.raises(BackpackAuthError, match="milliseconds"):
        auth.signing_string("subscribe", None, ts, 5000)


def test_ws_signature_rejects_a_microsecond_timestamp(seed):
    with pytest.raises(BackpackAuthError, match="milliseconds"):
        auth.ws_signature("k", seed, timestamp_ms=1700000000000000)


def test_default_timestamp_is_now_in_ms(seed):
    arr = auth.ws_signature("k", seed)
    assert abs(int(arr[2]) - auth.now_ms()) < 60_000
    assert arr[3] == "5000"


# ---- key parsing errors never echo the key -----------------------------------------------------

@pytest.mark.parametrize("bad, nbytes", [
    (base64.b64encode(b"\x07" * 31).decode(), 31),
    (base64.b64encode(b"\x07" * 33).decode(), 33),
    (base64.b64encode(b"\x07" * 48).decode(), 48),
    ("07" * 16, 24),  # hex is recognised only at 64/128 chars; shorter hex decodes as base64 and fails on length
])
def test_private_key_wrong_length_names_field_and_fix_without_echo(bad, nbytes):
    with pytest.raises(BackpackAuthError) as err:
        auth.parse_private_key(bad)
    text = str(err.value)
    assert "private key" in text and f"{nbytes} bytes" in text and "fix:" in text
    assert bad not in text


@pytest.mark.parametrize("bad", ["not a key!!", "g" * 63 + "?", "ab$cd"])
def test_private_key_not_base64_or_hex(bad):
    with pytest.raises(BackpackAuthError) as err:
        auth.parse_private_key(bad)
    assert "neither base64 nor hex" in str(err.value) and "fix:" in str(err.value)
    assert bad not in str(err.value)


def test_public_key_must_be_32_bytes_and_named():
    bad = auth.b64(RFC_SECRET + RFC_PUBLIC)  # a 64-byte keypair is not a public key
    with pytest.raises(BackpackAuthError) as err:
        auth.parse_public_key(bad, "auth.api_key")
    assert "auth.api_key" in str(err.value) and "64 bytes" in str(err.value)
    assert bad not in str(err.value)


def test_verify_rejects_wrong_message_key_and_garbage(seed):
    pub = auth.public_key_from_seed(seed)
    sig = auth.sign(seed, "instruction=subscribe&timestamp=1&window=5000")
    assert auth.verify(pub, "instruction=subscribe&timestamp=1&window=5000", sig)
    assert not auth.verify(pub, "instruction=subscribe&timestamp=2&window=5000", sig)
    assert not auth.verify(auth.public_key_from_seed(bytes(32)), "instruction=subscribe&timestamp=1&window=5000", sig)
    assert not auth.verify(pub, "x", "not base64!")
    assert not auth.verify(pub, "x", auth.b64(b"short"))


def test_redact_replaces_every_secret_form(seed):
    forms = [auth.b64(seed), seed.hex()]
    text = f"a {forms[0]} b {forms[1]} c"
    assert auth.redact(text, forms) == "a *** b *** c"
