"""The ccxt.pro fallback feed, in modules with one job each:

- ``convert``: pure name and value conversions (ccxt <-> cryptofeed <-> Backpack)
- ``policy``: ccxt failures -> typed errors (the waits are transport.policy.retry_delay)
- ``exchange``: the ccxt.pro ``backpack`` instance, pointed at BackpackConfig and corrected
- ``emit``: ccxt structures -> cryptofeed callbacks
- ``feed``: ``CcxtBackpackFeed`` itself (lifecycle, supervision, polling, health view)
"""
from .convert import (MarketRef, capability_warnings, ccxt_symbol, exchange_symbol_from_ccxt, levels_to_dict,
                      resolve_market, stream_name, to_decimal)
from .exchange import INSTALL_HINT, import_ccxt, make_exchange
from .feed import CCXT_KWARGS, CcxtBackpackFeed
from .policy import translate_error

__all__ = ["CCXT_KWARGS", "INSTALL_HINT", "CcxtBackpackFeed", "MarketRef", "capability_warnings", "ccxt_symbol",
           "exchange_symbol_from_ccxt", "import_ccxt", "levels_to_dict", "make_exchange", "resolve_market", "stream_name",
           "to_decimal", "translate_error"]
