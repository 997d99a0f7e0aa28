"""Backpack markets -> cryptofeed Symbols, with a TTL cache and loading through the configured proxies.

Which markets become symbols (docs/symbols.md has the reasons):

- SPOT ``SOL_USDC`` -> ``SOL-USDC`` (cryptofeed SPOT); PERP ``BTC_USDC_PERP`` -> ``BTC-USDC-PERP``
  (PERPETUAL), tokenised equities included (``AAPL.US_USDC_PERP`` -> ``AAPL.US-USDC-PERP``). Case is
  kept (``kPEPE``) and dotted bases round-trip.
- IPERP, DATED, PREDICTION, RFQ and any type Backpack adds later are not exposed: no source shows
  their symbol format or that they carry the public streams this feed reads. They are listed under
  ``info['unsupported']`` (symbol -> type) and one INFO line per load counts them.
- Closed markets, and markets with ``visible: false`` (hidden from Backpack's own listing), are left
  out unless ``include_closed_markets`` is set; ``info['hidden']`` lists the invisible ones.
- A market the feed cannot represent (a missing or malformed field such as unusual ``filters``, a
  base that would make an ambiguous cryptofeed name) is skipped with one WARNING line naming it and
  listed under ``info['skipped']``; the load never aborts for one market.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import msgspec
from cryptofeed.defines import PERPETUAL, SPOT
from cryptofeed.symbols import Symbol, Symbols

from . import capture
from .config import BackpackConfig
from .constants import CLOSED_BOOK_STATE, EXCHANGE_ID, PERP_MARKET, SPOT_MARKET, Rest
from .errors import BackpackConnectionError
from .wire.market_rest import Market

LOG = logging.getLogger("feedhandler")

EXCHANGE = EXCHANGE_ID
SUPPORTED_TYPES = {SPOT_MARKET: SPOT, PERP_MARKET: PERPETUAL}

# When this process loaded the symbols itself. Symbols seeded by tests or users have no entry
# and therefore never expire.
_loaded_at: dict[str, float] = {}


def _raw_markets(data: Any) -> list:
    """The reply as a list of per-market items (dicts or Market structs), without judging any one."""
    if isinstance(data, (bytes, str)):
        return msgspec.json.decode(data)
    return list(data)


def _market(item: Any) -> Market:
    return item if isinstance(item, Market) else msgspec.convert(item, Market, strict=False)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _name(item: Any) -> str:
    symbol = _field(item, "symbol")
    return symbol if isinstance(symbol, str) else repr(item)[:80]


def parse_markets(data: Any, include_closed: bool = False) -> tuple[dict[str, str], dict]:
    """Pure: the ``/api/v1/markets`` reply -> (normalized -> exchange symbol, info)."""
    mapping: dict[str, str] = {}
    info: dict = defaultdict(dict)
    unsupported: dict[str, str] = {}
    skipped: dict[str, str] = {}
    hidden: list[str] = []
    for item in _raw_markets(data):
        market_type = _field(item, "marketType")
        kind = SUPPORTED_TYPES.get(market_type)
        if kind is None:  # judged before the shape: other types may carry other fields (RFQ has no book)
            unsupported[_name(item)] = market_type if isinstance(market_type, str) else repr(market_type)
            continue
        try:
            market = _market(item)
        except (msgspec.ValidationError, TypeError) as exc:
            skipped[_name(item)] = str(exc)
            LOG.warning("%s: market %s skipped, it cannot be represented: %s", EXCHANGE, _name(item), exc)
            continue
        if not market.visible:
            hidden.append(market.symbol)
        if (market.orderBookState == CLOSED_BOOK_STATE or not market.visible) and not include_closed:
            continue
        normalized = Symbol(market.baseSymbol, market.quoteSymbol, type=kind).normalized
        if "-" in market.baseSymbol or "-" in market.quoteSymbol or normalized in mapping:
            reason = "duplicate cryptofeed name" if normalized in mapping else "a '-' in its base or quote"
            skipped[market.symbol] = reason
            LOG.warning("%s: market %s skipped, it cannot be represented: %s (%s)", EXCHANGE, market.symbol, reason, normalized)
            continue
        mapping[normalized] = market.symbol
        info["tick_size"][normalized] = market.filters.price.tickSize
        info["step_size"][normalized] = market.filters.quantity.stepSize
        info["min_quantity"][normalized] = market.filters.quantity.minQuantity
        info["instrument_type"][normalized] = kind
        info["market_type"][normalized] = market.marketType
        info["order_book_state"][normalized] = market.orderBookState
        if market.fundingInterval is not None:
            info["funding_interval_ms"][normalized] = market.fundingInterval
        info["visible"][normalized] = market.visible
    info["unsupported"] = unsupported
    info["skipped"] = skipped
    info["hidden"] = hidden
    return mapping, dict(info)


def seed_symbols(data: Any, include_closed: bool = False) -> dict[str, str]:
    """Put markets into cryptofeed's Symbols without any network call (tests, offline use)."""
    mapping, info = parse_markets(data, include_closed)
    Symbols.set(EXCHANGE, mapping, info)
    _loaded_at.pop(EXCHANGE, None)
    return mapping


def cache_fresh(ttl_s: float) -> bool:
    if not Symbols.populated(EXCHANGE):
        return False
    loaded = _loaded_at.get(EXCHANGE)
    return loaded is None or ttl_s <= 0 or time.monotonic() - loaded < ttl_s


async def fetch_markets(config: BackpackConfig) -> list:
    """GET /api/v1/markets through the REST client (proxies, CA, retries)."""
    from .transport.rest import BackpackRestClient

    async with BackpackRestClient(config) as client:
        return await client.market_items()  # judged market by market in parse_markets


async def load_symbols(config: BackpackConfig, refresh: bool = False) -> dict[str, str]:
    """Async loader for applications that must never block their event loop: call before building feeds.
    Gives up after ``config.startup_timeout_s`` in all, retries included, naming what it waited for."""
    if not refresh and cache_fresh(config.symbol_ttl_s):
        return Symbols.get(EXCHANGE)[0]
    LOG.info("%s: loading markets from %s%s (up to %.0fs)", EXCHANGE, config.rest_url, Rest.MARKETS.path,
             config.startup_timeout_s)
    try:
        markets = await asyncio.wait_for(fetch_markets(config), config.startup_timeout_s)
    except asyncio.TimeoutError:
        raise BackpackConnectionError(
            f"loading the markets from {config.rest_url}{Rest.MARKETS.path} took more than {config.startup_timeout_s:.0f}s",
            fix="check that rest_url is reachable (and the proxy, if any), or raise startup_timeout_s") from None
    mapping, info = parse_markets(markets, config.include_closed_markets)
    Symbols.set(EXCHANGE, mapping, info)
    _loaded_at[EXCHANGE] = time.monotonic()
    by_type: dict[str, int] = defaultdict(int)
    for market_type in info["unsupported"].values():
        by_type[market_type] += 1
    LOG.info("%s: loaded %d symbols; not exposed: %s; skipped: %d", EXCHANGE, len(mapping),
             ", ".join(f"{n} {t}" for t, n in sorted(by_type.items())) or "none", len(info["skipped"]))
    return mapping


def load_symbols_blocking(config: BackpackConfig, refresh: bool = False) -> dict[str, str]:
    """cryptofeed builds feeds synchronously and needs symbols in ``__init__``; this is the one blocking
    call it forces. It runs the async loader on a private loop in a worker thread, so it also works
    when called from inside a running event loop, and it goes through the configured proxies and CA."""
    if not refresh and cache_fresh(config.symbol_ttl_s):
        return Symbols.get(EXCHANGE)[0]
    result: dict[str, Any] = {}

    def worker() -> None:
        try:
            result["value"] = asyncio.run(load_symbols(config, refresh=True))
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=worker, name="backpack-symbols", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@contextlib.contextmanager
def loading_for(feed_class, config: BackpackConfig):
    """Around a feed's cryptofeed ``__init__``: refresh expired symbols, and let the class-level
    ``symbol_mapping`` (which cryptofeed calls without arguments) load through ``config``."""
    if not cache_fresh(config.symbol_ttl_s):
        load_symbols_blocking(config, refresh=True)
    capture.file_symbol_list()  # a raw data capture must hold the symbol list this feed was built on
    feed_class._loading_config = config
    try:
        yield
    finally:
        feed_class._loading_config = None


def symbol_mapping_for(feed_class, refresh: bool = False) -> dict:
    """cryptofeed's ``symbol_mapping`` classmethod contract, served by our loader."""
    config = getattr(feed_class, "_loading_config", None) or BackpackConfig()
    return load_symbols_blocking(config, refresh=refresh)
