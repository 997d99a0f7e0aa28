"""Backpack markets -> cryptofeed Symbols, with a TTL cache and loading through the configured proxies.

Mapping (docs/protocol.md §5): SPOT ``SOL_USDC`` -> ``SOL-USDC``; PERP ``BTC_USDC_PERP`` -> ``BTC-USDC-PERP``.
Case is kept (``kPEPE``) and dotted bases round-trip (``AAPL.US-USDC-PERP``). Market types without a
cryptofeed instrument type or a verified symbol format (IPERP, DATED, PREDICTION, RFQ, anything new)
are not tradeable symbols here: they are listed under ``info['unsupported']`` and never raise.
Closed markets are left out unless ``include_closed_markets`` is set.
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
from .wire.market_rest import MARKETS, Market

LOG = logging.getLogger("feedhandler")

EXCHANGE = EXCHANGE_ID
SUPPORTED_TYPES = {SPOT_MARKET: SPOT, PERP_MARKET: PERPETUAL}

# When this process loaded the symbols itself. Symbols seeded by tests or users have no entry
# and therefore never expire.
_loaded_at: dict[str, float] = {}


def _as_markets(data: Any) -> list[Market]:
    if isinstance(data, (bytes, str)):
        return MARKETS.decode(data)
    if data and isinstance(data[0], Market):
        return list(data)
    return msgspec.convert(list(data), list[Market], strict=False)


def parse_markets(data: Any, include_closed: bool = False) -> tuple[dict[str, str], dict]:
    """Pure: the ``/api/v1/markets`` reply -> (normalized -> exchange symbol, info)."""
    mapping: dict[str, str] = {}
    info: dict = defaultdict(dict)
    unsupported: dict[str, str] = {}
    for market in _as_markets(data):
        kind = SUPPORTED_TYPES.get(market.marketType)
        if kind is None:
            unsupported[market.symbol] = market.marketType
            continue
        if market.orderBookState == CLOSED_BOOK_STATE and not include_closed:
            continue
        normalized = Symbol(market.baseSymbol, market.quoteSymbol, type=kind).normalized
        mapping[normalized] = market.symbol
        info["tick_size"][normalized] = market.filters.price.tickSize
        info["step_size"][normalized] = market.filters.quantity.stepSize
        info["min_quantity"][normalized] = market.filters.quantity.minQuantity
        info["instrument_type"][normalized] = kind
        info["market_type"][normalized] = market.marketType
        info["order_book_state"][normalized] = market.orderBookState
        if market.fundingInterval is not None:
            info["funding_interval_ms"][normalized] = market.fundingInterval
    info["unsupported"] = unsupported
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


async def fetch_markets(config: BackpackConfig) -> list[Market]:
    """GET /api/v1/markets through the REST client (proxies, CA, retries)."""
    from .transport.rest import BackpackRestClient

    async with BackpackRestClient(config) as client:
        return await client.markets()


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
    LOG.info("%s: loaded %d symbols (%d markets of unsupported types)", EXCHANGE, len(mapping), len(info["unsupported"]))
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
