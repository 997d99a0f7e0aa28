"""Symbols as people type them: cryptofeed's ``BTC-USDC-PERP`` or Backpack's ``BTC_USDC_PERP``.

Pure functions. The two forms differ only in the separator for the market types this package maps
(see docs/exchanges/backpack.md: SPOT ``SOL_USDC`` <-> ``SOL-USDC``, PERP ``BTC_USDC_PERP`` <->
``BTC-USDC-PERP``), so either form converts to the other without a market list.
"""
from __future__ import annotations

import difflib

from .errors import BackpackSymbolError

LIST_HINT = "`cryptofeed-backpack markets` lists them"


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def to_exchange_form(symbol: str) -> str:
    """``BTC-USDC-PERP`` or ``BTC_USDC_PERP`` -> ``BTC_USDC_PERP`` (what the exchange and simulator use)."""
    return symbol.strip().replace("-", "_")


def to_cryptofeed_form(symbol: str) -> str:
    """``BTC_USDC_PERP`` or ``BTC-USDC-PERP`` -> ``BTC-USDC-PERP`` (what cryptofeed feeds take)."""
    return symbol.strip().replace("_", "-")


def resolve(given: list[str], mapping: dict[str, str]) -> list[str]:
    """The cryptofeed symbols for what the user typed, in either form; an unknown one raises with a hint.

    ``mapping`` is cryptofeed's normalized -> exchange symbol table for BACKPACK.
    """
    if not given:
        raise BackpackSymbolError(f"no symbol given; fix: pass --symbols, e.g. BTC-USDC-PERP ({LIST_HINT})")
    by_exchange = {exchange: std for std, exchange in mapping.items()}
    resolved = []
    for symbol in given:
        std = symbol if symbol in mapping else by_exchange.get(symbol) or _same_ignoring_case(symbol, mapping)
        if std is None:
            raise BackpackSymbolError(unknown_symbol_line(symbol, mapping))
        resolved.append(std)
    return resolved


def _same_ignoring_case(symbol: str, mapping: dict[str, str]) -> str | None:
    wanted = to_cryptofeed_form(symbol).upper()
    matches = [std for std in mapping if std.upper() == wanted]
    return matches[0] if len(matches) == 1 else None


def unknown_symbol_line(symbol: str, mapping: dict[str, str]) -> str:
    """``unknown market X; did you mean Y?`` with the closest names, in the form the user typed."""
    exchange_form = "_" in symbol and "-" not in symbol
    names = list(mapping.values()) if exchange_form else list(mapping)
    upper = {name.upper(): name for name in names}
    close = difflib.get_close_matches(symbol.upper(), list(upper), n=1, cutoff=0.6)
    hint = f"did you mean {upper[close[0]]}? " if close else ""
    return (f"unknown market {symbol!r} on BACKPACK; fix: {hint}use a listed market in either form, "
            f"e.g. BTC-USDC-PERP or BTC_USDC_PERP ({LIST_HINT})")
