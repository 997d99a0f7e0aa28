"""Replay recorded frames to subscribers, and keep the book they imply for REST /depth.

Two input formats are read (one record per line):

* JSONL: ``{"ts": <epoch seconds float>, "stream": "<stream name>", "frame": "<frame text>"}``
  (what ``BackpackSimulator(record=path)`` writes);
* cryptofeed's raw-data capture (``cryptofeed.raw_data_collection.AsyncFileCallback``):
  ``<ts>: <frame text>`` for received WebSocket frames and ``<url> -> <ts>: <body>`` for REST
  replies; a REST ``/api/v1/depth?symbol=X`` reply seeds that symbol's book. Other lines
  (``configuration:``, sends, connects) are skipped.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from ..constants import Rest

_RAW_WS = re.compile(r"^(\d+(?:\.\d+)?): (.*)$")
_RAW_REST = re.compile(r"^(\S+) -> (\d+(?:\.\d+)?): (.*)$")


@dataclass
class Record:
    ts: float
    stream: Optional[str]  # None for a REST snapshot record
    frame: str
    symbol: Optional[str] = None


@dataclass
class ReplayBook:
    """Book rebuilt from replayed depth frames; keyed by Decimal price."""

    bids: dict = field(default_factory=dict)
    asks: dict = field(default_factory=dict)
    update_id: int = 0

    def apply_levels(self, side: dict, levels) -> None:
        for price, qty in levels:
            p, q = Decimal(price), Decimal(qty)
            if q == 0:
                side.pop(p, None)
            else:
                side[p] = q


def load(path: str | Path) -> list[Record]:
    records = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            obj = json.loads(line)
            records.append(Record(float(obj["ts"]), obj["stream"], obj["frame"]))
            continue
        rest = _RAW_REST.match(line)
        if rest and "://" in rest.group(1):
            url = urlsplit(rest.group(1))
            if url.path.endswith(Rest.DEPTH.path):
                sym = parse_qs(url.query).get("symbol", [None])[0]
                records.append(Record(float(rest.group(2)), None, rest.group(3), symbol=sym))
            continue
        ws = _RAW_WS.match(line)
        if ws:
            text = ws.group(2)
            try:
                stream = json.loads(text).get("stream")
            except (ValueError, AttributeError):
                stream = None
            if stream:
                records.append(Record(float(ws.group(1)), stream, text))
    records.sort(key=lambda r: r.ts)
    return records


def symbols_of(records: list[Record]) -> list[str]:
    """Market symbols appearing in the recording (stream suffixes), in first-seen order."""
    seen: dict[str, None] = {}
    for r in records:
        if r.symbol:
            seen.setdefault(r.symbol, None)
        elif r.stream:
            from .streams import StreamError, parse_stream

            try:
                s = parse_stream(r.stream)
            except StreamError:
                continue
            if s.symbol and not s.private:
                seen.setdefault(s.symbol, None)
    return list(seen)


class Replayer:
    def __init__(self, records: list[Record], hub, speed: Optional[float]):
        self.records = records
        self.hub = hub
        self.speed = speed
        self.books: dict[str, ReplayBook] = {}
        self.done = asyncio.Event()

    def _track(self, rec: Record) -> None:
        if rec.stream is None:
            body = json.loads(rec.frame)
            book = self.books[rec.symbol] = ReplayBook()
            book.apply_levels(book.asks, body.get("asks", ()))
            book.apply_levels(book.bids, body.get("bids", ()))
            book.update_id = int(body.get("lastUpdateId", 0))
            return
        if not rec.stream.startswith("depth.") or rec.stream.count(".") > 1 and rec.stream.split(".")[1].endswith("ms"):
            return
        data = json.loads(rec.frame).get("data") or {}
        book = self.books.setdefault(data.get("s", rec.stream[6:]), ReplayBook())
        book.apply_levels(book.asks, data.get("a", ()))
        book.apply_levels(book.bids, data.get("b", ()))
        book.update_id = int(data.get("u", book.update_id))

    async def run(self) -> None:
        if not self.records:
            self.done.set()
            return
        t0, wall0 = self.records[0].ts, time.monotonic()
        batch = 0
        for rec in self.records:
            if self.speed:
                wait = (rec.ts - t0) / self.speed - (time.monotonic() - wall0)
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                batch += 1
                if batch % 500 == 0:
                    await asyncio.sleep(0)  # let writers drain
            try:
                self._track(rec)
            except (ValueError, TypeError, KeyError):
                pass  # a malformed recorded frame is still replayed as it is
            if rec.stream is not None:
                self.hub.publish_raw(rec.stream, rec.stream, rec.frame)
        self.done.set()
