"""``cryptofeed-backpack collect``: run BackpackFeed from a config file into cryptofeed's backends.

The file follows cryptofeed's config.yaml conventions (``log``, ``backend_multiprocessing``, the
exchange section ``backpack:`` with BackpackConfig options and ``key_id``/``key_secret``) plus a
``collect:`` section for what to collect and where (examples/collect.yaml, docs/collect.md):

    collect:
      symbols: all                  # or a list, in either form: BTC-USDC-PERP or BTC_USDC_PERP
      channels: [trades, l2_book, ticker, candles, funding]
      shard: 1/3                    # optional; --shard overrides
      backends:
        - {type: redis_stream, host: 127.0.0.1, port: 6379}
      metrics: {host: 127.0.0.1, port: 9108}   # optional; --metrics-port overrides
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from cryptofeed.defines import FUNDING, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST

from .backends import CHANNELS, backend_class
from .errors import BackpackConfigError
from .sharding import Shard

LOG = logging.getLogger("feedhandler")
PERPETUAL_ONLY = (FUNDING, OPEN_INTEREST, LIQUIDATIONS)
#: how long stop() waits for the backends to write what they hold (``collect.stop_drain_s``)
DEFAULT_BACKEND_DRAIN_S = 10.0
#: then how long a cancelled writer gets to unwind
WRITER_CANCEL_WAIT_S = 1.0
_COLLECT_KEYS = {"symbols", "channels", "shard", "backends", "metrics", "max_depth", "candle_interval",
                 "candle_closed_only", "numeric_type", "stop_drain_s"}


@dataclass(frozen=True)
class BackendSpec:
    type: str
    options: dict = field(default_factory=dict)
    book_options: dict = field(default_factory=dict)  # only for the book writer (snapshot_interval, snapshots_only)


@dataclass(frozen=True)
class CollectSettings:
    symbols: Any  # "all" or a list of symbols
    channels: tuple[str, ...]
    backends: tuple[BackendSpec, ...]
    shard: Optional[Shard] = None
    metrics_host: str = "127.0.0.1"
    metrics_port: Optional[int] = None
    max_depth: int = 0
    candle_interval: str = "1m"
    candle_closed_only: bool = True  # cryptofeed's default: only finished candles
    numeric_type: str = "str"
    stop_drain_s: float = DEFAULT_BACKEND_DRAIN_S

    @classmethod
    def parse(cls, section: Any) -> "CollectSettings":
        if not isinstance(section, dict):
            raise BackpackConfigError.for_field("collect", "is missing or not a mapping", "add a `collect:` section (examples/collect.yaml)")
        unknown = sorted(set(section) - _COLLECT_KEYS)
        if unknown:
            raise BackpackConfigError.for_field(f"collect.{unknown[0]}", "is not a collect option", f"options: {', '.join(sorted(_COLLECT_KEYS))}")
        channels = tuple(section.get("channels") or ())
        bad = [c for c in channels if c not in CHANNELS]
        if not channels or bad:
            raise BackpackConfigError.for_field("collect.channels", f"{bad or 'nothing'} is not collectable", f"use some of {', '.join(CHANNELS)}")
        symbols = section.get("symbols", "all")
        if symbols != "all" and not (isinstance(symbols, list) and symbols and all(isinstance(s, str) for s in symbols)):
            raise BackpackConfigError.for_field("collect.symbols", f"{symbols!r} is neither 'all' nor a list of symbols",
                                      "write symbols: all, or symbols: [BTC-USDC-PERP, SOL-USDC]")
        backends = tuple(_backend_spec(b, i) for i, b in enumerate(section.get("backends") or ()))
        if not backends:
            raise BackpackConfigError.for_field("collect.backends", "lists no backend", "add e.g. - {type: redis_stream, host: 127.0.0.1}")
        numeric_type = section.get("numeric_type", "str")
        if numeric_type not in ("str", "float"):
            raise BackpackConfigError.for_field("collect.numeric_type", f"{numeric_type!r} is not str or float",
                                      "str keeps Backpack's decimals exact; float is cryptofeed's default")
        drain = section.get("stop_drain_s", DEFAULT_BACKEND_DRAIN_S)
        if isinstance(drain, bool) or not isinstance(drain, (int, float)) or not 0 <= drain < float("inf"):
            raise BackpackConfigError.for_field("collect.stop_drain_s", f"{drain!r} is not a number of seconds >= 0",
                                                f"write a number, e.g. stop_drain_s: {DEFAULT_BACKEND_DRAIN_S:g} (the default): how "
                                                "long a stop waits for the backends to write what they hold")
        metrics = section.get("metrics") or {}
        shard = section.get("shard")
        return cls(symbols=symbols, channels=channels, backends=backends, shard=None if shard is None else Shard.parse(str(shard)),
                   metrics_host=metrics.get("host", "127.0.0.1"), metrics_port=metrics.get("port"),
                   max_depth=int(section.get("max_depth", 0)), candle_interval=section.get("candle_interval", "1m"),
                   candle_closed_only=bool(section.get("candle_closed_only", True)), numeric_type=numeric_type,
                   stop_drain_s=float(drain))


def _backend_spec(entry: Any, index: int) -> BackendSpec:
    if not isinstance(entry, dict) or "type" not in entry:
        raise BackpackConfigError.for_field(f"collect.backends[{index}]", "needs a `type`", "e.g. - {type: postgres, host: 127.0.0.1, db: md}")
    options = {k: v for k, v in entry.items() if k not in ("type", "book")}
    return BackendSpec(entry["type"], options, dict(entry.get("book") or {}))


def load_config(path: str | Path) -> dict:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise BackpackConfigError.for_field("config", f"cannot read {path}: {exc.strerror}", "pass the path of a YAML file") from exc
    except yaml.YAMLError as exc:
        raise BackpackConfigError.for_field("config", f"{path} is not valid YAML: {exc}", "fix the file (examples/collect.yaml)") from exc
    if not isinstance(data, dict):
        raise BackpackConfigError.for_field("config", f"{path} is not a YAML mapping", "see examples/collect.yaml")
    return data


def plan_subscription(settings: CollectSettings, mapping: dict[str, str]) -> dict[str, list[str]]:
    """channel -> cryptofeed symbols: the asked (or all) markets in this shard; funding, open interest
    and liquidations only on perpetuals. ``mapping`` is cryptofeed symbol -> Backpack symbol."""
    by_exchange = {v: k for k, v in mapping.items()}
    if settings.symbols == "all":
        symbols = sorted(mapping)
    else:
        symbols = []
        for s in settings.symbols:
            normalized = s if s in mapping else by_exchange.get(s)
            if normalized is None:
                raise BackpackConfigError.for_field("collect.symbols", f"{s!r} is not a Backpack market",
                                          "run `cryptofeed-backpack markets` for the list (either column works)")
            symbols.append(normalized)
    if settings.shard is not None:
        symbols = settings.shard.select(symbols)
    plan = {}
    for channel in settings.channels:
        chosen = [s for s in symbols if channel not in PERPETUAL_ONLY or s.endswith("-PERP")]
        if chosen:
            plan[channel] = chosen
    return plan


def build_backends(settings: CollectSettings, channels) -> dict[str, list]:
    callbacks: dict[str, list] = {}
    for spec in settings.backends:
        for channel in channels:
            cls = backend_class(spec.type, channel)
            options = {"numeric_type": str if settings.numeric_type == "str" else float, **spec.options}
            if channel == L2_BOOK:
                options.update(spec.book_options)
            callbacks.setdefault(channel, []).append(cls(**options))
    return callbacks


class Collector:
    """One feed, its backends and (optionally) the metrics endpoint, in the running event loop."""

    def __init__(self, config: dict, settings: CollectSettings,
                 extra_callbacks: Optional[dict[str, list[Callable]]] = None):
        self.config = {k: v for k, v in config.items() if k != "collect"}
        self.settings = settings
        self.extra_callbacks = extra_callbacks or {}
        self.handler = None
        self.feed = None
        self.server = None
        self.backends: list = []

    async def start(self) -> None:
        from cryptofeed import FeedHandler
        from cryptofeed.config import Config

        from .config import BackpackConfig
        from .feed import BackpackFeed
        from .observability import serve_observability
        from .symbols import load_symbols

        config = Config(config=self.config)
        mapping = await load_symbols(BackpackConfig.build(config))
        plan = plan_subscription(self.settings, mapping)
        if not plan:
            raise BackpackConfigError.for_field("collect", "selects no market", "check symbols, channels and shard")
        callbacks = build_backends(self.settings, plan)
        self.backends = [b for cbs in callbacks.values() for b in cbs]
        for channel, extra in self.extra_callbacks.items():
            callbacks.setdefault(channel, []).extend(extra)
        self.handler = FeedHandler(config=config)
        self.feed = BackpackFeed(config=config, subscription=plan, callbacks=callbacks,
                                 max_depth=self.settings.max_depth, candle_interval=self.settings.candle_interval,
                                 candle_closed_only=self.settings.candle_closed_only)
        self.handler.add_feed(self.feed)
        self.handler.run(start_loop=False, install_signal_handlers=False)
        if self.settings.metrics_port is not None:
            self.server = await serve_observability([self.feed], host=self.settings.metrics_host, port=self.settings.metrics_port)
        LOG.info("collect: %d markets on %s into %s", len({s for v in plan.values() for s in v}), ", ".join(plan),
                 ", ".join(b.type for b in self.settings.backends))

    async def stop(self) -> None:
        if self.handler is not None:
            await self.handler.stop_async()  # stops the feed, then each backend (which then writes what it holds)
        writing = {w: b for b in self.backends if isinstance(w := getattr(b, "worker", None), asyncio.Task)}
        if writing:
            drain_s = self.settings.stop_drain_s
            _, pending = await asyncio.wait(writing, timeout=drain_s)
            for worker in pending:  # said, not silent: what they still hold is not stored
                backend = writing[worker]  # a task worker means an in-process backend, so an asyncio.Queue
                LOG.warning("collect: the %s backend was still writing %gs into the stop: cancelled, %d records "
                            "queued are not stored (collect.stop_drain_s)", type(backend).__name__, drain_s,
                            backend.queue.qsize())
                worker.cancel()
            if pending:  # a writer blocked on its server would outlive the collector
                await asyncio.wait(pending, timeout=WRITER_CANCEL_WAIT_S)
        if self.server is not None:
            await self.server.close()


async def run(config: dict, settings: CollectSettings, duration: Optional[float] = None) -> int:
    collector = Collector(config, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await collector.start()
    if collector.server is not None:
        print(f"metrics and probes on {collector.server.url}/metrics, /health, /health/live, /health/ready", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration)
    except asyncio.TimeoutError:
        pass
    finally:
        await collector.stop()
    return 0


# ---- command line ----------------------------------------------------------------------------

def add_metrics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=int, help="serve /metrics and /health{,/live,/ready} on this port")
    parser.add_argument("--metrics-host", default=None, help="bind address of that endpoint (default 127.0.0.1)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("collect", help="run the feed from a config file into cryptofeed backends (docs/collect.md)")
    parser.add_argument("config", help="YAML config file (examples/collect.yaml)")
    parser.add_argument("--shard", help="K/N: collect only shard K (1..N) of the markets, by a stable hash of the symbol")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: run until SIGINT/SIGTERM)")
    add_metrics_options(parser)
    parser.set_defaults(func=main)
    return parser


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = CollectSettings.parse(config.get("collect"))
    overrides = {}
    if args.shard:
        overrides["shard"] = Shard.parse(args.shard)
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    if args.metrics_host:
        overrides["metrics_host"] = args.metrics_host
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    return asyncio.run(run(config, settings, args.duration))
