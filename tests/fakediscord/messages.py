"""Building and editing message payloads the way Discord does for the bot's REST calls.

Shared by the channel routes and the interaction/webhook routes so both produce identical
message objects (same attachment URLs, same mention rules, same edit history).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .state import EPHEMERAL, LOADING, StoredAttachment, StoredMessage, now_iso, snowflake

if TYPE_CHECKING:
    from .core import FakeDiscord

_USER_MENTION = re.compile(r"<@!?(\d+)>")
# Flags a sender may set; anything else Discord ignores (SUPPRESS_EMBEDS, EPHEMERAL,
# SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2).
_SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)


def _mentions(fd: FakeDiscord, content: str, allowed: dict[str, Any] | None) -> dict[str, Any]:
    """Who a message actually pings, honouring allowed_mentions like Discord does."""
    ids = [int(x) for x in _USER_MENTION.findall(content)]
    parse = list(allowed.get("parse") or []) if allowed is not None else None
    if allowed is None or (parse is not None and "users" in parse):
        users = ids  # no allowed_mentions at all: Discord pings everyone named
    else:
        wanted = {str(u) for u in allowed.get("users") or []}
        users = [i for i in ids if str(i) in wanted]
    everyone = ("@everyone" in content or "@here" in content) and (
        allowed is None or "everyone" in (parse or [])
    )
    return {
        "mentions": [fd.state.users[i].payload() for i in users if i in fd.state.users],
        "mention_everyone": everyone,
    }


def store_files(
    fd: FakeDiscord, files: list[tuple[str, bytes, str | None]], channel_id: int
) -> list[dict[str, Any]]:
    """Keep uploaded files so `{base}/attachments/...` can serve them; return attachment objects."""
    out = []
    for filename, content, content_type in files:
        att = StoredAttachment(snowflake(), filename, content, content_type)
        fd.state.attachments[att.id] = att
        out.append(att.payload(fd.base_url, channel_id))
    return out


def new_message(
    fd: FakeDiscord,
    channel_id: int,
    payload: dict[str, Any],
    files: list[tuple[str, bytes, str | None]],
    *,
    author: dict[str, Any] | None = None,
    msg_type: int = 0,
    flags: int = 0,
    interaction: dict[str, Any] | None = None,
) -> StoredMessage:
    """Create and store a message from a create-message body (JSON or payload_json)."""
    content = str(payload.get("content") or "")
    channel = fd.state.channels[channel_id]
    data: dict[str, Any] = {
        "id": str(snowflake()),
        "channel_id": str(channel_id),
        "type": msg_type,
        "author": author or fd.bot_user.payload(),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": bool(payload.get("tts", False)),
        "mention_roles": [],
        "attachments": store_files(fd, files, channel_id),
        "embeds": list(payload.get("embeds") or []),
        "components": list(payload.get("components") or []),
        "pinned": False,
        "flags": (int(payload.get("flags") or 0) & _SETTABLE_FLAGS) | flags,
        **_mentions(fd, content, payload.get("allowed_mentions")),
    }
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    if interaction is not None:
        data["webhook_id"] = str(fd.app_id)
        data["application_id"] = str(fd.app_id)
        data["interaction_metadata"] = interaction
    stored = StoredMessage(data=data)
    fd.state.messages[stored.id] = stored
    fd.notify()
    return stored


def edit_message(
    fd: FakeDiscord,
    stored: StoredMessage,
    payload: dict[str, Any],
    files: list[tuple[str, bytes, str | None]],
) -> StoredMessage:
    """Apply an edit body; the previous version goes to `stored.history`."""
    stored.history.append(stored.snapshot())
    data = stored.data
    for key in ("content", "embeds", "components"):
        if key in payload:
            value = payload[key]
            data[key] = value if value is not None else ("" if key == "content" else [])
    if "flags" in payload and payload["flags"] is not None:
        keep = data.get("flags", 0) & EPHEMERAL  # ephemerality can't change after the fact
        data["flags"] = (int(payload["flags"]) & _SETTABLE_FLAGS & ~EPHEMERAL) | keep
    data["flags"] = int(data.get("flags") or 0) & ~LOADING
    if "attachments" in payload and payload["attachments"] is not None:
        keep_ids = {str(a.get("id")) for a in payload["attachments"]}
        data["attachments"] = [a for a in data.get("attachments", []) if a["id"] in keep_ids]
    data["attachments"] = list(data.get("attachments", [])) + store_files(
        fd, files, stored.channel_id
    )
    if "content" in payload or "allowed_mentions" in payload:
        data.update(_mentions(fd, str(data.get("content") or ""), payload.get("allowed_mentions")))
    data["edited_timestamp"] = now_iso()
    fd.notify()
    return stored
