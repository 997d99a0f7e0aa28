"""``cryptofeed-backpack``: demo, simulate, auth-check, markets, stream."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Optional, Sequence


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    symbols = args.symbols.split(",") if args.symbols else None
    return asyncio.run(run_demo(duration=args.duration, live=args.live, symbols=symbols, rate=args.rate))


def _simulate(args: argparse.Namespace) -> int:
    from .simulator import cli as sim_cli

    return sim_cli.run(args)


def _auth_check(args: argparse.Namespace) -> int:
    from . import auth_check

    return auth_check.run(args)


def _markets(args: argparse.Namespace) -> int:
    from .config import BackpackConfig
    from .symbols import load_symbols
    from cryptofeed.symbols import Symbols

    from .constants import EXCHANGE_ID

    config = BackpackConfig.build(_config_overrides(args))
    mapping = asyncio.run(load_symbols(config, refresh=True))
    info = Symbols.get(EXCHANGE_ID)[1]
    for normalized, exchange in sorted(mapping.items()):
        print(f"{normalized:<28} {exchange:<28} {info['market_type'][normalized]:<5} tick {info['tick_size'][normalized]} "
              f"step {info['step_size'][normalized]}")
    if info.get("unsupported"):
        print(f"# not mapped (market type without a cryptofeed instrument): {json.dumps(info['unsupported'])}")
    return 0


def _stream(args: argparse.Namespace) -> int:
    from cryptofeed import FeedHandler

    from .config import BackpackConfig
    from .feed import BackpackFeed

    config = BackpackConfig.build(_config_overrides(args))

    async def show(obj, receipt):
        print(obj, flush=True)

    channels = args.channels.split(",")
    fh = FeedHandler(config={"log": {"disabled": True}})
    fh.add_feed(BackpackFeed(config=config, symbols=args.symbols.split(","), channels=channels,
                             callbacks={c: show for c in channels}))
    from .collect import serve_metrics_before_run

    serve_metrics_before_run(fh.feeds, args)
    fh.run()
    return 0


def _config_overrides(args: argparse.Namespace) -> dict:
    overrides = {}
    for name in ("rest_url", "ws_url", "ca_file"):
        value = getattr(args, name, None)
        if value:
            overrides[name] = value
    return overrides


def _add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rest-url", help="REST base URL (default: the exchange)")
    parser.add_argument("--ws-url", help="WebSocket URL (default: the exchange)")
    parser.add_argument("--ca-file", help="PEM CA bundle to trust (the simulator prints one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cryptofeed-backpack", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="live view of trades and the top of the book (embedded simulator by default)")
    demo.add_argument("--live", action="store_true", help="stream the real exchange instead of the simulator")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds to run (default 20; Ctrl-C stops early)")
    demo.add_argument("--symbols", help="comma-separated Backpack symbols, e.g. BTC_USDC_PERP,SOL_USDC")
    demo.add_argument("--rate", type=float, default=200.0, help="simulator frames per second")
    demo.set_defaults(func=_demo)

    simulate = sub.add_parser("simulate", help="run the local Backpack exchange")
    from .simulator import cli as sim_cli

    sim_cli.add_arguments(simulate)
    simulate.set_defaults(func=_simulate)

    check = sub.add_parser("auth-check", help="validate ED25519 credentials and measure clock drift")
    from . import auth_check

    auth_check.add_arguments(check)
    check.set_defaults(func=_auth_check)

    markets = sub.add_parser("markets", help="list the markets as cryptofeed symbols")
    _add_endpoint_options(markets)
    markets.set_defaults(func=_markets)

    stream = sub.add_parser("stream", help="print channel data (e.g. --channels trades,l2_book --symbols BTC-USDC-PERP)")
    _add_endpoint_options(stream)
    stream.add_argument("--symbols", required=True, help="comma-separated cryptofeed symbols")
    stream.add_argument("--channels", default="trades", help="comma-separated cryptofeed channels")
    stream.set_defaults(func=_stream)
    from . import collect

    collect.add_metrics_options(stream)
    collect.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
