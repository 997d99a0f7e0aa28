"""cryptofeed's backend classes, made fit for Backpack data (docs/collect.md).

Every record must carry what a consumer needs to detect gaps and deduplicate. Trades already carry
their id. Books do not: cryptofeed 2.5's ``OrderBook.to_dict`` leaves out ``sequence_number``, so
the Backpack update id ``u`` reached no backend. ``SequencedBook`` puts it back into every book
record (snapshot and delta) of every backend kind, with the number of the record before it.

Postgres needs more (cryptofeed 2.5's ``cryptofeed.backends.postgres``):
- ``FundingPostgres.format`` writes ``predicted_rate`` unquoted, so a Backpack funding record
  (no predicted rate: None) becomes the SQL word ``None``, the INSERT fails and the writer task
  dies silently on its first batch;
- None anywhere (a ticker side, a candle's trade count) has the same effect, and ``closed=False``
  becomes NULL;
- a duplicate row raises inside one transaction and loses the whole batch.
``BackpackPostgres`` formats every column itself (NULL for None, quoted literals) and inserts with
``ON CONFLICT DO NOTHING`` against the unique keys of ``schema/postgres.sql``.
"""
from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER, TRADES

from .errors import BackpackConfigError

# backend kind -> (module, class-name stem per channel, extra a user installs for its client library)
_STEMS = {TRADES: "Trade", L2_BOOK: "Book", TICKER: "Ticker", CANDLES: "Candles", FUNDING: "Funding",
          OPEN_INTEREST: "OpenInterest", LIQUIDATIONS: "Liquidations"}
KINDS: dict[str, tuple[str, str, str]] = {
    "redis": ("cryptofeed.backends.redis", "{stem}Redis", "pip install 'cryptofeed-backpack[redis]'"),
    "redis_stream": ("cryptofeed.backends.redis", "{stem}Stream", "pip install 'cryptofeed-backpack[redis]'"),
    "postgres": ("cryptofeed.backends.postgres", "{stem}Postgres", "pip install 'cryptofeed-backpack[postgres]'"),
    "kafka": ("cryptofeed.backends.kafka", "{stem}Kafka", "pip install 'cryptofeed-backpack[kafka]'"),
    "zmq": ("cryptofeed.backends.zmq", "{stem}ZMQ", "pip install 'cryptofeed-backpack[zmq]'"),
    "socket": ("cryptofeed.backends.socket", "{stem}Socket", "nothing (standard library)"),
}
CHANNELS = tuple(_STEMS)


class SequencedBook:
    """Mixin for a cryptofeed book backend: each record gets ``sequence_number`` (Backpack's ``u``;
    a snapshot: its ``lastUpdateId``) and ``prev_sequence_number``, the number of the record this
    backend wrote before it for the same symbol (None for the first).

    The feed emits a delta only when it continues the book (``U == previous u + 1``) and starts
    again from a snapshot after any break, so a consumer that finds no record numbered
    ``prev_sequence_number`` before a delta has lost records on the way (docs/collect.md).
    cryptofeed awaits a backend's ``__call__`` once per book update and the record is queued within
    that call, so the numbers stored here belong to the record being written."""

    async def __call__(self, book, receipt_timestamp: float):
        last = self.__dict__.setdefault("_last_sequence", {})
        self._numbers = (book.sequence_number, last.get(book.symbol))
        await super().__call__(book, receipt_timestamp)
        last[book.symbol] = book.sequence_number

    async def write(self, data):
        seq, prev = self._numbers
        data["sequence_number"] = seq if seq is not None else self.none_to
        data["prev_sequence_number"] = prev if prev is not None else self.none_to
        await super().write(data)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat(sep=' ')}'"
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    return "'" + value.replace("'", "''") + "'"


def _utc(ts: float | None) -> datetime | None:
    # naive UTC, as cryptofeed's own Postgres backend writes TIMESTAMP columns
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def _row(*values: Any) -> str:
    return "(" + ",".join(_literal(v) for v in values) + ")"


# channel -> (columns, function from cryptofeed's record dict to the values). schema/postgres.sql
# creates these tables with the unique keys the inserts rely on.
POSTGRES_COLUMNS: dict[str, tuple[tuple[str, ...], Callable[[dict], tuple]]] = {
    TRADES: (("timestamp", "receipt_timestamp", "exchange", "symbol", "side", "amount", "price", "id", "type"),
             lambda d: (d["side"], d["amount"], d["price"], d["id"], d.get("type"))),
    TICKER: (("timestamp", "receipt_timestamp", "exchange", "symbol", "bid", "ask"),
             lambda d: (d["bid"], d["ask"])),
    CANDLES: (("timestamp", "receipt_timestamp", "exchange", "symbol", "start", "stop", "interval", "trades",
               "open", "close", "high", "low", "volume", "closed"),
              lambda d: (_utc(d["start"]), _utc(d["stop"]), d["interval"], d["trades"], d["open"], d["close"],
                         d["high"], d["low"], d["volume"], d["closed"])),
    FUNDING: (("timestamp", "receipt_timestamp", "exchange", "symbol", "mark_price", "rate", "next_funding_time",
               "predicted_rate"),
              lambda d: (d["mark_price"], d["rate"], _utc(d["next_funding_time"]), d.get("predicted_rate"))),
    OPEN_INTEREST: (("timestamp", "receipt_timestamp", "exchange", "symbol", "open_interest"),
                    lambda d: (d["open_interest"],)),
    LIQUIDATIONS: (("timestamp", "receipt_timestamp", "exchange", "symbol", "side", "quantity", "price", "id", "status"),
                   lambda d: (d["side"], d["quantity"], d["price"], d["id"], d["status"])),
    L2_BOOK: (("timestamp", "receipt_timestamp", "exchange", "symbol", "sequence_number", "prev_sequence_number", "kind",
               "data"),
              lambda d: (d.get("sequence_number"), d.get("prev_sequence_number"), "delta" if "delta" in d else "snapshot",
                         {"delta": d["delta"]} if "delta" in d else {"snapshot": d["book"]})),
}


class BackpackPostgres:
    """Mixin over a cryptofeed ``*Postgres`` class: explicit columns, NULLs, idempotent inserts."""

    channel: str

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        columns, self._values = POSTGRES_COLUMNS[self.channel]
        self.insert_statement = f"INSERT INTO {self.table} ({','.join(columns)}) VALUES "

    def format(self, data: tuple) -> str:
        exchange, symbol, timestamp, receipt, record = data
        return _row(timestamp, receipt, exchange, symbol, *self._values(record))

    async def write_batch(self, updates: list) -> None:
        await self._connect()
        rows = ",".join(self.format(u) for u in updates)
        # A row already written (a reconnect replay, a redundant collector) is skipped, never the batch.
        await self.conn.execute(self.insert_statement + rows + " ON CONFLICT DO NOTHING")


def backend_class(kind: str, channel: str) -> type:
    """The class that writes ``channel`` to a ``kind`` backend, adapted as described above."""
    if kind not in KINDS:
        raise BackpackConfigError.for_field("collect.backends[].type", f"unknown backend {kind!r}", f"use one of {', '.join(KINDS)}")
    if channel not in _STEMS:
        raise BackpackConfigError.for_field("collect.channels", f"{channel!r} cannot be written to a backend by collect",
                                  f"use some of {', '.join(CHANNELS)}")
    module_name, pattern, install = KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackpackConfigError.for_field("collect.backends[].type", f"the {kind} backend needs {exc.name}", install) from exc
    base = getattr(module, pattern.format(stem=_STEMS[channel]))
    mixins: tuple[type, ...] = ()
    if kind == "postgres":
        mixins += (BackpackPostgres,)
    if channel == L2_BOOK:
        mixins += (SequencedBook,)
    if not mixins:
        return base
    return type(f"Backpack{base.__name__}", mixins + (base,), {"channel": channel})
