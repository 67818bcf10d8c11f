"""What `sd35l-trainer doctor` reads from Discord, beyond what the bot itself uses: the bot's
server list, and a `Date` header that can be skewed like a wrong host clock.

Channel permission overwrites and threads live on `FakeChannel` (`overwrites`, `parent_id`);
`overwrite()` and `add_thread()` here build them the way Discord shapes them.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .state import FakeChannel, FakeGuild, snowflake

if TYPE_CHECKING:
    from .core import FakeDiscord
    from .server import _Call


def doctor_routes(fd: FakeDiscord) -> list[tuple[str, str, Any, bool]]:
    from .server import json_response

    async def my_guilds(call: _Call) -> web.Response:
        """GET /users/@me/guilds: `MyGuildResponse` items, the bot's permissions as a string."""
        return json_response(
            [
                {
                    "id": str(g.id),
                    "name": g.name,
                    "icon": None,
                    "banner": None,
                    "owner": g.owner_id == fd.app_id,
                    "permissions": str(g.permissions_of(fd.app_id)),
                    "features": [],
                }
                for g in fd.state.guilds.values()
                if fd.app_id in g.members
            ]
        )

    return [("GET", "/users/@me/guilds", my_guilds, True)]


def install_date(app: web.Application, fd: FakeDiscord) -> None:
    """Every answer's `Date` is the fake's clock: now plus `fd.clock_skew` seconds."""

    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        skew = getattr(fd, "clock_skew", 0.0)
        if skew:
            response.headers["Date"] = formatdate(time.time() + skew, usegmt=True)

    app.on_response_prepare.append(stamp)


def overwrite(
    channel: FakeChannel, target: int, *, allow: int = 0, deny: int = 0, member: bool = False
) -> None:
    """Add a permission overwrite for a role (or a member) to `channel`."""
    channel.overwrites.append(
        {"id": str(target), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}
    )


def add_thread(fd: FakeDiscord, guild: FakeGuild, parent: FakeChannel, name: str) -> FakeChannel:
    """A public thread (type 11) under `parent`; not listed among the guild's channels."""
    thread = FakeChannel(snowflake(), name, type=11, guild_id=guild.id, parent_id=parent.id)
    fd.state.channels[thread.id] = thread
    return thread
