"""The credential checker behind ``cryptofeed-backpack auth-check`` and ``python -m tools.backpack_auth_check``.

It validates the key formats, derives the public key from the private key and compares it with the
API key (and ``--public-key``), prints the signing string and signature of a sample request, and
measures the local clock against ``GET <rest-url>/api/v1/time``. It never prints the private key in
any form, nor the API key as typed (if the two were swapped, that would be the private key);
only the public key derived from the private key is shown.

The sample signature is a real credential for one read-only request (``balanceQuery`` by default)
and only for ``window_ms`` after its timestamp, which is why printing it is acceptable here.
"""
from __future__ import annotations

import argparse
import http.client
import os
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from . import auth
from .auth import ClockSample, clock_sample
from .config import ENV_API_KEY, ENV_PRIVATE_KEY
from .constants import REST_URL, Rest
from .errors import BackpackAuthError

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # also what argparse uses for a malformed command line
EXIT_KEY_MISMATCH = 3
EXIT_CLOCK_DRIFT = 4
EXIT_TIME_UNREACHABLE = 5

DEFAULT_MAX_DRIFT_MS = 1000
TIME_PATH = Rest.TIME.path

DESCRIPTION = "Check Backpack ED25519 API credentials offline and the local clock against the exchange."
EPILOG = f"""\
credentials: --api-key / --private-key, or the environment variables {ENV_API_KEY} and {ENV_PRIVATE_KEY}
(preferred: a key typed on the command line lands in shell history and in `ps`), or --private-key-file.
Accepted private-key forms: base64 (standard or url-safe) or hex of the 32-byte Ed25519 seed, or of a
64-byte seed||public key. A url-safe key may start with "-": write --private-key=VALUE then.

exit codes:
  0  credentials valid, clock within --max-drift-ms (or not checked)
  2  bad input: a key is missing or malformed, or a bad option
  3  key mismatch: the API key (or --public-key) is not the public key of the private key
  4  clock drift: |local - server| exceeds --max-drift-ms
  5  the time endpoint was unreachable or gave no integer, and --require-time was given
"""


def fetch_server_time_ms(url: str, ssl_context: Optional[ssl.SSLContext], timeout_s: float) -> int:
    """``GET /api/v1/time`` answers text/plain: a bare integer of milliseconds."""
    with urllib.request.urlopen(url, timeout=timeout_s, context=ssl_context) as response:
        body = response.read(64).decode("ascii", "replace").strip()
    if not body.isdigit():
        raise ValueError(f"expected an integer of milliseconds, got {body[:40]!r}")
    return int(body)


def measure_clock(
    rest_url: str,
    ssl_context: Optional[ssl.SSLContext] = None,
    *,
    samples: int = 3,
    timeout_s: float = 5.0,
    clock: Callable[[], float] = time.time,
    fetch: Callable[[str, Optional[ssl.SSLContext], float], int] = fetch_server_time_ms,
) -> ClockSample:
    """Several round trips; keep the one with the shortest round trip (the tightest bound on drift)."""
    url = rest_url.rstrip("/") + TIME_PATH
    best: Optional[ClockSample] = None
    for _ in range(max(1, samples)):
        sent = clock() * 1000
        server = fetch(url, ssl_context, timeout_s)
        sample = clock_sample(sent, clock() * 1000, server)
        if best is None or sample.round_trip_ms < best.round_trip_ms:
            best = sample
    assert best is not None
    return best


def key_form(text: str) -> str:
    """How a key was written (the same rules as auth._decode_key_bytes), without revealing it."""
    stripped = text.strip()
    if len(stripped) in (64, 128) and all(c in "0123456789abcdefABCDEF" for c in stripped):
        return "hex"
    return "url-safe base64" if ("-" in stripped or "_" in stripped) else "base64"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``auth-check``; the lead's cli.py calls this on its sub-parser."""
    parser.description = parser.description or DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--api-key", help=f"base64 (or hex) Ed25519 public key; default ${ENV_API_KEY}")
    parser.add_argument("--private-key", help=f"the API secret; default ${ENV_PRIVATE_KEY} (safer than this option)")
    parser.add_argument("--private-key-file", type=Path, help="read the API secret from this file instead")
    parser.add_argument("--public-key", help="optional: also check this public key against the private key")
    parser.add_argument("--rest-url", default=REST_URL, help=f"REST base URL for {TIME_PATH} (default %(default)s)")
    parser.add_argument("--ca-file", type=Path, help="PEM CA bundle to trust for --rest-url (e.g. the local simulator)")
    parser.add_argument("--instruction", default="balanceQuery", help="instruction of the sample signature (default %(default)s)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a parameter of the sample request; repeatable")
    parser.add_argument("--window-ms", type=int, default=auth.DEFAULT_WINDOW_MS, help="X-Window, 1..60000 (default %(default)s)")
    parser.add_argument("--timestamp-ms", type=int, help="sign the sample at this time instead of now (reproducible output)")
    parser.add_argument("--max-drift-ms", type=float, default=DEFAULT_MAX_DRIFT_MS,
                        help="exit 4 when |local clock - server clock| is larger (default %(default)s)")
    parser.add_argument("--time-samples", type=int, default=3, help="round trips to the time endpoint (default %(default)s)")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="time endpoint timeout (default %(default)s)")
    time_mode = parser.add_mutually_exclusive_group()
    time_mode.add_argument("--no-time", action="store_true", help="skip the clock check (fully offline)")
    time_mode.add_argument("--require-time", action="store_true", help="exit 5 when the time endpoint cannot be read")


def _read_private_key(args: argparse.Namespace, err: TextIO) -> Optional[str]:
    if args.private_key_file is not None:
        try:
            return args.private_key_file.read_text().strip()
        except OSError as exc:
            raise BackpackAuthError(f"cannot read --private-key-file ({exc.strerror})", fix="give a readable file") from None
    if args.private_key:
        print("warning: --private-key on the command line is kept in shell history and visible in `ps`; "
              f"prefer {ENV_PRIVATE_KEY} or --private-key-file", file=err)
        return args.private_key
    return os.environ.get(ENV_PRIVATE_KEY)


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BackpackAuthError(f"--param {pair!r} is not KEY=VALUE", fix="write e.g. --param symbol=SOL_USDC")
        params[key] = value
    return params


def _ssl_context(ca_file: Optional[Path]) -> Optional[ssl.SSLContext]:
    if ca_file is None:
        return None
    if not ca_file.is_file():
        raise BackpackAuthError(f"--ca-file {str(ca_file)!r} does not exist", fix="give the path of a PEM CA bundle")
    return ssl.create_default_context(cafile=str(ca_file))


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the check; returns the exit code (see EPILOG)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run(args, out, err)
    except BackpackAuthError as exc:  # messages from auth.py never contain key material
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    private_text = _read_private_key(args, err)
    api_text = args.api_key or os.environ.get(ENV_API_KEY)
    if not private_text or not api_text:
        missing = " and ".join(n for n, v in (("the private key", private_text), ("the API key", api_text)) if not v)
        print(f"error: {missing} missing; fix: pass --api-key/--private-key or set {ENV_API_KEY}/{ENV_PRIVATE_KEY}", file=err)
        return EXIT_BAD_INPUT
    if not 1 <= args.window_ms <= auth.MAX_WINDOW_MS:
        print(f"error: --window-ms {args.window_ms} is outside 1..{auth.MAX_WINDOW_MS}", file=err)
        return EXIT_BAD_INPUT

    raw_private = auth._decode_key_bytes(private_text, "private key")
    seed = auth.parse_private_key(private_text)
    derived = auth.public_key_from_seed(seed)
    derived_b64 = auth.b64(derived)
    api_key = auth.parse_public_key(api_text, "API key")
    public_key = auth.parse_public_key(args.public_key, "public key") if args.public_key else None
    params = _parse_params(args.param)
    ssl_context = None if args.no_time else _ssl_context(args.ca_file)

    print("Backpack credential check", file=out)
    detail = f"{key_form(private_text)}, {len(raw_private)} bytes"
    print(f"  private key        : valid Ed25519 seed ({detail}; value not shown)", file=out)
    if len(raw_private) == 64:
        if raw_private[32:] == derived:
            print("  private key        : 64-byte form is seed || public key; the first 32 bytes are used", file=out)
        else:
            print("warning: bytes 32..63 of the 64-byte private key are not its public key; only the first 32 "
                  "bytes are used (as ccxt does)", file=err)
    print(f"  derived public key : {derived_b64}", file=out)

    for label, given in (("API key", api_key), ("public key", public_key)):
        if given is None:
            continue
        if given == seed:
            print(f"error: the {label} you gave is the private key (they look swapped); fix: the API key is the "
                  "public key Backpack shows next to the secret", file=err)
            return EXIT_KEY_MISMATCH
        if given != derived:
            print(f"error: the {label} ({key_form(api_text if label == 'API key' else args.public_key)}) does not "
                  f"belong to the private key; fix: use the {label} issued with this secret, i.e. {derived_b64}, "
                  "or the secret issued with this key", file=err)
            return EXIT_KEY_MISMATCH
        print(f"  {label:<19}: matches the derived public key", file=out)

    ts = args.timestamp_ms if args.timestamp_ms is not None else auth.now_ms()
    message = auth.signing_string(args.instruction, params, ts, args.window_ms)
    signature = auth.sign(seed, message)
    assert auth.verify(derived, message, signature)
    print(f"  sample instruction : {args.instruction} (timestamp {ts} ms, window {args.window_ms} ms)", file=out)
    print(f"  signing string     : {message}", file=out)
    print(f"  X-Signature        : {signature}", file=out)
    print(f"  headers            : X-API-Key={derived_b64} X-Timestamp={ts} X-Window={args.window_ms}", file=out)

    if args.no_time:
        print("  clock              : not checked (--no-time)", file=out)
        print("RESULT: OK", file=out)
        return EXIT_OK
    try:
        sample = measure_clock(args.rest_url, ssl_context, samples=args.time_samples, timeout_s=args.timeout_s)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"{'error' if args.require_time else 'warning'}: could not read {args.rest_url}{TIME_PATH}: {reason}",
              file=err)
        if args.require_time:
            return EXIT_TIME_UNREACHABLE
        print("  clock              : not measured (time endpoint unreachable)", file=out)
        print("RESULT: OK (keys only)", file=out)
        return EXIT_OK
    drift = sample.drift_ms
    direction = "ahead of" if drift > 0 else "behind" if drift < 0 else "level with"
    print(f"  server time        : {sample.server_ms} ms ({args.rest_url}{TIME_PATH})", file=out)
    print(f"  clock drift        : {drift:+.0f} ms (local clock {direction} the exchange; "
          f"round trip {sample.round_trip_ms:.0f} ms, midpoint estimate)", file=out)
    if abs(drift) > args.max_drift_ms:
        print(f"error: clock drift {drift:+.0f} ms exceeds --max-drift-ms {args.max_drift_ms:.0f}; fix: sync the clock "
              f"(NTP); signed requests fail once drift approaches the window ({args.window_ms} ms)", file=err)
        return EXIT_CLOCK_DRIFT
    print("RESULT: OK", file=out)
    return EXIT_OK


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    return run(build_parser(prog).parse_args(argv))
