"""Named, bounded fault recipes over ``sim.faults``: one call injects one fault on one market.

The CLI (``--fault-every``), the fault campaign (bench/fault_campaign.py) and the fault-injection
test harness draw from this one menu, so a kind means the same thing everywhere. Every recipe is
bounded (a count of frames/requests or a duration) and returns what it armed or touched.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable

from ..constants import Rest

DEPTH_PATH, TRADES_PATH, TRADES_HISTORY_PATH = Rest.DEPTH.path, Rest.TRADES.path, Rest.TRADES_HISTORY.path

if TYPE_CHECKING:
    from .server import BackpackSimulator

TRADE_PATHS = (TRADES_PATH, TRADES_HISTORY_PATH)
Recipe = Callable[["BackpackSimulator", str, random.Random], int]

# Durations are short so a campaign of hundreds of faults fits in minutes. They are read when a
# recipe runs, so a caller may change them (bench/fault_campaign.py --half-open-seconds).
# A real half-open socket lasts until TCP keepalive gives up (hours); 30 s is longer than a sane
# dead-peer bound, so it is the feed's own detection, not the simulator's drop, that should end it.
HALF_OPEN_S = 30.0
STALL_S = 2.0
STREAM_STOP_S = 5.0
REST_HOLD_S = 10.0
OVERSIZED_BYTES = 2 << 20
FAR_AHEAD_IDS = 10_000


def _depth_drop(sim, sym, rng):
    n = rng.randint(1, 3)
    sim.faults.drop_next_depth(sym, n)
    return n


def _depth_duplicate(sim, sym, rng):
    n = rng.randint(1, 5)
    sim.faults.duplicate_next_depth(sym, n)
    return n


def _depth_reorder_levels(sim, sym, rng):
    n = rng.randint(1, 5)
    sim.faults.reorder_next_depth(sym, n)
    return n


def _depth_swap(sim, sym, rng):
    sim.faults.swap_next_depth(sym, 1)
    return 1


def _depth_far_ahead(sim, sym, rng):
    sim.faults.far_ahead_next_depth(sym, FAR_AHEAD_IDS, 1, straddle=rng.random() < 0.5)
    return 1


def _trade_duplicate(sim, sym, rng):
    n = rng.randint(1, 5)
    sim.faults.duplicate_next_trades(sym, n)
    return n


def _socket_drop(sim, sym, rng):
    return sim.faults.drop_sockets()


def _server_close(sim, sym, rng):
    # 1001 going away (shutdown), 1011 internal error, 1012 service restart (RFC 6455 §7.4.1, IANA registry)
    return sim.faults.server_close(rng.choice((1001, 1011, 1012)), "")


def _close_after(sim, sym, rng):
    sim.faults.close_after(rng.randint(1, 50))
    return sim.connections


def _half_open(sim, sym, rng):
    return sim.faults.half_open(HALF_OPEN_S)


def _stall(sim, sym, rng):
    sim.faults.stall(STALL_S)
    return 1


def _stall_no_pongs(sim, sym, rng):
    sim.faults.stall(STALL_S, pongs=False)
    return 1


def _trade_stream_stop(sim, sym, rng):
    return sim.faults.stop_stream("trade." + sym, STREAM_STOP_S)


def _depth_stream_stop(sim, sym, rng):
    return sim.faults.stop_stream("depth." + sym, STREAM_STOP_S)


def _frame_malformed(sim, sym, rng):
    return sim.faults.send_malformed(stream="depth." + sym)


def _frame_oversized(sim, sym, rng):
    return sim.faults.send_oversized(sym, OVERSIZED_BYTES)


def _event_unknown(sim, sym, rng):
    return sim.faults.send_unknown_event()


def _rest(status: int, paths):
    def recipe(sim, sym, rng):
        sim.faults.rest_errors(status, rng.randint(1, 3), retry_after=1, paths=paths)
        return 1
    return recipe


def _rest_timeout(paths):
    def recipe(sim, sym, rng):
        sim.faults.rest_timeouts(1, paths=paths, hold_s=REST_HOLD_S)
        return 1
    return recipe


FAULT_MENU: dict[str, Recipe] = {
    "depth_drop": _depth_drop,
    "depth_duplicate": _depth_duplicate,
    "depth_reorder_levels": _depth_reorder_levels,
    "depth_swap": _depth_swap,
    "depth_far_ahead": _depth_far_ahead,
    "trade_duplicate": _trade_duplicate,
    "socket_drop": _socket_drop,
    "server_close": _server_close,
    "close_after": _close_after,
    "half_open": _half_open,
    "stall": _stall,
    "stall_no_pongs": _stall_no_pongs,
    "trade_stream_stop": _trade_stream_stop,
    "depth_stream_stop": _depth_stream_stop,
    "frame_malformed": _frame_malformed,
    "frame_oversized": _frame_oversized,
    "event_unknown": _event_unknown,
    "rest_429_depth": _rest(429, (DEPTH_PATH,)),
    "rest_5xx_depth": _rest(503, (DEPTH_PATH,)),
    "rest_timeout_depth": _rest_timeout((DEPTH_PATH,)),
    "rest_429_trades": _rest(429, TRADE_PATHS),
    "rest_5xx_trades": _rest(500, TRADE_PATHS),
    "rest_timeout_trades": _rest_timeout(TRADE_PATHS),
}

# Faults that act on every open connection at once (the others act on one market's stream or on REST).
CONNECTION_FAULTS = frozenset({"socket_drop", "server_close", "close_after", "half_open", "stall_no_pongs"})


def inject(sim: "BackpackSimulator", name: str, symbol: str, rng: random.Random) -> int:
    """Apply the recipe ``name`` on ``symbol``; returns how many frames/connections/requests it armed."""
    try:
        recipe = FAULT_MENU[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}; choose from {', '.join(FAULT_MENU)}") from None
    return recipe(sim, symbol, rng)
