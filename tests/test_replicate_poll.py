"""Reading a training through the shared aiohttp session (`bot.core.replicate.poll`), against
the simulator on loopback: the same answers, errors, retries and request counts as every other
read of the gateway, the token never shown, the session closed with the gateway, and an
unchanged answer neither decoded nor stored again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.errors import InputError, ServiceError
from bot.core.jobs.service import JobService
from bot.core.replicate import errors
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.poll import env_proxy
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow
from bot.sim import ReplicateSimulator
from tests.replicate_support import TOKEN, make_settings

LOG_STEPS = 2000  # ~0.25 MB of logs


@pytest.fixture
async def sim() -> AsyncIterator[ReplicateSimulator]:
    simulator = ReplicateSimulator(token=TOKEN, step_seconds=0.01, start_delay=0.01)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def gateway(base_url: str, token: str | None = TOKEN, **kwargs: Any) -> ReplicateGateway:
    kwargs.setdefault("backoff_base", 0.001)
    return ReplicateGateway(make_settings(base_url, token), **kwargs)


def running(sim: ReplicateSimulator, steps: int = 0) -> str:
    """A training that has run `steps` steps and keeps running (its log grows)."""
    record = sim.create_training("alice/lora", {"trigger_word": "Z", "steps": 100_000})
    with sim.lock:
        record.created_mono -= steps * sim.step_seconds
    return record.id


def ended(sim: ReplicateSimulator, steps: int, status: str = "failed") -> str:
    """A training that ran `steps` steps and ended: its answer no longer changes."""
    training_id = running(sim, steps)
    sim.finish(training_id, status)
    return training_id


def gets(sim: ReplicateSimulator, training_id: str) -> int:
    return sum(1 for r in sim.requests if r.path == f"/v1/trainings/{training_id}")


async def test_the_read_does_not_go_through_the_official_client(
    sim: ReplicateSimulator,
) -> None:
    training_id = running(sim, 10)
    async with gateway(sim.base_url) as gw:
        await gw._http.aclose()  # the official client's httpx client can send nothing now
        training = await gw.get_training(training_id)
        assert training.id == training_id and training.status in ("starting", "processing")
        assert gw.requests_made == 1 and gets(sim, training_id) == 1


async def test_429_waits_as_retry_after_says(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    sim.faults.retry_after = 0.3
    sim.faults.read_statuses = [429, 503]
    async with gateway(sim.base_url, read_attempts=3) as gw:
        began = time.monotonic()
        training = await gw.get_training(training_id)
        assert time.monotonic() - began >= 0.3
        assert training.id == training_id
        assert gw.requests_made == 3 and gets(sim, training_id) == 3


async def test_retry_after_is_capped_by_max_backoff(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    sim.faults.retry_after = 30.0
    sim.faults.read_statuses = [429]
    async with gateway(sim.base_url, max_backoff=0.05) as gw:
        began = time.monotonic()
        assert (await gw.get_training(training_id)).id == training_id
        assert time.monotonic() - began < 5.0


@pytest.mark.parametrize(
    ("statuses", "status", "words"),
    [
        ([500, 502, 503], 503, "had a server error (HTTP 503) while trying to read training"),
        ([503, 429, 429], 429, "kept throttling requests (429) while trying to read training"),
    ],
)
async def test_retries_end_with_the_gateways_sentence(
    sim: ReplicateSimulator, statuses: list[int], status: int, words: str
) -> None:
    training_id = running(sim)
    sim.faults.read_statuses = list(statuses)
    async with gateway(sim.base_url, read_attempts=3) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.get_training(training_id)
        assert info.value.status == status
        assert f"Replicate {words} {training_id}" in str(info.value)
        assert gw.requests_made == 3
        # Another read of the gateway (the official client) maps the same answer alike.
        sim.faults.read_statuses = [status] * 3
        with pytest.raises(ServiceError) as other:
            await gw.list_trainings()
        assert str(other.value) == str(info.value).replace(
            f"read training {training_id}", "list trainings"
        )


async def test_401_is_the_token_sentence_and_is_not_retried(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    wrong = "r8_" + "wrong" * 6
    async with gateway(sim.base_url, token=wrong, read_attempts=4) as gw:
        with pytest.raises(InputError) as info:
            await gw.get_training(training_id)
        assert str(info.value) == errors.MSG_401 and info.value.field == "REPLICATE_API_TOKEN"
        assert gw.requests_made == 1
        assert wrong not in str(info.value)


async def test_no_token_fails_before_any_request(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    async with gateway(sim.base_url, token=None) as gw:
        with pytest.raises(InputError) as info:
            await gw.get_training(training_id)
        assert info.value.field == "REPLICATE_API_TOKEN"
        assert gw.requests_made == 0 and gets(sim, training_id) == 0


async def test_a_training_that_disappears_is_not_found(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    async with gateway(sim.base_url, read_attempts=3) as gw:
        assert (await gw.get_training(training_id)).id == training_id
        with sim.lock:
            del sim.records[training_id]
        with pytest.raises(InputError) as info:
            await gw.get_training(training_id)
        assert f"Training {training_id} was not found on Replicate" in str(info.value)
        assert info.value.field == "training_id"
        assert gw.requests_made == 2  # a 404 is an answer, not retried


async def test_unreachable_and_slow_replicate(sim: ReplicateSimulator) -> None:
    async with gateway("http://127.0.0.1:9", read_attempts=2) as gw:  # nothing listens
        with pytest.raises(ServiceError) as info:
            await gw.get_training("abc")
        assert str(info.value).startswith("Could not reach Replicate at http://127.0.0.1:9: ")
        assert gw.requests_made == 2
    training_id = running(sim)
    sim.faults.slow_seconds = 2.0
    async with gateway(sim.base_url, read_attempts=2, timeout=0.2) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.get_training(training_id)
        assert "timed out" in str(info.value) and gw.requests_made == 2


async def test_the_token_is_never_logged_nor_in_a_message(
    sim: ReplicateSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    training_id = running(sim)
    messages: list[str] = []
    sim.faults.read_statuses = [429, 500, 503, 429]
    async with gateway(sim.base_url, read_attempts=2) as gw:
        for _ in range(2):
            with pytest.raises(ServiceError) as info:
                await gw.get_training(training_id)
            messages.append(str(info.value))
    async with gateway("http://127.0.0.1:9", read_attempts=2) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.get_training(training_id)
        messages.append(str(info.value))
    assert "retry in" in caplog.text  # the retries were logged
    assert TOKEN not in "\n".join(messages) + caplog.text


async def test_only_the_end_of_the_logs_is_kept(sim: ReplicateSimulator) -> None:
    training_id = ended(sim, LOG_STEPS)
    async with gateway(sim.base_url) as gw:
        full = await gw.get_training(training_id)
        cut = await gw.get_training(training_id, logs_chars=4096)
    assert full.logs is not None and cut.logs is not None
    assert 4096 < len(cut.logs) < len(full.logs) // 10
    assert full.logs.endswith(cut.logs) and cut.logs.startswith("\n")
    assert cut.raw["logs"] == cut.logs
    assert {k: v for k, v in cut.raw.items() if k != "logs"} == {
        k: v for k, v in full.raw.items() if k != "logs"
    }


async def test_an_unchanged_answer_is_not_decoded(sim: ReplicateSimulator) -> None:
    still = ended(sim, LOG_STEPS)
    moving = running(sim, LOG_STEPS)
    async with gateway(sim.base_url) as gw:
        first = await gw.poll_training(still, logs_chars=4096)
        again = await gw.poll_training(still, logs_chars=4096, since=first.fingerprint)
        assert first.training is not None and again.training is None
        assert again.fingerprint == first.fingerprint
        seen = await gw.poll_training(moving, logs_chars=4096)
        await asyncio.sleep(5 * sim.step_seconds)  # a few more lines of log
        later = await gw.poll_training(moving, logs_chars=4096, since=seen.fingerprint)
        assert later.training is not None and later.fingerprint != seen.fingerprint
        assert gw.requests_made == 4  # every read asked Replicate


async def test_a_refresh_of_an_unchanged_training_writes_nothing(
    sim: ReplicateSimulator, tmp_path: Path
) -> None:
    sim.start_delay = 600.0  # queued: the same answer until it starts
    record = sim.create_training("alice/lora", {"trigger_word": "Z", "steps": 100_000})
    settings = make_settings(sim.base_url)
    store = await Store.open(tmp_path / "bot.sqlite")
    try:
        async with gateway(sim.base_url) as gw:
            jobs = JobService(store, gw, settings)
            await store.trainings.add(TrainingRow(id=record.id, owner_id=1, destination="a/b"))
            first = await jobs.refresh(record.id)
            assert first.status == "starting" and first.updated_at is not None
            await asyncio.sleep(0.01)
            again = await jobs.refresh(record.id)
            assert again.updated_at == first.updated_at  # not stored again
            with sim.lock:  # it starts: the answer changes, and is stored
                record.created_mono -= record.start_delay + 50 * record.step_seconds
            moved = await jobs.refresh(record.id)
            assert moved.status == "processing" and moved.step is not None and moved.step > 0
            assert moved.updated_at is not None and moved.updated_at > first.updated_at
            assert gets(sim, record.id) == 3
    finally:
        await store.close()


async def test_the_session_is_closed_with_the_gateway(sim: ReplicateSimulator) -> None:
    training_id = running(sim)
    gw = gateway(sim.base_url)
    await gw.get_training(training_id)
    assert gw._reader is not None
    session = gw._reader._session
    assert isinstance(session, aiohttp.ClientSession) and not session.closed
    await gw.aclose()
    assert session.closed
    async with gateway(sim.base_url) as unused:  # never read: nothing to close, no error
        assert unused._reader is None


def test_the_proxy_comes_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert env_proxy("https://api.replicate.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy("https://api.replicate.com") == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:8000") is None  # only an https proxy is set
    monkeypatch.setenv("NO_PROXY", "replicate.com")
    assert env_proxy("https://api.replicate.com") is None


async def test_an_ended_training_is_decoded_with_more_of_its_log(sim: ReplicateSimulator) -> None:
    """A running training needs only its last progress bar; an ended one is decoded once, with
    enough of its log for the last lines its notice shows."""
    training_id = ended(sim, LOG_STEPS)
    async with gateway(sim.base_url) as gw:
        full = await gw.get_training(training_id)
        polled = await gw.poll_training(training_id, logs_chars=4096, ended_logs_chars=32768)
    assert full.logs is not None and polled.training is not None
    logs = polled.training.logs
    assert logs is not None and 32768 < len(logs) < len(full.logs) // 4
    assert full.logs.endswith(logs)
