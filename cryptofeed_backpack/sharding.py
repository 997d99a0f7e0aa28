"""``--shard K/N``: which markets collector K of N takes. Pure.

A market belongs to shard ``1 + h % N`` where ``h`` is the first 8 bytes of the SHA-256 of its
cryptofeed symbol (``BTC-USDC-PERP``). The hash does not depend on the process, the host, the
Python version or the order of the market list, so N collectors started with 1/N..N/N cover every
market exactly once, and a market keeps its shard while others are listed or delisted.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from .errors import BackpackConfigError


def shard_of(symbol: str, count: int) -> int:
    """The shard (1..count) that owns ``symbol``."""
    digest = hashlib.sha256(symbol.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not sep or shard is None or shard.count < 1 or not 1 <= shard.index <= shard.count:
            raise BackpackConfigError.for_field("shard", f"{text!r} is not K/N with 1 <= K <= N",
                                      "e.g. --shard 1/3, --shard 2/3 and --shard 3/3 on three hosts")
        return shard

    def owns(self, symbol: str) -> bool:
        return shard_of(symbol, self.count) == self.index

    def select(self, symbols: Iterable[str]) -> list[str]:
        return [s for s in symbols if self.owns(s)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
