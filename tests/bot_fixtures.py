"""Shared setup for the Discord bot tests: the real discord.py client against the fake Discord
(tests/fakediscord), the Replicate simulator and a dataset ZIP server, all on loopback.

`world` gives one guild with members (alice, bob the stranger, mia the manager) and settings
pointing at everything; `start_bot(world)` builds a fresh bot on the same database (a restart).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import TrainerBot, create_bot
from bot.core.settings import Settings, load_settings
from bot.sim import ReplicateSimulator
from tests.cli_fixtures import TOKEN, TRIGGER, dataset_zip
from tests.dataset_corpus import CorpusServer
from tests.fakediscord import FakeDiscord, FakeUser, StoredMessage
from tests.stalls import StallGuard

LONG_STEPS = 6000  # a training that runs for the whole test unless the simulator ends it


@dataclass
class World:
    fd: FakeDiscord
    sim: ReplicateSimulator
    data: CorpusServer
    tmp: Path
    alice: FakeUser
    bob: FakeUser
    mia: FakeUser
    manager_role: int
    env: dict[str, Any]

    @property
    def dataset_url(self) -> str:
        return self.data.url("/range/good.zip")

    def settings(self, **extra: Any) -> Settings:
        return load_settings(**{**self.env, **extra})

    def channel(self) -> Any:
        return self.fd.default_channel()

    def cards(self) -> list[StoredMessage]:
        """Public job cards in the channel."""
        return [
            m
            for m in self.fd.messages(self.channel())
            if any("LoRA training" in (e.get("title") or "") for e in m.embeds)
        ]

    def assert_clean(self) -> None:
        """Every payload within Discord's limits; no token of any kind in any request."""
        assert self.fd.limit_problems() == []
        for r in self.fd.requests:
            body = json.dumps(r.json, default=str) if r.json is not None else ""
            assert TOKEN not in body
            assert self.fd.token not in body
        assert not self.fd.token_leaks


@pytest.fixture
async def world(
    fake_discord: FakeDiscord, tmp_path: Path, loop_stalls: StallGuard
) -> AsyncIterator[World]:
    """Everything on loopback, in one event loop that the stall guard watches."""
    fd = fake_discord
    guild = fd.first_guild()
    role = fd.add_role(guild, "lora-managers")
    alice = fd.add_member(guild, name="alice")
    bob = fd.add_member(guild, name="bob")
    mia = fd.add_member(guild, name="mia", roles=[role])
    sim = ReplicateSimulator(token=TOKEN, step_seconds=0.0005, start_delay=0.02)
    await sim.start()
    data = CorpusServer(files={"good.zip": dataset_zip(), "bad.zip": b"not a zip" * 50})
    await data.start()
    env: dict[str, Any] = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": sim.base_url,
        "DISCORD_TOKEN": fd.token,
        "SD35L_DATABASE": str(tmp_path / "data" / "bot.sqlite"),
        "SD35L_GUILD_IDS": str(guild.id),
        "SD35L_POLL_INTERVAL": 0.05,
        "SD35L_ALLOW_PRIVATE_URLS": True,
        "SD35L_POLICY_STEPS": "3-6000",
        "SD35L_MANAGER_ROLES": "lora-managers",
    }
    yield World(fd, sim, data, tmp_path, alice, bob, mia, role.id, env)
    await data.stop()
    await sim.stop()


def make_bot(world: World, **extra: Any) -> TrainerBot:
    return create_bot(
        world.settings(**extra),
        tracker_options={"card_edit_interval": 0.0, "card_wait": 2.0},
        gateway_options={
            "read_attempts": 2,
            "backoff_base": 0.001,
            "max_backoff": 0.01,
            "lookup_interval": 0.01,
            "timeout": 5.0,
        },
    )


def train_options(world: World, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "dataset_url": world.dataset_url,
        "destination": "alice/lora",
        "trigger_word": TRIGGER,
        "steps": 40,
    }
    options.update(extra)
    return options


def has_button(label: str) -> Callable[[StoredMessage], bool]:
    return lambda m: any(label in (b.get("label") or "") for b in m.buttons())
