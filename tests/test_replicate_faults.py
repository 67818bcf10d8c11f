"""ReplicateGateway under injected faults: throttling, 5xx, and create answers that get lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.errors import ServiceError
from bot.core.replicate.errors import OutcomeUnknownError
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import is_lost_create
from bot.sim import ReplicateSimulator
from tests.replicate_support import DATASET, TOKEN, creates, make_settings, wait_terminal


def gateway(replicate_sim: ReplicateSimulator, **kwargs: Any) -> ReplicateGateway:
    kwargs.setdefault("backoff_base", 0.001)
    kwargs.setdefault("lookup_interval", 0.01)
    return ReplicateGateway(make_settings(replicate_sim.base_url), **kwargs)


def inputs(trigger: str = "TOK") -> dict[str, Any]:
    return {"input_images": DATASET, "trigger_word": trigger, "steps": 3}


async def test_reads_survive_30_percent_throttling_and_5xx(
    replicate_sim: ReplicateSimulator,
) -> None:
    for _ in range(120):
        replicate_sim.create_training("alice/lora", inputs())
    replicate_sim.faults.read_failure_rate = 0.3
    calls = 0
    async with gateway(replicate_sim, read_attempts=8) as gw:
        assert await gw.check_token() == "alice"
        calls += 1
        created = await gw.create_training("alice/lora", inputs("NEW"))
        assert (await wait_terminal(gw, created.id)).status == "succeeded"
        for _ in range(10):
            assert len(await gw.list_trainings(limit=200)) == 121
            calls += 2
        for training_id in list(replicate_sim.trainings)[:20]:
            assert (await gw.get_training(training_id)).id == training_id
            calls += 1
        assert gw.requests_made > calls  # some were retried
    statuses = {r.path for r in replicate_sim.requests if r.method == "POST"}
    assert len(creates(replicate_sim)) == 1 and len(statuses) == 1


async def test_reads_give_up_after_read_attempts(replicate_sim: ReplicateSimulator) -> None:
    replicate_sim.faults.read_failure_rate = 1.0
    async with gateway(replicate_sim, read_attempts=3) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.list_trainings()
        assert info.value.status in (429, 500, 503)
        assert gw.requests_made == 3
        assert TOKEN not in str(info.value)


@pytest.mark.parametrize("mode", ["hang", "close"])
async def test_create_timeout_after_the_training_was_made_does_not_duplicate(
    replicate_sim: ReplicateSimulator, mode: str
) -> None:
    replicate_sim.faults.create_timeouts = 1
    replicate_sim.faults.create_timeout_mode = mode
    async with gateway(replicate_sim, timeout=0.3) as gw:
        training = await gw.create_training("alice/lora", inputs())
    assert list(replicate_sim.trainings) == [training.id]
    assert len(creates(replicate_sim)) == 1
    assert training.input["input_images"] == DATASET


def test_lookup_matches_only_our_training(replicate_sim: ReplicateSimulator) -> None:
    gw = gateway(replicate_sim)
    since = datetime.now(UTC) - timedelta(minutes=1)
    trainer = gw.settings.trainer_model
    ours = {
        "id": "a",
        "model": gw.settings.trainer_model,
        "destination": "alice/lora",
        "input": inputs(),
        "created_at": datetime.now(UTC).isoformat(),
    }
    assert is_lost_create(ours, "alice/lora", inputs(), since, trainer)
    old = {**ours, "created_at": (since - timedelta(seconds=1)).isoformat()}
    others = [
        {**ours, "input": inputs("OTHER")},
        {**ours, "input": {**inputs(), "input_images": "https://example.com/b.zip"}},
        {**ours, "destination": "alice/other"},
        {**ours, "model": "someone/else"},
        {**ours, "destination": None, "output": {"version": "bob/lora:abc"}},
        {**ours, "created_at": None},
        {**ours, "input": None},
        old,
    ]
    assert [is_lost_create(o, "alice/lora", inputs(), since, trainer) for o in others] == [
        False
    ] * 8
    without_destination = {k: v for k, v in ours.items() if k != "destination"}
    assert is_lost_create(without_destination, "alice/lora", inputs(), since, trainer)


async def test_create_5xx_without_training_creates_again_once(
    replicate_sim: ReplicateSimulator,
) -> None:
    replicate_sim.faults.create_status = 500
    async with gateway(replicate_sim, lookup_attempts=2) as gw:
        training = await gw.create_training("alice/lora", inputs())
    assert list(replicate_sim.trainings) == [training.id]
    assert len(creates(replicate_sim)) == 2


async def test_create_outcome_unknown_when_the_list_cannot_be_read(
    replicate_sim: ReplicateSimulator,
) -> None:
    replicate_sim.faults.create_timeouts = 1
    replicate_sim.faults.read_failure_rate = 1.0
    async with gateway(replicate_sim, timeout=0.3, read_attempts=2, lookup_attempts=2) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.create_training("alice/lora", inputs())
    assert "`sd35l-trainer list`" in str(info.value)
    assert len(creates(replicate_sim)) == 1  # never created again blindly
    assert TOKEN not in str(info.value)


async def test_create_outcome_unknown_after_second_lost_answer(
    replicate_sim: ReplicateSimulator,
) -> None:
    replicate_sim.faults.create_timeouts = 2
    async with gateway(replicate_sim, timeout=0.3, lookup_attempts=1) as gw:
        # make the training invisible to the lookup: a different trigger word is stored
        original = replicate_sim.create_training

        def disguised(destination: str, inputs: dict[str, Any], extra: Any = None) -> Any:
            return original(destination, {**inputs, "trigger_word": "ELSE"}, extra)

        replicate_sim.create_training = disguised  # type: ignore[method-assign]
        with pytest.raises(ServiceError) as info:
            await gw.create_training("alice/lora", inputs())
    assert "did not confirm whether the training was created" in str(info.value)
    assert isinstance(info.value, OutcomeUnknownError) and info.value.exit_code == 1
    assert len(creates(replicate_sim)) == 2  # the first attempt and exactly one more


async def test_create_429_is_retried_after_retry_after(replicate_sim: ReplicateSimulator) -> None:
    replicate_sim.faults.create_status = 429
    async with gateway(replicate_sim) as gw:
        training = await gw.create_training("alice/lora", inputs())
    assert list(replicate_sim.trainings) == [training.id]
    assert len(creates(replicate_sim)) == 2


async def test_second_create_refused_leaves_the_outcome_unknown(
    replicate_sim: ReplicateSimulator,
) -> None:
    replicate_sim.faults.create_status = 500  # the first create: no training, outcome unknown to us

    async def refuse_the_second_create() -> None:
        for _ in range(5000):
            if any(r.path == "/v1/trainings" for r in replicate_sim.requests):
                replicate_sim.faults.create_status = 402
                return
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(refuse_the_second_create())
    async with gateway(replicate_sim, lookup_attempts=2, lookup_interval=0.2) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.create_training("alice/lora", inputs())
    await watcher
    assert "did not confirm whether the training was created" in str(info.value)
    assert len(creates(replicate_sim)) == 2
