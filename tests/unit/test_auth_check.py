"""The credential checker: run as a subprocess against a local /api/v1/time over HTTPS (trustme) and
in-process for the error paths. Asserts output, exit codes, measured drift, and that no form of the
private key ever appears in stdout or stderr."""
from __future__ import annotations

import argparse
import base64
import io
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from cryptofeed_backpack import auth, auth_check

REPO = Path(__file__).resolve().parents[2]
SEED = bytes(range(1, 33))
PUB = auth.public_key_from_seed(SEED)
PUB_B64 = auth.b64(PUB)
SEED_B64 = auth.b64(SEED)
CCXT_SECRET = "bSQmK8JSjtExl2iBSi0d9CxZRon4tjWTjFC7HfEhVv+IRkdI74dJ7d7l+MRWHFAZiQpQl76bnzDxBCuiAZYFCQ=="
CCXT_PUB = "/NqLWUwBCIH2X2jArhTmTjYpG0X24vxledaT744Ri6o="


def secret_forms(seed: bytes, *typed: str) -> list[str]:
    """Every textual form the private key could leak in."""
    forms = {seed.hex(), seed.hex().upper(), auth.b64(seed), auth.b64(seed).rstrip("="),
             base64.urlsafe_b64encode(seed).decode(), base64.urlsafe_b64encode(seed).decode().rstrip("="),
             auth.b64(seed + auth.public_key_from_seed(seed)), (seed + auth.public_key_from_seed(seed)).hex()}
    forms.update(t.strip() for t in typed)
    return sorted(forms)


def assert_no_secret(text: str, seed: bytes = SEED, *typed: str) -> None:
    for form in secret_forms(seed, *typed):
        assert form not in text, "private key leaked"


# ---- a tiny /api/v1/time server on loopback -------------------------------------------------------

class TimeServer:
    def __init__(self, tls: ssl.SSLContext | None = None, offset_ms: int = 0, body: bytes | None = None):
        self.offset_ms = offset_ms
        self.body = body
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                outer.hits += 1
                if self.path != "/api/v1/time":
                    self.send_error(404)
                    return
                payload = outer.body if outer.body is not None else str(int(time.time() * 1000) + outer.offset_ms).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, ca_file


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY") and not k.startswith("BACKPACK_")}
    env.update(extra)
    return env


def run_tool(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.backpack_auth_check", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def drift_of(stdout: str) -> int:
    return int(re.search(r"clock drift\s+: ([+-]\d+) ms", stdout).group(1))


# ---- subprocess runs ----------------------------------------------------------------------------

def test_tool_ok_over_https_with_keys_from_env(tls):
    server_ctx, ca_file = tls
    with TimeServer(server_ctx) as server:
        proc = run_tool("--rest-url", server.url, "--ca-file", str(ca_file), "--timestamp-ms", "1700000000000",
                        env=clean_env(BACKPACK_API_KEY=PUB_B64, BACKPACK_PRIVATE_KEY=SEED_B64))
        assert server.hits == 3  # --time-samples default
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"derived public key : {PUB_B64}" in out
    assert "API key            : matches the derived public key" in out
    assert "signing string     : instruction=balanceQuery&timestamp=1700000000000&window=5000" in out
    assert "NUwGpfoyZN5IZ49PIv7j4PJiTs5E8rxw42myDXszA+60mNIQOCA423SyLvHbk4o6aj5oyCJsOGkiJ/zAkkzTAg==" in out
    assert abs(drift_of(out)) < 500
    assert out.rstrip().endswith("RESULT: OK")
    assert proc.stderr == ""
    assert_no_secret(out + proc.stderr)


def test_tool_reports_drift_over_threshold(tls):
    server_ctx, ca_file = tls
    with TimeServer(server_ctx, offset_ms=7000) as server:  # the exchange is 7 s ahead: local clock behind
        proc = run_tool("--rest-url", server.url, "--ca-file", str(ca_file), "--api-key", PUB.hex(),
                        env=clean_env(BACKPACK_PRIVATE_KEY=SEED.hex()))
    assert proc.returncode == auth_check.EXIT_CLOCK_DRIFT == 4
    drift = drift_of(proc.stdout)
    assert -7500 < drift < -6500
    assert "behind" in proc.stdout and "exceeds --max-drift-ms 1000" in proc.stderr
    assert_no_secret(proc.stdout + proc.stderr)


def test_tool_private_key_on_command_line_warns_and_is_not_echoed(tls):
    server_ctx, ca_file = tls
    seed = bytes([251] * 32)  # its base64 has '+' and '/', so the url-safe form really differs
    typed = base64.urlsafe_b64encode(seed).decode().rstrip("=")
    assert "-" in typed or "_" in typed
    pub_b64 = auth.b64(auth.public_key_from_seed(seed))
    with TimeServer(server_ctx, offset_ms=300) as server:
        proc = run_tool("--rest-url", server.url, "--ca-file", str(ca_file), "--api-key", pub_b64,
                        f"--private-key={typed}", "--max-drift-ms", "2000", env=clean_env())  # may start with "-"
    assert proc.returncode == 0, proc.stderr
    assert "url-safe base64, 32 bytes" in proc.stdout
    assert "shell history" in proc.stderr
    assert -800 < drift_of(proc.stdout) < 0
    assert_no_secret(proc.stdout + proc.stderr, seed, typed)


def test_tool_help_lists_exit_codes():
    proc = run_tool("--help", env=clean_env())
    assert proc.returncode == 0
    for line in ("exit codes:", "0  credentials valid", "2  bad input", "3  key mismatch", "4  clock drift",
                 "5  the time endpoint", "BACKPACK_PRIVATE_KEY"):
        assert line in proc.stdout


def test_tool_https_without_ca_fails_verification_and_require_time_gives_5(tls):
    server_ctx, _ = tls
    with TimeServer(server_ctx) as server:
        proc = run_tool("--rest-url", server.url, "--require-time", "--timeout-s", "5",
                        env=clean_env(BACKPACK_API_KEY=PUB_B64, BACKPACK_PRIVATE_KEY=SEED_B64))
    assert proc.returncode == auth_check.EXIT_TIME_UNREACHABLE == 5
    assert "CERTIFICATE_VERIFY_FAILED" in proc.stderr
    assert_no_secret(proc.stdout + proc.stderr)


# ---- in-process runs (fast) ---------------------------------------------------------------------

def run_inline(*argv: str, monkeypatch=None) -> tuple[int, str, str]:
    args = auth_check.build_parser("auth-check").parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = auth_check.run(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BACKPACK_API_KEY", "BACKPACK_PRIVATE_KEY", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_plain_http_ok_and_drift_measured():
    with TimeServer(offset_ms=-2000) as server:  # exchange behind: local clock ahead by ~2 s
        code, out, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--rest-url", server.url,
                                    "--max-drift-ms", "3000")
    assert code == 0, err
    assert 1500 < drift_of(out) < 2500 and "ahead of" in out
    assert_no_secret(out + err)


def test_missing_credentials_exit_2():
    code, out, err = run_inline("--no-time")
    assert code == 2 and "private key and the API key missing" in err and "BACKPACK_PRIVATE_KEY" in err


def test_credentials_from_env(monkeypatch):
    monkeypatch.setenv("BACKPACK_API_KEY", PUB_B64)
    monkeypatch.setenv("BACKPACK_PRIVATE_KEY", SEED.hex())
    code, out, err = run_inline("--no-time")
    assert code == 0 and "hex, 32 bytes" in out and "not checked (--no-time)" in out and err == ""
    assert_no_secret(out + err)


@pytest.mark.parametrize("bad", [auth.b64(SEED[:31]), "not base64 at all!", "ab" * 31])
def test_malformed_private_key_exit_2_without_echo(bad):
    code, out, err = run_inline("--api-key", PUB_B64, "--private-key", bad, "--no-time")
    assert code == 2 and "private key" in err and "fix:" in err
    assert bad not in out + err


def test_malformed_api_key_exit_2():
    code, _, err = run_inline("--api-key", "abc", "--private-key", SEED_B64, "--no-time")
    assert code == 2 and "API key" in err


def test_wrong_api_key_exit_3_names_the_fix():
    other = auth.b64(auth.public_key_from_seed(bytes(32)))
    code, out, err = run_inline("--api-key", other, "--private-key", SEED_B64, "--no-time")
    assert code == 3 and "does not belong to the private key" in err and PUB_B64 in err
    assert "signing string" not in out
    assert_no_secret(out + err)


def test_wrong_public_key_exit_3():
    other = auth.b64(auth.public_key_from_seed(bytes(32)))
    code, out, err = run_inline("--api-key", PUB_B64, "--public-key", other, "--private-key", SEED_B64, "--no-time")
    assert code == 3 and "public key" in err


def test_swapped_keys_detected_without_echo():
    code, out, err = run_inline("--api-key", SEED_B64, "--private-key", SEED_B64, "--no-time")
    assert code == 3 and "swapped" in err
    assert_no_secret(out + err)


def test_ccxt_64_byte_secret_warns_and_signs_like_ccxt():
    code, out, err = run_inline("--api-key", CCXT_PUB, "--private-key", CCXT_SECRET, "--no-time",
                                "--timestamp-ms", "1700000000000")
    assert code == 0, err
    assert "64 bytes" in out and "bytes 32..63" in err
    assert "oZ11imcjxSdQJrhi0iCmBDrrh9UodizFPI5XxJIakwjbCwUq4OSKL3XqH+SbxWMOR18uMEcsmGL3365yu+i3CQ==" in out
    ccxt_seed = base64.b64decode(CCXT_SECRET)[:32]
    assert_no_secret(out + err, ccxt_seed, CCXT_SECRET)


def test_keypair_64_byte_form_is_recognised():
    keypair = auth.b64(SEED + PUB)
    code, out, err = run_inline("--api-key", PUB_B64, "--private-key", keypair, "--no-time")
    assert code == 0 and "seed || public key" in out and err.count("warning") == 1  # only the shell-history one
    assert_no_secret(out + err)


def test_private_key_file_and_params(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(SEED_B64 + "\n")
    code, out, err = run_inline("--api-key", PUB_B64, "--private-key-file", str(key_file), "--no-time",
                                "--instruction", "orderQueryAll", "--param", "symbol=SOL_USDC", "--param", "marketType=SPOT",
                                "--timestamp-ms", "1700000000000")
    assert code == 0 and err == ""
    assert "instruction=orderQueryAll&marketType=SPOT&symbol=SOL_USDC&timestamp=1700000000000&window=5000" in out
    assert "uOAIeHGRqrsnknv+C6mwW5TuDpyQkIxDM4hzvo3OGkjaX23DTSSjKiWe9atLJLxTP14E9eNQ33xefhdRL0W3Cw==" in out


def test_bad_param_and_window_exit_2():
    assert run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--no-time", "--param", "nokey")[0] == 2
    code, _, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--no-time", "--window-ms", "60001")
    assert code == 2 and "60000" in err
    code, _, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--no-time",
                              "--timestamp-ms", "1700000000000000")
    assert code == 2 and "milliseconds" in err


def test_unreachable_time_is_a_warning_unless_required():
    with TimeServer() as server:
        url = server.url
    code, out, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--rest-url", url, "--timeout-s", "2")
    assert code == 0 and "RESULT: OK (keys only)" in out and "warning: could not read" in err
    code, out, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--rest-url", url, "--require-time",
                                "--timeout-s", "2")
    assert code == 5 and "error: could not read" in err


def test_non_integer_time_reply():
    with TimeServer(body=b"<html>maintenance</html>") as server:
        code, _, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--rest-url", server.url,
                                  "--require-time")
    assert code == 5 and "integer of milliseconds" in err


def test_missing_ca_file_exit_2(tmp_path):
    code, _, err = run_inline("--api-key", PUB_B64, "--private-key", SEED_B64, "--ca-file", str(tmp_path / "nope.pem"))
    assert code == 2 and "--ca-file" in err


# ---- pure parts --------------------------------------------------------------------------------

def test_clock_sample_uses_the_midpoint():
    sample = auth_check.clock_sample(1000.0, 1100.0, 1040)
    assert sample.local_mid_ms == 1050.0 and sample.round_trip_ms == 100.0 and sample.drift_ms == 10.0


def test_measure_clock_keeps_the_tightest_round_trip():
    ticks = iter([1.000, 1.200, 2.000, 2.010, 3.000, 3.100])  # round trips of 200, 10 and 100 ms
    servers = iter([1100, 2000, 3050])
    seen = []

    def fetch(url, ctx, timeout):
        seen.append(url)
        return next(servers)

    sample = auth_check.measure_clock("https://x.test/", clock=lambda: next(ticks), fetch=fetch)
    assert seen == ["https://x.test/api/v1/time"] * 3
    assert sample.round_trip_ms == pytest.approx(10.0) and sample.drift_ms == pytest.approx(5.0)


def test_add_arguments_on_a_subparser_sets_help_epilog():
    root = argparse.ArgumentParser(prog="cryptofeed-backpack")
    sub = root.add_subparsers(dest="command").add_parser("auth-check")
    auth_check.add_arguments(sub)
    args = root.parse_args(["auth-check", "--api-key", PUB_B64, "--no-time"])
    assert args.command == "auth-check" and args.window_ms == 5000 and args.rest_url == "https://api.backpack.exchange"
    assert "exit codes:" in sub.format_help()


@pytest.mark.parametrize("text, form", [(SEED.hex(), "hex"), (SEED_B64, "base64"),
                                        (base64.urlsafe_b64encode(bytes([251] * 32)).decode(), "url-safe base64")])
def test_key_form(text, form):
    assert auth_check.key_form(text) == form
