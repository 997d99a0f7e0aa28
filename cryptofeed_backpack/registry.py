"""Registration with cryptofeed and the native/ccxt feature flag.

The flag is read when a feed is built, never at import. Precedence, highest first:

1. the environment variable ``CRYPTOFEED_BACKPACK_NATIVE`` (an operator's override);
2. ``native_enabled`` in the ``backpack:`` section of config.yaml (or ``BackpackConfig.native_enabled``);
3. the default, ``true``.

``true`` builds the native ``BackpackFeed``; ``false`` builds ``CcxtBackpackFeed`` (needs the ``ccxt``
extra). The native feed is the default because it is the one with book sequencing, gap recovery and
private streams; the seeds' ccxt-first default existed only to protect users of an older adapter this
package never shipped. See docs/runbooks/backpack_migration.md.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import cryptofeed.defines as cf_defines
from cryptofeed.exchanges import EXCHANGE_MAP

from .config import parse_flag
from .constants import EXCHANGE_ID as BACKPACK

NATIVE_FLAG = "CRYPTOFEED_BACKPACK_NATIVE"


def native_enabled(env: Mapping[str, str] = os.environ, config: Any = None) -> bool:
    """The flag's value now: the environment wins, then the config's ``native_enabled``, then true.
    An unknown spelling raises BackpackConfigError naming the allowed values."""
    value = env.get(NATIVE_FLAG)
    if value is not None and value.strip() != "":
        return parse_flag(value, NATIVE_FLAG)
    if config is not None:
        from .feed.config_split import split_config

        configured = split_config(config)[0].native_enabled
        if configured is not None:
            return configured
    return True


def feed_class(native: Optional[bool] = None, config: Any = None):
    if native is None:
        native = native_enabled(config=config)
    if native:
        from .feed import BackpackFeed

        return BackpackFeed
    from .ccxt_feed import CcxtBackpackFeed

    return CcxtBackpackFeed


class _SelectorMeta(type):
    """Class-level reads (``id``, ``symbols()``, ``info()``...) go to the feed the flag selects now."""

    def __getattr__(cls, name: str):
        return getattr(feed_class(), name)


class BackpackFeedSelector(metaclass=_SelectorMeta):
    """What ``EXCHANGE_MAP['BACKPACK']`` holds: calling it builds the feed the flag selects at that
    moment, reading the environment and the ``config`` that FeedHandler passes."""

    def __new__(cls, config: Any = None, **kwargs: Any):
        return feed_class(config=config)(config=config, **kwargs)


def register(native: Optional[bool] = None):
    """Put BACKPACK into cryptofeed's EXCHANGE_MAP (in place, so FeedHandler sees it). Idempotent.

    ``native=None`` (what ``import cryptofeed_backpack`` does) registers the selector, which decides per
    feed; ``True``/``False`` pins one class regardless of the flag."""
    cls = BackpackFeedSelector if native is None else feed_class(native)
    EXCHANGE_MAP[BACKPACK] = cls
    cf_defines.BACKPACK = BACKPACK
    return cls
