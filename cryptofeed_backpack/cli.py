"""cryptofeed-backpack: demo, simulate, auth-check, markets, stream.

Every user mistake ends with one line on stderr (what is wrong; the fix) and an exit code from
``cli_errors.EXIT_CODES`` (docs/cli.md); ``--debug`` adds the traceback.
"""
from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import os
import sys
import traceback
from typing import Optional, Sequence

from . import cli_symbols
from .cli_errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, describe, exit_code_help
from .cli_stream import DEFAULT_DEPTH, say

PROG = "cryptofeed-backpack"


def _exchange_symbols(text: Optional[str]) -> list[str]:
    """``--symbols`` in either form -> Backpack's form, each at least BASE_QUOTE."""
    symbols = [cli_symbols.to_exchange_form(s) for s in cli_symbols.split_list(text)]
    for symbol in symbols:
        if len(symbol.split("_")) < 2:
            raise UsageError(f"--symbols: {symbol!r} is not a market", "write BASE_QUOTE or BASE_QUOTE_PERP "
                             "(either form: SOL-USDC, BTC_USDC_PERP)")
    return symbols


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    symbols = _exchange_symbols(args.symbols) or None
    return asyncio.run(run_demo(duration=args.duration, live=args.live, symbols=symbols, rate=args.rate))


def _simulate(args: argparse.Namespace) -> int:
    from .simulator import cli as sim_cli

    args.symbols = ",".join(_exchange_symbols(args.symbols)) or None
    try:
        return sim_cli.run(args)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc})",
                         "choose a free --port, or omit it for any free one") from exc


def _auth_check(args: argparse.Namespace) -> int:
    from . import auth_check

    return auth_check.run(args)


async def _load_mapping(config) -> dict[str, str]:
    from .symbols import load_symbols

    say(f"loading markets from {config.rest_url} ...")
    return await load_symbols(config, refresh=True)


def _markets(args: argparse.Namespace) -> int:
    from cryptofeed.symbols import Symbols

    from .config import BackpackConfig
    from .constants import EXCHANGE_ID

    mapping = asyncio.run(_load_mapping(BackpackConfig.build(_config_overrides(args))))
    info = Symbols.get(EXCHANGE_ID)[1]
    for normalized, exchange in sorted(mapping.items()):
        print(f"{normalized:<28} {exchange:<28} {info['market_type'][normalized]:<5} tick {info['tick_size'][normalized]} "
              f"step {info['step_size'][normalized]}")
    if info.get("unsupported"):
        print(f"# not mapped (market type without a cryptofeed instrument): {json.dumps(info['unsupported'])}")
    return EXIT_OK


def _channels(text: str) -> list[str]:
    from .feed import BackpackFeed

    known = sorted(BackpackFeed.websocket_channels)
    channels = cli_symbols.split_list(text)
    for channel in channels:
        if channel not in known:
            close = difflib.get_close_matches(channel, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(f"--channels: unknown channel {channel!r}", f"{hint}choose from {', '.join(known)}")
    if not channels:
        raise UsageError("--channels is empty", "e.g. --channels trades,l2_book")
    return channels


def _stream(args: argparse.Namespace) -> int:
    from .cli_stream import run_stream
    from .config import BackpackConfig
    from .feed import BackpackFeed

    config = BackpackConfig.build(_config_overrides(args))
    channels = _channels(args.channels)
    given = cli_symbols.split_list(args.symbols)
    if args.depth < 1:
        raise UsageError(f"--depth {args.depth} is below 1", "give the number of book levels to show, e.g. --depth 5")

    async def main() -> int:
        symbols = cli_symbols.resolve(given, await _load_mapping(config))

        def make_feed(callbacks):
            return BackpackFeed(config=config, symbols=symbols, channels=channels, callbacks=callbacks)

        return await run_stream(make_feed, channels, symbols, args.format, args.depth, args.duration,
                                metrics_host=args.metrics_host, metrics_port=args.metrics_port)

    return asyncio.run(main())


def _config_overrides(args: argparse.Namespace) -> dict:
    overrides = {}
    for name in ("rest_url", "ws_url", "ca_file"):
        value = getattr(args, name, None)
        if value:
            overrides[name] = value
    if overrides.get("ca_file") and not os.path.isfile(overrides["ca_file"]):
        raise UsageError(f"--ca-file {overrides['ca_file']!r} does not exist",
                         "give the CA path the simulator printed (line 'CA ...')")
    return overrides


def _add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rest-url", help="REST base URL (default: the exchange)")
    parser.add_argument("--ws-url", help="WebSocket URL (default: the exchange)")
    parser.add_argument("--ca-file", help="PEM CA bundle to trust (the simulator prints one)")


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS: a flag given before the subcommand is not reset by the subcommand's default
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at INFO")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log at DEBUG and show tracebacks")
    return common


def _subcommand(argv: Sequence[str]) -> Optional[str]:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; ``argv`` decides whether the simulator's options are loaded (only for ``simulate``)."""
    common = _common_options()
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0], parents=[common],
                                     epilog=exit_code_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], epilog=exit_code_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    demo = add("demo", "live view of trades and the top of the book (embedded simulator by default)", _demo)
    demo.add_argument("--live", action="store_true", help="stream the real exchange instead of the simulator")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds to run (default 20; Ctrl-C stops early)")
    demo.add_argument("--symbols", help="comma-separated markets in either form, e.g. BTC-USDC-PERP,SOL_USDC")
    demo.add_argument("--rate", type=float, default=200.0, help="simulator frames per second")

    simulate = add("simulate", "run the local Backpack exchange (TLS on 127.0.0.1)", _simulate)
    if _subcommand(argv) == "simulate":
        from .simulator import cli as sim_cli  # the simulator loads only when it is asked for

        sim_cli.add_arguments(simulate)
    else:
        simulate.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    check = add("auth-check", "validate ED25519 credentials and measure clock drift", _auth_check)
    from . import auth_check

    auth_check.add_arguments(check)

    markets = add("markets", "list the markets as cryptofeed symbols", _markets)
    _add_endpoint_options(markets)

    stream = add("stream", "print channel data, e.g. --channels trades,l2_book --symbols BTC-USDC-PERP", _stream)
    _add_endpoint_options(stream)
    stream.add_argument("--symbols", required=True, help="comma-separated markets in either form (BTC-USDC-PERP or BTC_USDC_PERP)")
    stream.add_argument("--channels", default="trades", help="comma-separated cryptofeed channels (default trades)")
    stream.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one readable line per update; json: one JSON object per line")
    stream.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    stream.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help=f"book levels shown per side (default {DEFAULT_DEPTH})")
    from . import collect

    collect.add_metrics_options(stream)
    collect.add_parser(sub)
    return parser


class _OneLineFormatter(logging.Formatter):
    """Log records without tracebacks (those are for --debug)."""

    def formatException(self, ei) -> str:
        return ""

    def formatStack(self, stack_info) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        return super().format(record).rstrip()


def _configure_logging(verbose: bool, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt) if debug else _OneLineFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    debug = getattr(args, "debug", False)
    _configure_logging(getattr(args, "verbose", False), debug)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (`| head`): not an error
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:
        if debug:
            traceback.print_exc()
        code, line = describe(exc)
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
