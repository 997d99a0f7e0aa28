"""Typed errors. Each message says what went wrong and what to do about it.

No error text ever includes a private key, a signature or proxy credentials.
"""
from __future__ import annotations


class BackpackError(Exception):
    """Base class for every error this package raises."""


class BackpackConfigError(BackpackError, ValueError):
    """A configuration value is invalid. The message names the field and the fix."""

    def __init__(self, field: str, problem: str, fix: str = ""):
        self.field = field
        self.problem = problem
        self.fix = fix
        text = f"BackpackConfig.{field}: {problem}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class BackpackAuthError(BackpackError):
    """Credentials are missing, malformed, or were rejected by the exchange."""

    def __init__(self, message: str, *, cause: str = "", fix: str = ""):
        self.cause = cause
        self.fix = fix
        text = message
        if cause:
            text += f"; cause: {cause}"
        if fix:
            text += f"; fix: {fix}"
        super().__init__(text)


class BackpackSymbolError(BackpackError, ValueError):
    """A symbol is unknown to Backpack or cannot be mapped."""


class BackpackProtocolError(BackpackError):
    """The exchange sent something that breaks the documented protocol."""


class BackpackStreamError(BackpackError):
    """The exchange answered a WebSocket request with an error frame (4002, 4006, 4008, ...)."""

    def __init__(self, code: int, message: str, stream: str | None = None):
        self.code = code
        self.message = message
        self.stream = stream
        super().__init__(f"websocket error {code}: {message}" + (f" (stream {stream})" if stream else ""))


class BookGapError(BackpackError):
    """A depth delta does not continue the sequence: the local book is invalid and must be resynced."""

    def __init__(self, symbol: str, expected_first: int, got_first: int):
        self.symbol = symbol
        self.expected_first = expected_first
        self.got_first = got_first
        super().__init__(f"{symbol}: depth gap, expected U={expected_first}, got U={got_first}")


class BackpackRestError(BackpackError):
    """A REST call failed. Carries the HTTP status and Backpack's error code and message."""

    retryable: bool = False

    def __init__(self, status: int | None, code: str | None, message: str, *, url: str = "", fix: str = ""):
        self.status = status
        self.code = code
        self.message = message
        self.url = url
        self.fix = fix
        head = f"HTTP {status}" if status is not None else "request failed"
        text = f"{head} {code or ''}: {message}".replace("  ", " ")
        if url:
            text += f" [{url}]"
        if fix:
            text += f"; {fix}"
        super().__init__(text)


class BackpackRateLimitError(BackpackRestError):
    """429 TOO_MANY_REQUESTS after the retries ran out."""

    retryable = True

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class BackpackServerError(BackpackRestError):
    """5xx from the exchange (or a proxy in front of it) after the retries ran out."""

    retryable = True


class BackpackRegionRestrictedError(BackpackRestError):
    """451 or 403: the exchange refuses this client's location. Not retried."""


class BackpackConnectionError(BackpackError):
    """The exchange (or the configured proxy) could not be reached."""


class CircuitOpenError(BackpackError):
    """The REST circuit breaker is open after repeated failures; calls fail fast until it half-opens."""

    def __init__(self, failures: int, retry_in: float):
        self.failures = failures
        self.retry_in = retry_in
        super().__init__(
            f"REST circuit open after {failures} consecutive failures; next attempt allowed in {retry_in:.1f}s"
        )
