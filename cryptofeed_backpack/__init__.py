"""Backpack Exchange for cryptofeed.

``import cryptofeed_backpack`` registers ``BACKPACK`` with cryptofeed, so
``FeedHandler().add_feed('BACKPACK', symbols=..., channels=..., callbacks=...)`` works.
"""
from .config import BackpackConfig
from .errors import BackpackError
from .feed import BackpackFeed
from .registry import BACKPACK, NATIVE_FLAG, native_enabled, register

register()


def __getattr__(name):
    # ccxt is an optional extra: import its feed only when asked for.
    if name == "CcxtBackpackFeed":
        from .ccxt_feed import CcxtBackpackFeed

        return CcxtBackpackFeed
    raise AttributeError(name)


__all__ = ["BACKPACK", "BackpackConfig", "BackpackError", "BackpackFeed", "CcxtBackpackFeed", "NATIVE_FLAG",
           "native_enabled", "register"]
