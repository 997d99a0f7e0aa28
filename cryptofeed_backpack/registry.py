"""Registration with cryptofeed and the native/ccxt feature flag.

``CRYPTOFEED_BACKPACK_NATIVE`` (default ``true``) selects the native ``BackpackFeed``; ``false``
selects ``CcxtBackpackFeed`` (needs the ``ccxt`` extra). The native feed is the default because it
is the one with book sequencing, gap recovery and private streams; the seeds' ccxt-first default
existed only to protect users of an older adapter this package never shipped.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

import cryptofeed.defines as cf_defines
from cryptofeed.exchanges import EXCHANGE_MAP

from .constants import EXCHANGE_ID as BACKPACK
from .errors import BackpackConfigError

NATIVE_FLAG = "CRYPTOFEED_BACKPACK_NATIVE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def native_enabled(env: Mapping[str, str] = os.environ) -> bool:
    value = env.get(NATIVE_FLAG, "true").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BackpackConfigError.for_field(NATIVE_FLAG, f"environment value {value!r} is not a boolean", "use true or false")


def feed_class(native: Optional[bool] = None):
    if native is None:
        native = native_enabled()
    if native:
        from .feed import BackpackFeed

        return BackpackFeed
    from .ccxt_feed import CcxtBackpackFeed

    return CcxtBackpackFeed


def register(native: Optional[bool] = None):
    """Put BACKPACK into cryptofeed's EXCHANGE_MAP (in place, so FeedHandler sees it). Idempotent."""
    cls = feed_class(native)
    EXCHANGE_MAP[BACKPACK] = cls
    cf_defines.BACKPACK = BACKPACK
    return cls
