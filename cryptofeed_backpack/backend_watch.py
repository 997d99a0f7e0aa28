"""The feed's cryptofeed backends: started and watched, so a writer that stops is reported, not
silent; drained at stop, so nothing queued before the stop is lost.

Each cryptofeed backend (Redis, Postgres, ZMQ...) writes from a task of its own. When that task ends
with an error (the server went away, a write was refused) cryptofeed says nothing: the callbacks
keep queueing records that no one will write, and the error surfaces only as "Task exception was
never retrieved" when the task is collected, if ever. A feed starts its backends with
``start_backends``; a writer that fails then gives one error line in the log, a count in
``backpack_backend_failures_total`` and a ``backend_failed`` reason in the health report, which is
then not ready (docs/operations.md).

At stop, cryptofeed 2.5's ``Feed.shutdown`` calls each backend's ``BackendQueue.stop``, which queues
the stop sentinel and at once sets ``running`` False. A writer awaiting its server for one batch
then finishes that batch, finds ``running`` False and quits: the records queued behind that batch
are never written (a Redis test lost 2 of 75 trades this way, now and then). A feed calls
``drain_backends`` first, so each in-process writer reads a sentinel of its own, and with it
everything queued before the stop, while ``running`` is still True.
"""
from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Iterable, NamedTuple

from cryptofeed.backends.backend import SHUTDOWN_SENTINEL

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


def feed_backends(feed) -> list:
    """Every callback of ``feed`` that has a writer task, each once (a backend may serve channels)."""
    seen: dict[int, object] = {}
    for callbacks in feed.callbacks.values():
        for backend in callbacks:
            if isinstance(getattr(backend, "worker", None), asyncio.Task):
                seen.setdefault(id(backend), backend)
    return list(seen.values())


async def drain_backends(backends: Iterable, timeout: float, owner: str) -> None:
    """Before cryptofeed's ``BackendQueue.stop``: let each in-process writer write everything queued
    so far, up to ``timeout`` seconds in all. A writer that has ended, or a multiprocess one (its
    process reads the pipe up to the sentinel itself), is left to cryptofeed."""
    waits = {}
    for backend in backends:
        worker = getattr(backend, "worker", None)
        if getattr(backend, "multiprocess", False) or not isinstance(worker, asyncio.Task) or worker.done():
            continue
        await backend.queue.put(SHUTDOWN_SENTINEL)  # the writer's read_queue takes it as the end of its batch
        waits[asyncio.ensure_future(_written_or_ended(backend.queue, worker))] = backend
    if not waits:
        return
    _, pending = await asyncio.wait(waits, timeout=timeout)
    for wait in pending:
        wait.cancel()
        backend = waits[wait]
        LOG.warning("%s: the %s backend had not written its %d queued records %gs into the stop "
                    "(connection.stop_drain_s)", owner, type(backend).__name__, backend.queue.qsize(), timeout)


async def _written_or_ended(queue: asyncio.Queue, worker: asyncio.Task) -> None:
    # queue.join(): every item, the sentinel included, marked done; a writer that fails marks none
    joined = asyncio.ensure_future(queue.join())
    try:
        await asyncio.wait({joined, worker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        joined.cancel()
