"""The WebSocket session of docs/protocol.md §3.1: SUBSCRIBE/UNSUBSCRIBE without acknowledgement,
``{"id":null,"error":{...}}`` error frames, silence for unknown symbols, protocol ping/pong.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from .faults import REST_FAULT_BODIES
from .hub import Connection
from .private import AuthFailure
from .rest import SIM_KEY
from .streams import ERR_PARSE, StreamError, parse_stream

LOG = logging.getLogger("cryptofeed_backpack.simulator")

# No source shows the real frame for a rejected private subscription; this one is the
# simulator's choice (documented in docs/simulator.md).
ERR_SIGNATURE = (4005, "Invalid signature")


def error_frame(code: int, message: str) -> str:
    return json.dumps({"id": None, "error": {"code": code, "message": message}}, separators=(",", ":"))


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    sim: Any = request.app[SIM_KEY]  # the BackpackSimulator (server.py), reached through the app
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(status=404, text="not found", content_type="text/plain")
    if sim.faults.in_outage():
        ctype, body = REST_FAULT_BODIES[503]
        return web.Response(status=503, text=body, content_type=ctype)
    # autoping off: pings and pongs are handled here so faults can suppress them
    ws = web.WebSocketResponse(autoping=False, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    conn = Connection(ws, sim.hub)
    sim.hub.add(conn)
    conn.task = asyncio.create_task(conn.writer())
    pinger = asyncio.create_task(_keepalive(sim, conn))
    try:
        async for msg in ws:
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                break
            if conn.dead:
                continue  # half-open: whatever the client sends goes nowhere
            if msg.type == aiohttp.WSMsgType.TEXT:
                _on_text(sim, conn, msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                conn.push(error_frame(*ERR_PARSE))
            elif msg.type == aiohttp.WSMsgType.PING:
                if sim.faults.pongs_suppressed():
                    sim.faults.count("pongs_withheld")
                else:
                    await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                conn.last_pong = time.monotonic()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        pinger.cancel()
        sim.hub.remove(conn)
        if conn.task is not None:
            conn.task.cancel()
        if not ws.closed:
            try:
                await ws.close()
            except Exception:  # noqa: BLE001 - the peer may already be gone
                pass
    return ws


async def _keepalive(sim: Any, conn: Connection) -> None:
    """Protocol Ping every ping_interval; Close when no Pong came within pong_timeout (DOCS)."""
    try:
        while not conn.closed:
            await asyncio.sleep(sim.ping_interval)
            if conn.closed:
                return
            if conn.dead:
                continue  # a dead server neither pings nor notices missing pongs
            sent_at = time.monotonic()
            await conn.ws.ping(b"")
            deadline = sent_at + sim.pong_timeout
            while conn.last_pong < sent_at and not conn.dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    LOG.info("no pong within %.1fs: closing", sim.pong_timeout)
                    await conn.ws.close(code=1008, message=b"pong timeout")
                    return
                await asyncio.sleep(min(left, 0.1, sim.ping_interval))
    except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
        pass


def _on_text(sim: Any, conn: Connection, text: str) -> None:
    try:
        msg = json.loads(text)
    except ValueError:
        conn.push(error_frame(*ERR_PARSE))
        return
    if not isinstance(msg, dict):
        conn.push(error_frame(*ERR_PARSE))
        return
    method = msg.get("method")
    params = msg.get("params")
    if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
        conn.push(error_frame(*ERR_PARSE))
        return
    account = None
    for name in params:
        try:
            stream = parse_stream(name)
        except StreamError as exc:
            conn.push(error_frame(exc.code, exc.message))
            sim.stats.errors_sent += 1
            continue
        if stream.private:
            if account is None:
                try:
                    account = sim.accounts.verify_ws(msg.get("signature"))
                except AuthFailure:
                    conn.push(error_frame(*ERR_SIGNATURE))
                    sim.stats.errors_sent += 1
                    return
            key = f"{account.api_key}|{stream.name}"
        else:
            key = stream.name
        if method == "UNSUBSCRIBE":
            sim.hub.unsubscribe(conn, key)
            continue
        if sim.hub.subscribe(conn, key):
            sim.on_subscribed(conn, stream, account)
