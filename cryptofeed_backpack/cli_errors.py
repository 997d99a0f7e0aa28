"""What the CLI prints and returns when something goes wrong: one line and a documented exit code.

The table here is the single source for ``--help`` and docs/cli.md. ``describe`` is pure: it maps an
exception to (exit code, one line saying what is wrong and the fix); only ``--debug`` shows tracebacks.
"""
from __future__ import annotations

import ssl

from .errors import (BackpackAuthError, BackpackConfigError, BackpackConnectionError, BackpackError,
                     BackpackRegionRestrictedError, BackpackRestError, BackpackServerError, BackpackSymbolError,
                     CircuitOpenError)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
# 3, 4 and 5 are auth-check's (key mismatch, clock drift, time endpoint unreachable)
EXIT_UNREACHABLE = 6
EXIT_REFUSED = 7
EXIT_NO_DATA = 8
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success (also when the reader of stdout closed the pipe, e.g. `| head -1`)"),
    (EXIT_UNEXPECTED, "unexpected error (a bug): run again with --debug and report the traceback"),
    (EXIT_BAD_INPUT, "bad input: a malformed command line, an unknown symbol or channel, an invalid option value"),
    (3, "auth-check: the API key does not belong to the private key"),
    (4, "auth-check: the local clock drifts more than --max-drift-ms"),
    (5, "auth-check: the time endpoint was unreachable and --require-time was given"),
    (EXIT_UNREACHABLE, "the exchange (or simulator, or proxy) could not be reached, or kept failing (5xx, TLS)"),
    (EXIT_REFUSED, "the exchange refused the request (region restriction 451/403, rejected credentials, 4xx)"),
    (EXIT_NO_DATA, "ran to the end of --duration but no data arrived"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


def exit_code_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES)


def _fix_for(exc: BaseException) -> str:
    """The fix the error already carries (as an attribute or in its text), if any."""
    return getattr(exc, "fix", "") or ("fix:" if "fix:" in str(exc) else "")


def describe(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for an exception that ended a command."""
    if isinstance(exc, (UsageError, BackpackSymbolError, BackpackConfigError)):
        return EXIT_BAD_INPUT, f"error: {exc}" + ("" if _fix_for(exc) else "; fix: see --help")
    if isinstance(exc, BackpackAuthError):
        return EXIT_REFUSED, f"error: {exc}"
    if isinstance(exc, BackpackRegionRestrictedError):
        return EXIT_REFUSED, (f"error: {exc}" + ("" if _fix_for(exc) else
                              "; fix: the exchange refuses this location: use a permitted network or a proxy (--help)"))
    if isinstance(exc, (BackpackServerError, CircuitOpenError, BackpackConnectionError)):
        return EXIT_UNREACHABLE, f"error: {exc}" + ("" if _fix_for(exc) else "; fix: check the URL, the network or the proxy, then retry")
    if isinstance(exc, BackpackRestError):
        if exc.status is None:
            return EXIT_UNREACHABLE, f"error: {exc}" + ("" if _fix_for(exc) else "; fix: check the URL, the network or the proxy")
        return EXIT_REFUSED, f"error: {exc}"
    if isinstance(exc, ssl.SSLError):
        return EXIT_UNREACHABLE, (f"error: TLS failed ({exc.__class__.__name__}: {exc}); fix: for the simulator pass "
                                  "--ca-file with the CA path it printed")
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return EXIT_UNREACHABLE, f"error: could not connect ({exc.__class__.__name__}: {exc}); fix: check the URL and that the server is up"
    if isinstance(exc, BackpackError):
        return EXIT_UNEXPECTED, f"error: {exc}"
    return EXIT_UNEXPECTED, (f"unexpected error: {exc.__class__.__name__}: {exc}; run again with --debug for the "
                             "traceback and report it")


class UsageError(BackpackError):
    """A command-line value the CLI itself rejects (exit 2)."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem, fix=fix)
