"""Who is clicking: a member's Discord roles turned into the plain booleans the core's rights
(`bot.core.jobs.rights`) decide on.
"""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.core.jobs import rights


async def acting_member(
    client: discord.Client, user: discord.abc.User, guild_id: int | None
) -> discord.abc.User:
    """The clicking user as a member of the server a preview belongs to. A click in a DM (the
    "Start training" offered after an interrupted start) carries only the user, and roles
    live on the member; without this, SD35L_ALLOWED_ROLES would refuse everyone there."""
    if isinstance(user, discord.Member) or guild_id is None:
        return user
    guild = client.get_guild(guild_id)
    if guild is None:
        return user  # the bot left that server: nothing to check the roles against
    member = guild.get_member(user.id)
    if member is None:
        try:
            member = await guild.fetch_member(user.id)
        except discord.HTTPException:
            return user  # no longer a member there
    return member


def holds_role(user: discord.abc.User, specs: Iterable[str]) -> bool:
    """A server member holding a role named (case-insensitively) or numbered in `specs`."""
    wanted = {s.strip().lower() for s in specs if s.strip()}
    if not isinstance(user, discord.Member):
        return False
    return any(str(r.id) in wanted or r.name.lower() in wanted for r in user.roles)


def may_start(user: discord.abc.User, allowed_roles: list[str]) -> bool:
    return rights.may_start(allowed_roles, holds_role(user, allowed_roles))


def require_start(user: discord.abc.User, allowed_roles: list[str]) -> None:
    rights.require_start(allowed_roles, holds_role(user, allowed_roles))


def is_manager(user: discord.abc.User, manager_roles: list[str]) -> bool:
    return rights.is_manager(manager_roles, holds_role(user, manager_roles))
