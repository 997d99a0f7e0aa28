"""Record and replay, in the style of cryptofeed's per-exchange sample-data test: a raw data capture
made against the simulator (FeedHandler(raw_data_collection=AsyncFileCallback(dir))) is played back
offline by ``cryptofeed.raw_data_collection.playback`` and gives the callbacks the live run gave,
books included (their REST snapshots come out of the capture, not the network).
"""
from __future__ import annotations

import asyncio
import glob
from collections import defaultdict

import pytest
from cryptofeed import FeedHandler
from cryptofeed.connection import Connection
from cryptofeed.defines import L2_BOOK, TICKER, TRADES
from cryptofeed.raw_data_collection import AsyncFileCallback, playback
from cryptofeed.symbols import Symbols

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.simulator import BackpackSimulator
from tests.integration.feed_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHANNELS = [TRADES, L2_BOOK, TICKER]
STD = ["BTC-USDC-PERP", "SOL-USDC"]


class Seen:
    """What the callbacks delivered, as comparable values (books: sequence, kind, the whole book)."""

    def __init__(self):
        self.items = defaultdict(list)

    def callbacks(self) -> dict:
        def make(channel):
            async def cb(obj, receipt):
                if channel == L2_BOOK:
                    self.items[channel].append((obj.symbol, obj.sequence_number, obj.delta is None, obj.book.to_dict()))
                else:
                    self.items[channel].append(obj.to_dict())
            return cb
        return {c: make(c) for c in CHANNELS}


async def record_live(directory: str, seen: Seen) -> dict:
    async with BackpackSimulator(symbols=["BTC_USDC_PERP", "SOL_USDC"], seed=3, rate=300) as sim:
        config = sim.config()
        await BackpackFeed.load_symbols(config, refresh=True)
        capture = AsyncFileCallback(directory)
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False}, raw_data_collection=capture)
        handler.add_feed(BackpackFeed(config=config, symbols=STD, channels=CHANNELS, callbacks=seen.callbacks()))
        handler.run(start_loop=False, install_signal_handlers=False)
        # a fixed amount of traffic: both books synced and some hundreds of frames after that
        await wait_until(lambda: len(seen.items[TRADES]) >= 150 and len({b[0] for b in seen.items[L2_BOOK]}) == 2,
                         timeout=60)
        await handler.stop_async()
        capture.stop()
        return {"rest_url": config.rest_url, "ws_url": config.ws_url}


def test_capture_replays_to_the_live_callbacks(tmp_path, clean_symbols):
    directory = tmp_path / "capture"
    directory.mkdir()
    live = Seen()
    urls = asyncio.run(record_live(str(directory), live))
    Connection.raw_data_callback = None  # FeedHandler leaves it set on the class
    files = sorted(glob.glob(f"{directory}/*"))
    names = [f.rsplit("/", 1)[1] for f in files]
    assert "BACKPACK.0" in names and any(".http." in n for n in names) and any(".ws." in n for n in names), names
    frames = sum(1 for f in files if ".ws." in f for line in open(f) if line[:1].isdigit())

    Symbols.data.pop("BACKPACK", None)  # offline: the symbol list too must come out of the capture
    replayed = Seen()
    result = playback("BACKPACK", files, callbacks=replayed.callbacks(),
                      config={"log": {"disabled": True}, "backpack": urls})

    assert result["messages_processed"] >= frames
    for channel in (TRADES, TICKER):
        got, want = replayed.items[channel], live.items[channel]
        assert want, channel
        # the capture may end with frames that arrived while the live feed was stopping
        assert got[:len(want)] == want, channel
    for symbol in STD:
        want = [b[1:] for b in live.items[L2_BOOK] if b[0] == symbol]
        got = [b[1:] for b in replayed.items[L2_BOOK] if b[0] == symbol]
        assert want and got and want[0][1] and got[0][1], symbol  # both start with a snapshot
        # Live, the snapshot reply came back while deltas were buffered, which it then absorbed; playback
        # takes the recorded reply as it subscribes and emits those few deltas one by one. From the
        # live snapshot's sequence number on, every book callback is the same.
        assert got[0][0] <= want[0][0], symbol
        start = [seq for seq, _, _ in got].index(want[0][0])
        assert got[start][2] == want[0][2], symbol
        assert got[start + 1:start + len(want)] == want[1:], symbol
    assert sum(result["callbacks"].values()) == sum(len(v) for v in replayed.items.values())
