"""Typed errors. Every one has the same shape: a message, the fix, whether retrying can help, and a
context of structured facts (field, status, code, url, cause...). Rendered as
``<message>[; cause: <cause>][; fix: <fix>]``.

No error text ever includes a private key, a signature or proxy credentials: callers pass text
from elsewhere through the REST client's scrubber, and config errors never echo a secret field.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional


class BackpackError(Exception):
    """Base class for every error this package raises."""

    retryable: bool = False

    def __init__(self, message: str, *, fix: str = "", retryable: Optional[bool] = None,
                 context: Optional[Mapping[str, Any]] = None):
        self.message = message
        self.fix = fix
        self.context = dict(context or {})
        if retryable is not None:
            self.retryable = retryable
        text = message
        if self.context.get("cause"):
            text += f"; cause: {self.context['cause']}"
        if fix:
            text += f"; fix: {fix}"
        super().__init__(text)

    @property
    def cause(self) -> str:
        return self.context.get("cause", "")


class BackpackConfigError(BackpackError, ValueError):
    """A configuration value is invalid. The message names the field and the fix."""

    @classmethod
    def for_field(cls, field: str, problem: str, fix: str = "") -> "BackpackConfigError":
        return cls(f"BackpackConfig.{field}: {problem}", fix=fix, context={"field": field, "problem": problem})

    @property
    def field(self) -> str:
        return self.context.get("field", "config")


class BackpackAuthError(BackpackError):
    """Credentials are missing, malformed, or were rejected by the exchange."""

    @classmethod
    def because(cls, message: str, cause: str = "", fix: str = "") -> "BackpackAuthError":
        return cls(message, fix=fix, context={"cause": cause} if cause else None)


class BackpackSymbolError(BackpackError, ValueError):
    """A symbol is unknown to Backpack or cannot be mapped."""


class BackpackProtocolError(BackpackError):
    """The exchange sent something that breaks the documented protocol."""


class BackpackStreamError(BackpackError):
    """The exchange answered a WebSocket request with an error frame (4002, 4006, 4008, ...)."""

    @classmethod
    def from_frame(cls, code: int, message: str, stream: Optional[str] = None) -> "BackpackStreamError":
        text = f"websocket error {code}: {message}" + (f" (stream {stream})" if stream else "")
        return cls(text, context={"code": code, "server_message": message, "stream": stream})

    @property
    def code(self) -> Optional[int]:
        return self.context.get("code")


class BackpackRestError(BackpackError):
    """A REST call failed. Carries the HTTP status and Backpack's error code and message."""

    @classmethod
    def from_reply(cls, status: Optional[int], code: Optional[str], message: str, *, url: str = "", fix: str = "",
                   **context: Any):
        head = f"HTTP {status}" if status is not None else "request failed"
        text = f"{head} {code or ''}: {message}".replace("  ", " ")
        if url:
            text += f" [{url}]"
        error = cls(text, fix=fix, context={"status": status, "code": code, "url": url, **context})
        error.message = message  # Backpack's own message, as the exchange wrote it
        return error

    @property
    def status(self) -> Optional[int]:
        return self.context.get("status")

    @property
    def code(self) -> Optional[str]:
        return self.context.get("code")

    @property
    def url(self) -> str:
        return self.context.get("url", "")


class BackpackRateLimitError(BackpackRestError):
    """429 TOO_MANY_REQUESTS after the retries ran out."""

    retryable = True

    @property
    def retry_after(self) -> Optional[float]:
        return self.context.get("retry_after")

    @retry_after.setter
    def retry_after(self, value: Optional[float]) -> None:
        self.context["retry_after"] = value


class BackpackServerError(BackpackRestError):
    """5xx from the exchange (or a proxy in front of it) after the retries ran out."""

    retryable = True


class BackpackRegionRestrictedError(BackpackRestError):
    """451 or 403: the exchange refuses this client's location. Not retried."""


class BackpackConnectionError(BackpackError):
    """The exchange (or the configured proxy) could not be reached."""

    retryable = True


class CircuitOpenError(BackpackError):
    """The REST circuit breaker is open after repeated failures; calls fail fast until it half-opens."""

    retryable = True

    @classmethod
    def after(cls, failures: int, retry_in: float) -> "CircuitOpenError":
        return cls(f"REST circuit open after {failures} consecutive failures; next attempt allowed in {retry_in:.1f}s",
                   fix="wait for the exchange to recover; the breaker lets one trial call through when it half-opens",
                   context={"failures": failures, "retry_in": retry_in})

    @property
    def retry_in(self) -> float:
        return self.context.get("retry_in", 0.0)

    @property
    def failures(self) -> int:
        return self.context.get("failures", 0)
