"""How BackpackFeed's arguments split into our options and what cryptofeed's base class expects."""
from __future__ import annotations

from typing import Any

from ..config import BackpackConfig
from ..constants import CONFIG_SECTION

#: stands in for the secret in cryptofeed's own config: cryptofeed only checks that one is set
HELD_SECRET = "<held by BackpackConfig>"


def requested_channels(kwargs: dict) -> dict[str, list]:
    """std channel -> std symbols, from either symbols+channels or subscription."""
    if kwargs.get("subscription"):
        return {channel: list(syms) for channel, syms in kwargs["subscription"].items()}
    channels, syms = kwargs.get("channels") or [], kwargs.get("symbols") or []
    return {channel: list(syms) for channel in channels}


def split_config(config: Any) -> tuple[BackpackConfig, Any]:
    """Our options and the object cryptofeed's base class expects as ``config``."""
    if isinstance(config, BackpackConfig):
        bp, cf = config, None
    elif isinstance(config, dict) and CONFIG_SECTION not in config:
        bp, cf = BackpackConfig.build(config), None
    else:
        # cryptofeed's Config (FeedHandler.add_feed), a config.yaml path, a full cryptofeed dict or None.
        from cryptofeed.config import Config

        cf = Config(config=config) if not isinstance(config, Config) else config
        bp = BackpackConfig.build(cf)
        if bp.auth is not None:
            # cryptofeed's base class only checks that key_id/key_secret are set. Hand it a copy whose
            # secret is a stand-in, so no repr, vars() or log line of cryptofeed's state can show the key
            # (whether it came from config.yaml or the environment); the FeedHandler's Config is untouched.
            section = dict(cf.config.get(CONFIG_SECTION) or {})
            section.update(key_id=bp.auth.api_key, key_secret=HELD_SECRET)
            cf = Config(config={**cf.config, CONFIG_SECTION: section})
    if cf is None:
        section = {}
        if bp.auth is not None:
            # cryptofeed only checks that both are set; the secret itself stays inside BackpackConfig.
            section = {"key_id": bp.auth.api_key, "key_secret": HELD_SECRET}
        cf = {CONFIG_SECTION: section}
    return bp, cf
