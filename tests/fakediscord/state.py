"""In-memory world of the fake Discord: users, guilds, roles, channels, members, messages.

Everything here produces payloads shaped like Discord's API v10 so the real discord.py parsers
accept them (members carry `flags`, messages carry `type`/`content`, attachments carry `url`
pointing back at the fake so `Attachment.read()` works). Kept free of aiohttp so the server
and the test-driving API share one source of truth.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Bot gets every permission bit Discord currently defines; tests rarely care, and a real
# admin-invited bot looks like this.
ALL_PERMISSIONS = (1 << 51) - 1
EPHEMERAL = 1 << 6
LOADING = 1 << 7

_ids = itertools.count(1_300_000_000_000_000_000)


def snowflake() -> int:
    """A unique, increasing id that looks like a Discord snowflake."""
    return next(_ids)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    dms_closed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 1

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": True,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    id: int
    name: str
    type: int = 0  # 0 guild text, 1 DM
    guild_id: int | None = None
    recipient_id: int | None = None
    position: int = 0
    overwrites: list[dict[str, Any]] = field(default_factory=list)  # permission_overwrites
    parent_id: int | None = None  # a thread's channel

    def payload(self, state: FakeState | None = None) -> dict[str, Any]:
        if self.type == 1:
            recipients = []
            if state is not None and self.recipient_id in state.users:
                recipients = [state.users[self.recipient_id].payload()]
            return {
                "id": str(self.id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": recipients,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": copy.deepcopy(self.overwrites),
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": str(self.parent_id) if self.parent_id is not None else None,
            "flags": 0,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class FakeMember:
    user: FakeUser
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=now_iso)

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)

    def permissions_of(self, user_id: int) -> int:
        """Effective guild-level permissions (roles OR-ed; owner and admins get everything)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions if self.id in self.roles else 0
        for role_id in member.roles if member else []:
            if role_id in self.roles:
                perms |= self.roles[role_id].permissions
        if perms & 0x8:  # ADMINISTRATOR
            return ALL_PERMISSIONS
        return perms

    def payload(self) -> dict[str, Any]:
        """The GUILD_CREATE payload (also what GET /guilds/{id} returns, minus the lists)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "features": [],
            "emojis": [],
            "stickers": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "application_id": None,
            "unavailable": False,
            "large": False,
            "joined_at": now_iso(),
            "member_count": len(self.members),
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values()],
            "members": [m.payload() for m in self.members.values()],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class StoredMessage:
    """A message as the fake holds it: the current payload plus every earlier version."""

    data: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    interaction_id: int | None = None  # set when created through an interaction token

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.data.get("components") or [])

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return list(self.data.get("attachments") or [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def author_id(self) -> int:
        return int(self.data["author"]["id"])

    @property
    def edits(self) -> int:
        return len(self.history)

    def buttons(self) -> list[dict[str, Any]]:
        """Every button (type 2) in the message, flattened out of its action rows."""
        found: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("type") == 2:
                    found.append(item)
                walk(item.get("components") or [])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def text(self) -> str:
        """Content plus every embed's visible text, for assertions that don't care where."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            for fld in embed.get("fields") or []:
                parts += [fld.get("name") or "", fld.get("value") or ""]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


@dataclass
class StoredAttachment:
    id: int
    filename: str
    content: bytes
    content_type: str | None

    def payload(self, base: str, channel_id: int) -> dict[str, Any]:
        url = f"{base}/attachments/{channel_id}/{self.id}/{self.filename}"
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.content),
            "url": url,
            "proxy_url": url,
            "flags": 0,
        }
        if self.content_type is not None:
            data["content_type"] = self.content_type
        return data


@dataclass
class FakeState:
    """All the mutable world; FakeDiscord and the server both read and write it."""

    users: dict[int, FakeUser] = field(default_factory=dict)
    guilds: dict[int, FakeGuild] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    dm_channels: dict[int, int] = field(default_factory=dict)  # user id -> DM channel id
    attachments: dict[int, StoredAttachment] = field(default_factory=dict)
    global_commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    sync_counts: dict[int | None, int] = field(default_factory=dict)
    command_ids: dict[tuple[int | None, str, int], int] = field(default_factory=dict)
    # (author id, nonce) -> (message id, loop time it was created): Discord's enforce_nonce.
    nonces: dict[tuple[int, str], tuple[int, float]] = field(default_factory=dict)

    def dm_channel_for(self, user_id: int) -> FakeChannel:
        if user_id not in self.dm_channels:
            channel = FakeChannel(id=snowflake(), name="", type=1, recipient_id=user_id)
            self.channels[channel.id] = channel
            self.dm_channels[user_id] = channel.id
        return self.channels[self.dm_channels[user_id]]

    def channel_messages(self, channel_id: int) -> list[StoredMessage]:
        return [m for m in self.messages.values() if m.channel_id == channel_id]
