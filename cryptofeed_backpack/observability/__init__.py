"""Metrics, health and the HTTP endpoint of the feeds (docs/operations.md).

- ``metrics``: ``FeedMetrics``, one prometheus_client registry per feed;
- ``health``: ``evaluate`` (pure) judges a ``FeedState`` into a ``HealthReport``;
- ``sources``: reads ``BackpackFeed`` / ``CcxtBackpackFeed`` into a ``FeedState``;
- ``endpoint``: ``serve_observability`` serves ``/metrics``, ``/health``, ``/health/live``, ``/health/ready``.
"""
from .endpoint import ObservabilityServer, serve_observability
from .health import HealthReport, HealthThresholds, evaluate
from .metrics import FeedMetrics
from .sources import ccxt_health, native_health

Metrics = FeedMetrics  # the name callers used before the module was merged

__all__ = ["FeedMetrics", "HealthReport", "HealthThresholds", "Metrics", "ObservabilityServer", "ccxt_health",
           "evaluate", "native_health", "serve_observability"]
