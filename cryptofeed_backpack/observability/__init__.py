"""Metrics, health and the HTTP endpoint of the feeds (docs/operations.md).

- ``metrics``: ``FeedMetrics``, one prometheus_client registry per feed;
- ``health``: ``evaluate`` (pure) judges a ``FeedState`` into a ``HealthReport``;
- ``sources``: reads ``BackpackFeed`` / ``CcxtBackpackFeed`` into a ``FeedState``;
- ``endpoint``: ``serve_observability`` serves ``/metrics``, ``/health``, ``/health/live``, ``/health/ready``.
"""
from .health import HealthReport, HealthThresholds, evaluate
from .metrics import FeedMetrics
from .sources import ccxt_health, native_health

Metrics = FeedMetrics  # the name callers used before the module was merged
_ENDPOINT_NAMES = ("ObservabilityServer", "serve_observability")


def __getattr__(name: str):
    # the endpoint loads aiohttp.web (about 2 MB of RSS): only a process that serves it pays for it
    if name in _ENDPOINT_NAMES:
        from . import endpoint

        return getattr(endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["FeedMetrics", "HealthReport", "HealthThresholds", "Metrics", "ObservabilityServer", "ccxt_health",
           "evaluate", "native_health", "serve_observability"]
