"""A ``/metrics`` (Prometheus text) and ``/health`` (JSON) HTTP endpoint for running feeds.

    server = await serve_observability([feed], port=9108)   # http://127.0.0.1:9108/metrics
    ...
    await server.close()

``/health`` answers 200 when every feed is ``ok`` and 503 otherwise, so a load balancer or a
Kubernetes probe can use it directly. It binds 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from aiohttp import web


@dataclass
class ObservabilityServer:
    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


def _label(feed, index: int) -> str:
    return f"{feed.id.lower()}_{index}" if index else feed.id.lower()


async def serve_observability(feeds: Sequence, host: str = "127.0.0.1", port: int = 0) -> ObservabilityServer:
    async def metrics(request: web.Request) -> web.Response:
        text = "".join(feed.metrics.prometheus(prefix=_label(feed, i)) for i, feed in enumerate(feeds))
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def health(request: web.Request) -> web.Response:
        reports = {_label(feed, i): feed.health().to_dict() for i, feed in enumerate(feeds)}
        healthy = all(r["status"] == "ok" for r in reports.values())
        return web.json_response({"status": "ok" if healthy else "unhealthy", "feeds": reports},
                                 status=200 if healthy else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001  (the port actually bound when 0 was asked)
    return ObservabilityServer(runner, port)
