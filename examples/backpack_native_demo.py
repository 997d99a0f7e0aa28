"""The native BackpackFeed end to end: public and private channels, proxies, logging, error handling.

    python examples/backpack_native_demo.py --simulator                 # offline: the embedded simulator
    python examples/backpack_native_demo.py --simulator --seconds 20 --log-level DEBUG
    BACKPACK_API_KEY=... BACKPACK_PRIVATE_KEY=... python examples/backpack_native_demo.py
    python examples/backpack_native_demo.py --public-only --proxy socks5://127.0.0.1:1080

``--simulator`` starts a local Backpack exchange over TLS on 127.0.0.1, registers a freshly generated
Ed25519 key with it and places a small order every second, so the private channels (orders, fills,
positions, balances) have something to report. Without it the demo streams the real exchange: public
channels always, private ones when BACKPACK_API_KEY and BACKPACK_PRIVATE_KEY are set (docs/auth.md).
Every failure is one of the typed errors in cryptofeed_backpack/errors.py; the demo prints its fix
and exits with status 2.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from decimal import Decimal

from cryptofeed import FeedHandler
from cryptofeed.defines import BALANCES, FILLS, L2_BOOK, ORDER_INFO, POSITIONS, TRADES

from cryptofeed_backpack import BackpackConfig, BackpackError, BackpackFeed
from cryptofeed_backpack.config import ENV_API_KEY, ENV_PRIVATE_KEY

LOG = logging.getLogger("backpack_native_demo")
PUBLIC = [TRADES, L2_BOOK]
PRIVATE = [ORDER_INFO, FILLS, POSITIONS, BALANCES]
SIM_MARKETS = {"BTC_USDC_PERP": "BTC-USDC-PERP", "SOL_USDC": "SOL-USDC"}


# ---- callbacks: cryptofeed calls them with (object, receipt_timestamp) ---------------------------

async def on_trade(trade, receipt):
    print(f"trade    {trade.symbol} {trade.side} {trade.amount} @ {trade.price} id={trade.id}", flush=True)


async def on_book(book, receipt):
    # cryptofeed hands every callback the same mutable OrderBook: read (or copy) it now
    bid = book.book.bids.index(0)[0] if len(book.book.bids) else None
    ask = book.book.asks.index(0)[0] if len(book.book.asks) else None
    print(f"book     {book.symbol} seq={book.sequence_number} bid={bid} ask={ask}", flush=True)


async def on_private(event, receipt):
    kind = type(event).__name__  # OrderInfo, Fill, Position, Balance
    print(f"private  {kind} {event}", flush=True)


def callbacks(channels):
    table = {TRADES: on_trade, L2_BOOK: on_book}
    return {c: table.get(c, on_private) for c in channels}


# ---- the simulator side: an exchange with a test account that trades ----------------------------

def new_test_key() -> tuple[str, str]:
    """(api key, private key) in Backpack's base64 forms: a fresh Ed25519 pair for the simulator."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    from cryptofeed_backpack import auth

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return auth.b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)), auth.b64(seed)


async def trade_now_and_then(sim, api_key: str, symbol: str) -> None:
    """Place a small marketable order every second, alternating sides (bounded by the demo's run time)."""
    sides = ("Bid", "Ask")
    for n in range(10_000):
        await asyncio.sleep(1.0)
        sim.place_order(api_key, symbol, sides[n % 2], None, Decimal("0.001"))


# ---- building and running ------------------------------------------------------------------------

def real_exchange_config(proxy: str | None, public_only: bool) -> tuple[BackpackConfig, list[str]]:
    """Credentials come from the environment (BackpackConfig.build reads them), proxies from --proxy."""
    options = {"proxies": {"url": proxy}} if proxy else {}
    has_keys = bool(os.environ.get(ENV_API_KEY) and os.environ.get(ENV_PRIVATE_KEY))
    private = has_keys and not public_only
    if not has_keys and not public_only:
        LOG.warning("%s/%s are not set: public channels only", ENV_API_KEY, ENV_PRIVATE_KEY)
    config = BackpackConfig.build(options, enable_private_channels=private)
    return config, PUBLIC + (PRIVATE if private else [])


async def run(args) -> None:
    async with contextlib.AsyncExitStack() as stack:
        trader = None
        if args.simulator:
            from cryptofeed_backpack.simulator import BackpackSimulator

            sim = await stack.enter_async_context(BackpackSimulator(symbols=list(SIM_MARKETS), seed=1, rate=50))
            api_key, private_key = new_test_key()
            sim.add_account(api_key)
            options = {"proxies": {"url": args.proxy}} if args.proxy else {"proxies": {"direct": True}}
            config = sim.config(auth={"api_key": api_key, "private_key": private_key},
                                enable_private_channels=not args.public_only, balance_poll_interval_s=2.0, **options)
            channels = PUBLIC + ([] if args.public_only else PRIVATE)
            symbols = list(SIM_MARKETS.values())
            if not args.public_only:
                trader = asyncio.create_task(trade_now_and_then(sim, api_key, "BTC_USDC_PERP"))
        else:
            config, channels = real_exchange_config(args.proxy, args.public_only)
            symbols = args.symbols
        LOG.info("config: %r", config)  # the repr never shows the private key or proxy credentials
        await BackpackFeed.load_symbols(config)  # async: never blocks this event loop
        feed = BackpackFeed(config=config, symbols=symbols, channels=channels, callbacks=callbacks(channels))
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(feed)
        handler.run(start_loop=False, install_signal_handlers=False)
        try:
            await asyncio.sleep(args.seconds)
            report = feed.health()  # docs/runbooks/backpack_migration.md reads the same report
            print(f"health   {report.status} {'; '.join(report.reasons)}", flush=True)
        finally:
            if trader is not None:
                trader.cancel()
            await handler.stop_async()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", action="store_true", help="run against the embedded local exchange (offline)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to stream")
    parser.add_argument("--symbols", nargs="+", default=["BTC-USDC-PERP", "SOL-USDC"], help="real exchange only")
    parser.add_argument("--proxy", help="http(s):// or socks5(h):// proxy for REST and WebSocket (docs/proxies.md)")
    parser.add_argument("--public-only", action="store_true", help="no private channels")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(args))
    except BackpackError as exc:
        print(f"error    {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
