"""Shared setup for the Discord bot tests: the real discord.py client against the fake Discord
(tests/fakediscord), the Replicate simulator and a dataset ZIP server, all on loopback.

The `world` fixture (conftest.py) gives one guild with members (alice, bob the stranger, mia the
manager) and settings pointing at everything as a `World`; `make_bot(world)` builds a fresh bot on
the same database (a restart).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import TrainerBot, create_bot
from bot.core.settings import Settings, load_settings
from bot.sim import ReplicateSimulator
from tests.cli_support import TOKEN, TRIGGER
from tests.dataset_corpus import CorpusServer
from tests.fakediscord import FakeDiscord, FakeUser, StoredMessage

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
