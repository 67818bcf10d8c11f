"""The gateway websocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, chunks.

Plain JSON text frames: discord.py asks for `compress=zstd-stream`/`zlib-stream` in the query
but only decompresses *binary* frames, so text frames need no compression. Every dispatch
gets a sequence number and is kept in `fd.gateway.events`, so a RESUME after a dropped
connection replays what the bot missed, like Discord does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .core import FakeDiscord

HELLO, IDENTIFY, RESUME, HEARTBEAT, HEARTBEAT_ACK = 10, 2, 6, 1, 11
REQUEST_MEMBERS, INVALID_SESSION, RECONNECT, DISPATCH = 8, 9, 7, 0


@dataclass
class GatewayState:
    """What the fake gateway knows about the bot's session."""

    ws: web.WebSocketResponse | None = None
    session_id: str | None = None
    seq: int = 0
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    connections: int = 0
    identifies: int = 0
    resumes: int = 0
    heartbeats: int = 0
    intents: int | None = None
    identify_payload: dict[str, Any] | None = None  # token replaced by "<token>"
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sent_ops: list[int] = field(default_factory=list)
    received_ops: list[int] = field(default_factory=list)


async def _send(gw: GatewayState, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
    gw.sent_ops.append(int(payload["op"]))
    await ws.send_str(json.dumps(payload))


async def dispatch(fd: FakeDiscord, event: str, data: dict[str, Any]) -> None:
    """Send a DISPATCH to the connected bot (kept for replay if it's not connected)."""
    gw = fd.gateway
    gw.seq += 1
    gw.events.append((gw.seq, event, data))
    if gw.ws is not None and not gw.ws.closed and gw.session_id is not None:
        await _send(gw, gw.ws, {"op": DISPATCH, "t": event, "s": gw.seq, "d": data})


async def _ready(fd: FakeDiscord, ws: web.WebSocketResponse) -> None:
    gw = fd.gateway
    gw.session_id = uuid.uuid4().hex
    gw.events.clear()
    gw.seq = 0
    guilds = [{"id": str(g), "unavailable": True} for g in fd.state.guilds]
    ready = {
        "v": 10,
        "user": fd.bot_user.payload(),
        "guilds": guilds,
        "session_id": gw.session_id,
        "resume_gateway_url": fd.gateway_url,
        "application": {"id": str(fd.app_id), "flags": fd.application_flags},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "session_type": "normal",
        "geo_ordered_rtc_regions": [],
        "shard": [0, 1],
    }
    gw.ws = ws
    await dispatch(fd, "READY", ready)
    for guild in list(fd.state.guilds.values()):
        await dispatch(fd, "GUILD_CREATE", guild.payload())
    gw.ready.set()
    fd.notify()


async def _resume(fd: FakeDiscord, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
    gw = fd.gateway
    if d.get("token") != fd.token or d.get("session_id") != gw.session_id:
        await _send(gw, ws, {"op": INVALID_SESSION, "d": False})
        return
    gw.resumes += 1
    gw.ws = ws
    last = int(d.get("seq") or 0)
    for seq, event, data in list(gw.events):
        if seq > last:
            await _send(gw, ws, {"op": DISPATCH, "t": event, "s": seq, "d": data})
    await dispatch(fd, "RESUMED", {})
    gw.ready.set()
    fd.notify()


async def _chunk(fd: FakeDiscord, d: dict[str, Any]) -> None:
    guild = fd.state.guilds.get(int(d.get("guild_id", 0)))
    if guild is None:
        return
    wanted = {int(u) for u in d.get("user_ids") or []}
    members = [m.payload() for uid, m in guild.members.items() if not wanted or uid in wanted]
    chunk = {
        "guild_id": str(guild.id),
        "members": members,
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [],
    }
    if d.get("nonce") is not None:
        chunk["nonce"] = d["nonce"]
    await dispatch(fd, "GUILD_MEMBERS_CHUNK", chunk)


async def gateway_handler(fd: FakeDiscord, request: web.Request) -> web.StreamResponse:
    gw = fd.gateway
    ws = web.WebSocketResponse(autoclose=True, max_msg_size=0)
    await ws.prepare(request)
    gw.connections += 1
    fd.sockets.add(ws)
    fd.notify()
    try:
        await _send(gw, ws, {"op": HELLO, "d": {"heartbeat_interval": fd.heartbeat_interval_ms}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op, d = payload.get("op"), payload.get("d")
            gw.received_ops.append(int(op))
            if op == HEARTBEAT:
                gw.heartbeats += 1
                await _send(gw, ws, {"op": HEARTBEAT_ACK})
            elif op == IDENTIFY:
                if d.get("token") != fd.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                gw.identifies += 1
                gw.intents = d.get("intents")
                gw.identify_payload = {**d, "token": "<token>"}
                await _ready(fd, ws)
            elif op == RESUME:
                await _resume(fd, ws, d)
            elif op == REQUEST_MEMBERS:
                await _chunk(fd, d)
    finally:
        fd.sockets.discard(ws)
        if gw.ws is ws:
            gw.ws = None
            gw.ready.clear()
        fd.notify()
    return ws
