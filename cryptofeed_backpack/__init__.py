"""Backpack Exchange for cryptofeed."""
from .config import BackpackConfig
from .errors import BackpackError

__all__ = ["BackpackConfig", "BackpackError"]
