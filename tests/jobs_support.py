"""What the job-service tests share besides their fixtures (in conftest.py): settings pointing at
the simulator, a bot process (store, gateway, job service) and a config to submit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.config.model import ResolvedConfig, resolve_config
from bot.core.jobs.service import JobService
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import Settings, load_settings
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow
from bot.sim import ReplicateSimulator

TOKEN = "r8_" + "sim" * 10


WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"


DATASET = "https://example.com/data/my-dataset.zip"


OWNER, OTHER = 111, 222


LONG = 6000  # steps of a training that runs for the whole test (3 s in the simulator)


def make_settings(sim: ReplicateSimulator, tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": sim.base_url,
        "WANDB_API_KEY": WANDB_KEY,
        "SD35L_DATABASE": str(tmp_path / "db" / "bot.sqlite"),
        "SD35L_POLL_INTERVAL": 0.01,
        "SD35L_POLICY_STEPS": "3-6000",
    }
    values.update(extra)
    return load_settings(**values)


def make_gateway(settings: Settings) -> ReplicateGateway:
    return ReplicateGateway(
        settings, read_attempts=2, max_backoff=0.02, backoff_base=0.001, lookup_interval=0.001
    )


@dataclass
class Process:
    """One bot process: its own store connection, gateway and job service."""

    store: Store
    gateway: ReplicateGateway
    jobs: JobService

    async def close(self) -> None:
        await self.gateway.aclose()
        await self.store.close()


async def start_process(settings: Settings) -> Process:
    store = await Store.open(settings.database)
    gateway = make_gateway(settings)
    return Process(store, gateway, JobService(store, gateway, settings))


def config(settings: Settings, steps: int = 40, trigger: str = "ZXQTOK") -> ResolvedConfig:
    return resolve_config(
        cli={
            "dataset_url": DATASET,
            "destination": "alice/lora",
            "trigger_word": trigger,
            "steps": steps,
            "wandb_project": "proj",
        },
        settings=settings,
    )


async def until_ended(proc: Process, training_id: str, rounds: int = 500) -> TrainingRow:
    """Refresh until Replicate (the simulator) says the training ended."""
    for _ in range(rounds):
        row = await proc.jobs.refresh(training_id)
        if row.is_terminal:
            return row
        await asyncio.sleep(0.005)
    raise AssertionError(f"training {training_id} never ended")
