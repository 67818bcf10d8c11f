"""The pre-submit checks, written once in `bot.core.jobs.preflight`, against the simulator and a
loopback dataset server; and the hard limits, written once in `bot.core.limits`, as every front
end and the settings see them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from discord import app_commands

from bot.core.config.model import TrainingConfig, resolve_config
from bot.core.dataset.report import DatasetReport
from bot.core.errors import InputError
from bot.core.jobs.preflight import AccountCheck, Preflight, preflight
from bot.core.limits import BATCH_SIZE, LEARNING_RATE_MAX, LORA_RANK, STEPS
from bot.core.replicate.gateway import _SCHEMA_CACHE, ReplicateGateway
from bot.core.settings import Settings, load_settings
from bot.sim import ReplicateSimulator
from bot.ui.train_preview import preview_checks
from cogs.train import TrainCog
from tests.cli_support import TOKEN, TRIGGER

BASE = {"dataset_url": "https://example.com/d.zip", "destination": "a/b", "trigger_word": TRIGGER}


def _settings(simulator: ReplicateSimulator, token: str | None) -> Settings:
    env: dict[str, Any] = {
        "REPLICATE_BASE_URL": simulator.base_url,
        "SD35L_ALLOW_PRIVATE_URLS": "1",
    }
    if token:
        env["REPLICATE_API_TOKEN"] = token
    return load_settings(**env)


def _config(settings: Settings, url: str, destination: str = "alice/lora") -> TrainingConfig:
    options = {"dataset_url": url, "destination": destination, "trigger_word": TRIGGER}
    return resolve_config(cli=options, settings=settings, require_all=True).config


@pytest.fixture
async def gateway(sim: ReplicateSimulator) -> AsyncIterator[ReplicateGateway]:
    _SCHEMA_CACHE.clear()
    gw = ReplicateGateway(_settings(sim, TOKEN), backoff_base=0.001, lookup_interval=0.01)
    yield gw
    await gw.aclose()


async def test_everything_passes_for_a_good_training(
    sim: ReplicateSimulator,
    gateway: ReplicateGateway,
    dataset_url: str,
) -> None:
    settings = _settings(sim, TOKEN)
    found = await preflight(_config(settings, dataset_url), settings, gateway, dry_run=False)
    assert found.ok and found.dataset.ok and not found.token_missing
    assert found.account is not None and found.account.destination_exists
    assert found.account.input_problems == [] and "$" in found.estimate
    assert sim.trainings == {}  # checking submits nothing


async def test_a_missing_destination_and_bad_inputs_block(
    sim: ReplicateSimulator,
    gateway: ReplicateGateway,
    dataset_url: str,
) -> None:
    settings = _settings(sim, TOKEN)
    config = _config(settings, dataset_url, destination="alice/nothere")
    found = await preflight(config, settings, gateway, dry_run=False)
    assert found.account is not None and not found.account.destination_exists
    assert not found.ok
    checks = preview_checks(found, destination="alice/nothere")
    assert checks.destination_ok is False and not checks.ok
    assert "alice/nothere does not exist on Replicate" in checks.problems[0]


async def test_without_a_token_only_a_dry_run_passes(
    sim: ReplicateSimulator,
    gateway: ReplicateGateway,
    dataset_url: str,
) -> None:
    settings = _settings(sim, None)
    config = _config(settings, dataset_url)
    dry = await preflight(config, settings, gateway, dry_run=True)
    assert dry.ok and dry.account is None and not dry.token_missing
    real = await preflight(config, settings, gateway, dry_run=False)
    assert not real.ok and real.token_missing
    assert "REPLICATE_API_TOKEN is not set" in preview_checks(real, destination="a/b").problems[-1]


async def test_a_bad_dataset_blocks(
    sim: ReplicateSimulator,
    gateway: ReplicateGateway,
    dataset_server: Any,
) -> None:
    settings = _settings(sim, TOKEN)
    config = _config(settings, f"{dataset_server.base_url}/notes.zip")
    found = await preflight(config, settings, gateway, dry_run=False)
    assert not found.dataset.ok and not found.ok
    assert not preview_checks(found, destination="alice/lora").ok


def test_input_problems_alone_block() -> None:
    account = AccountCheck(account="alice", destination_exists=True, input_problems=["x"])
    found = Preflight(
        dataset=DatasetReport(url="u"), account=account, token_missing=False, estimate=""
    )
    assert not found.ok
    assert preview_checks(found, destination="a/b").problems == ["x"]


def _range(name: str) -> tuple[Any, Any]:
    param = TrainCog.train._params[name]
    return param.min_value, param.max_value


def test_the_slash_options_take_their_ranges_from_the_core_limits() -> None:
    assert isinstance(TrainCog.train, app_commands.Command)
    assert _range("steps") == (STEPS.low, STEPS.high)
    assert _range("batch_size") == (BATCH_SIZE.low, BATCH_SIZE.high)
    assert _range("lora_rank") == (LORA_RANK.low, LORA_RANK.high)
    assert _range("learning_rate")[1] == LEARNING_RATE_MAX


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"steps": STEPS.high + 1}, "training.steps"),
        ({"steps": STEPS.low - 1}, "training.steps"),
        ({"lora_rank": LORA_RANK.high + 1}, "training.lora_rank"),
        ({"lora_rank": LORA_RANK.low - 1}, "training.lora_rank"),
        ({"batch_size": BATCH_SIZE.high + 1}, "training.batch_size"),
    ],
)
def test_the_config_refuses_values_beyond_the_limits(options: dict[str, Any], field: str) -> None:
    wide = load_settings(SD35L_POLICY_STEPS=str(STEPS), SD35L_POLICY_BATCH_SIZE=str(BATCH_SIZE))
    with pytest.raises(InputError) as info:
        resolve_config(cli={**BASE, **options}, settings=wide)
    assert info.value.field == field


def test_the_settings_policy_must_stay_within_the_limits() -> None:
    assert load_settings(SD35L_POLICY_STEPS=str(STEPS)).policy_steps == (STEPS.low, STEPS.high)
    with pytest.raises(InputError, match=str(STEPS)):
        load_settings(SD35L_POLICY_STEPS=f"{STEPS.low}-{STEPS.high + 1}")
    with pytest.raises(InputError, match=str(BATCH_SIZE)):
        load_settings(SD35L_POLICY_BATCH_SIZE=f"{BATCH_SIZE.low}-{BATCH_SIZE.high + 1}")
