"""The plugin's own REST calls in cryptofeed's raw data capture, and back out of it in ``playback``.

cryptofeed records a feed's traffic through ``Connection.raw_data_callback`` (set by
``FeedHandler(raw_data_collection=AsyncFileCallback(path))``): WebSocket frames go to
``<conn id>.ws.*`` files, REST replies read through cryptofeed's ``HTTPAsyncConn`` go to
``*.http.*`` files as ``<url> -> <ts>: <body>`` lines, and the symbol list read through
``HTTPSync`` goes, in the same line form, to the file named after the feed id (``BACKPACK.0``),
which ``write_header`` also uses for the ``configuration:`` line.
``cryptofeed.raw_data_collection.playback`` serves replies back by swapping ``HTTPSync.read``
(symbol list, in file order) and ``HTTPAsyncConn.read`` (per URL, in order) for readers of
those files. This plugin's REST client is aiohttp of its own (proxies, CA, retries), so it records
its public GET replies into the same places and, when those readers are swapped in, reads from
them instead of the network. See docs/replay.md.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from cryptofeed.connection import Connection, HTTPAsyncConn, HTTPSync

from .constants import EXCHANGE_ID, Rest

FEED_ID = EXCHANGE_ID
# the symbol list is the one REST reply cryptofeed records under the feed id, not as HTTP
SYMBOL_LIST_PATH = Rest.MARKETS.path
HTTP_CONN_ID = f"{FEED_ID}.http.rest"

# What cryptofeed's own readers are; playback replaces them on the classes for its duration.
_LIVE_ASYNC_READ = HTTPAsyncConn.__dict__["read"]
_LIVE_SYNC_READ = HTTPSync.__dict__["read"]


class CaptureExhausted(LookupError):
    """The recording holds no (further) reply for this URL: the capture ended before it.

    Deliberately not a BackpackError: it is the end of the recording, not a failure to retry.
    """


def replaying() -> bool:
    """True while cryptofeed's playback has swapped in its readers of a capture."""
    return HTTPAsyncConn.__dict__.get("read") is not _LIVE_ASYNC_READ or HTTPSync.__dict__.get("read") is not _LIVE_SYNC_READ


def recording() -> bool:
    return Connection.raw_data_callback is not None and not replaying()


def url_of(rest_url: str, path: str, params: Any) -> str:
    """The URL a reply is filed under: the request URL with its query in the caller's order."""
    items = (params.items() if isinstance(params, Mapping) else params) if params else ()
    query = urlencode([(k, v) for k, v in items if v is not None])
    return f"{rest_url}{path}" + (f"?{query}" if query else "")


# The last symbol list fetched, and the captures it was filed in: a feed built on cached symbols
# still files the list its symbols came from (``file_symbol_list``).
_symbol_list: tuple[str, str] | None = None
_symbol_list_filed_in: set[int] = set()


async def record(rest_url: str, path: str, params: Any, body: bytes) -> None:
    """File one public GET reply in the capture (if one is on), in the line form playback reads."""
    global _symbol_list
    callback = Connection.raw_data_callback
    if path == SYMBOL_LIST_PATH:
        if not replaying():
            _symbol_list = (url_of(rest_url, path, params), body.decode("utf-8", errors="replace"))
            _symbol_list_filed_in.clear()
            file_symbol_list()
    elif callback is not None and not replaying():
        await callback(body.decode("utf-8", errors="replace"), time.time(), HTTP_CONN_ID,
                       endpoint=url_of(rest_url, path, params))


def file_symbol_list() -> None:
    """Write the symbol list to the capture once (called as a feed is built, before its configuration line).

    Written at once (``sync_callback``, as cryptofeed files its own symbol reads): playback takes the
    feed-id file's lines in order and hands the first one to the first symbol-list read.
    """
    callback = Connection.raw_data_callback
    if callback is None or replaying() or _symbol_list is None or id(callback) in _symbol_list_filed_in:
        return
    url, text = _symbol_list
    callback.sync_callback(text, time.time(), FEED_ID, endpoint=url)
    _symbol_list_filed_in.add(id(callback))


async def replayed(rest_url: str, path: str, params: Any) -> bytes:
    """The recorded reply for this call (playback only); ``CaptureExhausted`` when there is none."""
    url = url_of(rest_url, path, params)
    try:
        if path == SYMBOL_LIST_PATH:
            data: Any = HTTPSync().read(url, json=True, uuid=FEED_ID)
            # playback parsed the line with yapic.json, which turns ISO date strings into datetimes
            return json.dumps(data, default=_as_recorded).encode()
        data = await HTTPAsyncConn(HTTP_CONN_ID).read(url)
    except IndexError:
        raise CaptureExhausted(f"the capture has no further reply for GET {url}") from None
    if isinstance(data, tuple):  # a reply recorded with its headers
        data = data[0]
    return data.encode() if isinstance(data, str) else bytes(data)


def _as_recorded(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a recorded symbol list")
