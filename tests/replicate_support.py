"""What the gateway tests share besides their fixtures (in conftest.py): settings for a base URL,
the simulator's requests, a wait for a training's end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.settings import Settings, load_settings
from bot.sim import ReplicateSimulator

TOKEN = "r8_" + "sim" * 10


WANDB_KEY = "wandbsecret" + "x" * 20


DATASET = "https://example.com/data.zip"


GatewayFactory = Callable[..., ReplicateGateway]


def make_settings(base_url: str, token: str | None = TOKEN) -> Settings:
    overrides: dict[str, Any] = {"REPLICATE_BASE_URL": base_url}
    if token is not None:
        overrides["REPLICATE_API_TOKEN"] = token
    return load_settings(**overrides)


async def wait_terminal(gw: ReplicateGateway, training_id: str) -> Training:
    for _ in range(500):
        training = await gw.get_training(training_id)
        if training.is_terminal:
            return training
        await asyncio.sleep(0.01)
    raise AssertionError("training never ended")


def inputs(**extra: Any) -> dict[str, Any]:
    return {"input_images": DATASET, "trigger_word": "TOK", "steps": 3, **extra}


def creates(sim: ReplicateSimulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/trainings")]
