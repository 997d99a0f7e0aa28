"""A cryptofeed backend whose writer stopped is reported, not silent.

Each cryptofeed backend (Redis, Postgres, ZMQ...) writes from a task of its own. When that task ends
with an error (the server went away, a write was refused) cryptofeed says nothing: the callbacks
keep queueing records that no one will write, and the error surfaces only as "Task exception was
never retrieved" when the task is collected, if ever. A feed starts its backends with
``start_backends``; a writer that fails then gives one error line in the log, a count in
``backpack_backend_failures_total`` and a ``backend_failed`` reason in the health report, which is
then not ready (docs/operations.md).
"""
from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import NamedTuple

LOG = logging.getLogger("feedhandler")


class BackendFailure(NamedTuple):
    at: float  # when the writer ended
    backend: str  # cryptofeed's name for it, e.g. "TradeStream"
    error: str  # "<type>: <message>"


def start_backends(feed, loop: asyncio.AbstractEventLoop) -> None:
    """Start ``feed``'s backends as cryptofeed's ``Feed.start`` does, and watch their writers: one that
    fails is reported (``feed.backend_failure``)."""
    for callbacks in feed.callbacks.values():
        for backend in callbacks:
            if hasattr(backend, "start"):
                backend.start(loop, multiprocess=feed.config.backend_multiprocessing)
            worker = getattr(backend, "worker", None)
            if isinstance(worker, asyncio.Task):  # a multiprocess backend's worker is a Process: not watched
                worker.add_done_callback(partial(_on_writer_done, feed, backend))


def _on_writer_done(feed, backend, task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    failure = BackendFailure(time.time(), feed.backend_name(backend), f"{type(exc).__name__}: {exc}")
    feed.backend_failure = failure
    feed.metrics.inc("backend_failures")
    LOG.error("%s: the %s backend stopped writing (%s); its records from now on are not stored: check its "
              "server, then restart the feed", feed.id, failure.backend, failure.error)
