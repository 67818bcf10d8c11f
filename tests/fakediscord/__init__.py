"""A fake Discord (REST + gateway on loopback) that the real discord.py client connects to.

    async with FakeDiscord() as fd:          # starts the server and patches discord.py's seams
        guild = fd.add_guild("g")
        alice = fd.add_member(guild, name="alice", dms_closed=True)
        async with fd.running(bot):          # bot.start(fd.token) until on_ready; closed after
            res = await fd.slash("train", {"dataset_url": "..."}, user=alice)
            await res.wait_response()

See tests/test_fakediscord.py for every feature exercised with a tiny bot.
"""

from __future__ import annotations

from .core import FakeDiscord
from .interactions import InteractionResult
from .limits import check_discord_limits, command_problems, validate_commands
from .server import RecordedRequest
from .spec import Problem
from .state import FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser, StoredMessage

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionResult",
    "Problem",
    "RecordedRequest",
    "StoredMessage",
    "check_discord_limits",
    "command_problems",
    "validate_commands",
]
