"""pytest fixtures for the fake Discord; import them into a test module or conftest:

    from tests.fakediscord.fixtures import fake_discord  # noqa: F401

`fake_discord` is started, has discord.py's seams patched for the test only, owns one guild
("test-guild" with #general) and is stopped (seams restored) afterwards. It also fails the
test if the bot called a route the fake doesn't model, sent a body Discord would refuse, or put
its token in a request body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .core import FakeDiscord


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fd:
        fd.add_guild("test-guild")
        yield fd
        unknown = [f"{r.method} {r.path}" for r in fd.unknown_requests]
        assert not unknown, f"bot called routes the fake does not model: {unknown}"
        assert not fd.token_leaks, "the bot token appeared in a request body"
        assert not fd.limit_problems(), f"Discord would refuse: {fd.limit_problems()}"
