"""Discord permissions computed the way Discord computes them, and the invite link.

Discord's rule (docs, "Permissions"): the guild owner and administrators have everything; else
@everyone's permissions OR the member's roles'; then, in a channel, the @everyone overwrite,
the member's role overwrites (all denies, then all allows) and the member's own overwrite.
Without View Channel nothing else applies; without Send Messages (in a thread: Send Messages in
Threads) neither do Embed Links nor Attach Files. A member in timeout keeps only View Channel
and Read Message History.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL = (1 << 64) - 1

THREAD_TYPES = frozenset({10, 11, 12})  # announcement, public and private threads
TEXT_TYPES = frozenset({0, 5})  # text and announcement channels

# What the bot needs where it posts: cards (embeds), charts (files), and the history read that
# finds a notice it already sent when Discord's repeat window has passed.
CHANNEL_NEEDS: tuple[tuple[int, str], ...] = (
    (VIEW_CHANNEL, "View Channel"),
    (SEND_MESSAGES, "Send Messages"),
    (EMBED_LINKS, "Embed Links"),
    (ATTACH_FILES, "Attach Files"),
    (READ_MESSAGE_HISTORY, "Read Message History"),
)
THREAD_NEEDS: tuple[tuple[int, str], ...] = tuple(
    (SEND_MESSAGES_IN_THREADS, "Send Messages in Threads") if bit == SEND_MESSAGES else (bit, n)
    for bit, n in CHANNEL_NEEDS
)
NEEDED_PERMISSIONS = 0
for _bit, _ in (*CHANNEL_NEEDS, *THREAD_NEEDS):
    NEEDED_PERMISSIONS |= _bit
SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int | str) -> str:
    """The link that adds the bot to a server with exactly the permissions it needs."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope={'+'.join(SCOPES)}&permissions={NEEDED_PERMISSIONS}"
    )


def as_int(value: Any) -> int:
    """Discord sends permissions as decimal strings (they exceed 53 bits)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    user_id: int,
    roles: Mapping[int, int],
    member_roles: Iterable[int],
) -> int:
    """The member's guild-wide permissions; `roles` maps role id -> permissions."""
    if user_id == owner_id:
        return ALL
    perms = roles.get(guild_id, 0)  # @everyone's role has the guild's id
    for role_id in member_roles:
        perms |= roles.get(role_id, 0)
    return ALL if perms & ADMINISTRATOR else perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    member_roles: Iterable[int],
    overwrites: Iterable[Mapping[str, Any]],
    thread: bool = False,
    timed_out: bool = False,
) -> int:
    """`base` after the channel's `permission_overwrites`, with Discord's implicit rules."""
    if base & ADMINISTRATOR or base == ALL:
        return ALL
    by_id = {as_int(o.get("id")): o for o in overwrites}
    perms = base
    everyone = by_id.get(guild_id)
    if everyone is not None:
        perms = (perms & ~as_int(everyone.get("deny"))) | as_int(everyone.get("allow"))
    allow = deny = 0
    for role_id in member_roles:
        found = by_id.get(role_id)
        if found is not None and found.get("type") in (0, "0", None):
            allow |= as_int(found.get("allow"))
            deny |= as_int(found.get("deny"))
    perms = (perms & ~deny) | allow
    own = by_id.get(user_id)
    if own is not None and own.get("type") in (1, "1"):
        perms = (perms & ~as_int(own.get("deny"))) | as_int(own.get("allow"))
    if timed_out:
        perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
    if not perms & VIEW_CHANNEL:
        return 0
    if not perms & (SEND_MESSAGES_IN_THREADS if thread else SEND_MESSAGES):
        perms &= ~(EMBED_LINKS | ATTACH_FILES)
    return perms


def missing(perms: int, *, thread: bool = False) -> list[str]:
    """Names of the permissions the bot needs and lacks, in Discord's order."""
    return [name for bit, name in (THREAD_NEEDS if thread else CHANNEL_NEEDS) if not perms & bit]
