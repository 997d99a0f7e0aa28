"""One HTTP endpoint for every feed in the process: Prometheus ``/metrics`` and the health probes.

    server = await serve_observability([native_feed, ccxt_feed], host="0.0.0.0", port=9108)
    ...
    await server.close()

- ``/metrics``: Prometheus text from each feed's own registry, merged into one exposition; every
  series carries a ``feed`` label (``native``, ``ccxt``, ``native-2``... or the names you pass),
  plus the process collectors of prometheus_client.
- ``/health``: JSON of every feed's report; 200 when every feed is ``ok`` or ``degraded``,
  503 when any is ``starting`` (never connected yet) or ``down``.
- ``/health/live``: 200 while every feed is running; 503 once one stopped (restart the process).
- ``/health/ready``: 200 only when every feed is connected, subscribed and has its books synced.

It binds 127.0.0.1 unless told otherwise. docs/operations.md describes every metric and reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .health import DEGRADED, OK
from .metrics import without_created

DEFAULT_HOST = "127.0.0.1"


class _MergedRegistry:
    """Collects several feeds' registries as one: a family present in several feeds is written once
    (Prometheus text allows one HELP/TYPE block per name), each sample labelled with its feed."""

    def __init__(self, feeds: dict[str, object], process: CollectorRegistry):
        self.feeds, self.process = feeds, process

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for name, feed in self.feeds.items():
            for family in without_created(feed.metrics.registry.collect()):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                target.samples.extend(Sample(s.name, {**s.labels, "feed": name}, s.value, s.timestamp, s.exemplar)
                                      for s in family.samples)
        yield from merged.values()
        yield from self.process.collect()


@dataclass
class ObservabilityServer:
    runner: web.AppRunner
    host: str
    port: int
    feeds: dict[str, object] = field(default_factory=dict)

    def add(self, feed, name: str | None = None) -> str:
        """Serve one more feed; returns the name its series and report carry."""
        name = name or _free_name(self.feeds, getattr(feed.metrics, "feed", "feed"))
        self.feeds[name] = feed
        return name

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


def _free_name(taken: Mapping[str, object], base: str) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _reports(feeds: Mapping[str, object]) -> dict[str, dict]:
    return {name: feed.health().to_dict() for name, feed in feeds.items()}


async def serve_observability(feeds: Union[Sequence, Mapping[str, object]] = (), host: str = DEFAULT_HOST,
                              port: int = 0) -> ObservabilityServer:
    """Start the endpoint (port 0: any free port; read ``server.port``). ``feeds`` may be added later."""
    process = CollectorRegistry()
    ProcessCollector(registry=process)
    PlatformCollector(registry=process)
    app = web.Application()
    server = ObservabilityServer(web.AppRunner(app, access_log=None), host, port)
    for name, feed in (feeds.items() if isinstance(feeds, Mapping) else ((None, f) for f in feeds)):
        server.add(feed, name)
    merged = _MergedRegistry(server.feeds, process)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(merged)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(request: web.Request) -> web.Response:
        reports = _reports(server.feeds)
        statuses = [r["status"] for r in reports.values()]
        serving = bool(reports) and all(s in (OK, DEGRADED) for s in statuses)
        overall = OK if serving and all(s == OK for s in statuses) else DEGRADED if serving else "unavailable"
        return web.json_response({"status": overall, "live": all(r["live"] for r in reports.values()),
                                  "ready": bool(reports) and all(r["ready"] for r in reports.values()), "feeds": reports},
                                 status=200 if serving else 503)

    async def live(request: web.Request) -> web.Response:
        reports = _reports(server.feeds)
        ok = all(r["live"] for r in reports.values())
        return web.json_response({"live": ok, "feeds": {n: r["live"] for n, r in reports.items()}}, status=200 if ok else 503)

    async def ready(request: web.Request) -> web.Response:
        reports = _reports(server.feeds)
        ok = bool(reports) and all(r["ready"] for r in reports.values())
        body = {"ready": ok, "feeds": {n: {"ready": r["ready"], "status": r["status"],
                                           "reasons": [x["code"] for x in r["reasons"]]} for n, r in reports.items()}}
        return web.json_response(body, status=200 if ok else 503)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    await server.runner.setup()
    site = web.TCPSite(server.runner, host, port)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001  (the port bound when 0 was asked)
    return server
