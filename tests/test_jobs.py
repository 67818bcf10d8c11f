"""The training lifecycle against the real gateway and the Replicate simulator on loopback:
submit, refresh, the one 'ended' notice per training, cancel rights, the per-user limit,
restarts and lost create answers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import InputError, SD35LError, ServiceError
from bot.core.jobs.pending import NOT_SUBMITTED
from bot.core.jobs.rights import NotAllowedError
from bot.core.jobs.service import JobService, _outcome_unknown
from bot.core.replicate.gateway import OutcomeUnknownError
from bot.core.replicate.training import Training
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow
from bot.sim import ReplicateSimulator
from tests.jobs_support import (
    DATASET,
    LONG,
    OTHER,
    OWNER,
    WANDB_KEY,
    Process,
    config,
    make_gateway,
    make_settings,
    start_process,
    until_ended,
)


async def test_submit_progress_success_and_exactly_one_notice(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    row = await proc.jobs.submit(OWNER, 5, 6, config(settings))
    assert row.owner_id == OWNER and row.guild_id == 5 and row.channel_id == 6
    assert row.destination == "alice/lora" and row.trigger_word == "ZXQTOK"
    assert not row.is_terminal and row.config
    create = next(r for r in jobs_sim.requests if r.method == "POST" and "trainings" in r.path)
    assert create.json["destination"] == "alice/lora"
    assert create.json["input"]["wandb_api_key"] == WANDB_KEY  # sent to Replicate only
    assert await proc.store.pending.unsettled() == []
    raw = await proc.store.trainings.raw_config_json(row.id)
    assert raw is not None and WANDB_KEY not in raw and DATASET in raw

    ended = await until_ended(proc, row.id)
    assert ended.status == "succeeded" and ended.step == ended.total == 40
    assert ended.weights_url and ended.new_version and ended.predict_time
    assert ended.cost_cents is not None and ended.cost_cents > 0 and ended.eta_at is None
    [notice] = await proc.store.outbox.undelivered()
    payload = notice.payload
    assert notice.kind == "ended" and notice.training_id == row.id
    assert payload["status"] == "succeeded" and payload["error"] is None
    assert payload["weights_url"] == ended.weights_url
    assert payload["new_version"] == ended.new_version
    assert (
        payload["cost_cents"] == ended.cost_cents and payload["predict_time"] == ended.predict_time
    )
    assert payload["trigger_word"] == "ZXQTOK" and payload["destination"] == "alice/lora"
    assert payload["duration_s"] >= 0 and payload["owner_id"] == OWNER
    assert payload["web_url"].endswith(row.id)
    assert isinstance(payload["log_tail"], str) and payload["log_tail"]
    assert len(payload["log_tail"].splitlines()) <= 30
    # Further refreshes (and a reconcile) never owe a second notice.
    await proc.jobs.refresh(row.id)
    await proc.jobs.reconcile()
    assert len(await proc.store.outbox.for_training(row.id)) == 1


@pytest.mark.parametrize("outcome", ["failed", "canceled", "aborted"])
async def test_every_ending_gets_its_notice(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process, outcome: str
) -> None:
    jobs_sim.faults.outcome = outcome
    row = await proc.jobs.submit(OWNER, None, None, config(settings, steps=10))
    ended = await until_ended(proc, row.id)
    assert ended.status == outcome
    [notice] = await proc.store.outbox.undelivered()
    assert notice.payload["status"] == outcome
    assert notice.payload["weights_url"] is None
    if outcome == "failed":
        assert notice.payload["error"] and ended.error
    assert await proc.store.trainings.count_active(OWNER) == 0


async def test_cancel_rights_and_already_ended(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    row = await proc.jobs.submit(OWNER, 1, 2, config(settings, steps=LONG))
    with pytest.raises(NotAllowedError, match="Only the creator") as info:
        await proc.jobs.cancel(row.id, OTHER, is_manager=False)
    assert info.value.exit_code == 2
    canceled = await proc.jobs.cancel(row.id, OTHER, is_manager=True)
    assert canceled.status == "canceled"
    [notice] = await proc.store.outbox.undelivered()
    assert notice.payload["status"] == "canceled"
    with pytest.raises(InputError, match="already ended \\(canceled\\)"):
        await proc.jobs.cancel(row.id, OWNER, is_manager=False)
    with pytest.raises(InputError, match="not tracked"):
        await proc.jobs.cancel("unknown1", OWNER, is_manager=True)
    with pytest.raises(InputError, match="not tracked"):
        await proc.jobs.refresh("unknown1")


async def test_owner_can_cancel_own_training(settings: Settings, proc: Process) -> None:
    row = await proc.jobs.submit(OWNER, 1, 2, config(settings, steps=LONG))
    assert (await proc.jobs.cancel(row.id, OWNER, is_manager=False)).status == "canceled"


async def test_per_user_active_limit(
    jobs_sim: ReplicateSimulator, tmp_path: Path, settings: Settings
) -> None:
    limited = make_settings(jobs_sim, tmp_path, SD35L_MAX_ACTIVE_PER_USER=1)
    proc = await start_process(limited)
    try:
        first = await proc.jobs.submit(OWNER, 1, 2, config(limited, steps=LONG))
        creates = len(jobs_sim.trainings)
        with pytest.raises(InputError, match="SD35L_MAX_ACTIVE_PER_USER allows 1") as info:
            await proc.jobs.submit(OWNER, 1, 2, config(limited))
        assert info.value.field == "SD35L_MAX_ACTIVE_PER_USER"
        assert len(jobs_sim.trainings) == creates  # nothing was sent
        await proc.jobs.submit(OTHER, 1, 2, config(limited))  # others are not limited by it
        await proc.jobs.cancel(first.id, OWNER, is_manager=False)
        await proc.jobs.submit(OWNER, 1, 2, config(limited))  # a slot is free again
    finally:
        await proc.close()


async def test_concurrent_submits_respect_the_limit(
    jobs_sim: ReplicateSimulator, tmp_path: Path
) -> None:
    limited = make_settings(jobs_sim, tmp_path, SD35L_MAX_ACTIVE_PER_USER=1)
    proc = await start_process(limited)
    try:
        results = await asyncio.gather(
            *(proc.jobs.submit(OWNER, 1, 2, config(limited, steps=LONG)) for _ in range(3)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, TrainingRow) for r in results) == 1
        assert sum(isinstance(r, InputError) for r in results) == 2
    finally:
        await proc.close()


async def test_restart_mid_training_reconcile_gives_one_notice(
    jobs_sim: ReplicateSimulator, settings: Settings
) -> None:
    first = await start_process(settings)
    row = await first.jobs.submit(OWNER, 1, 2, config(settings, steps=LONG))
    await first.jobs.refresh(row.id)
    await first.close()  # the bot goes down; the training goes on without it
    jobs_sim.finish(row.id, "succeeded")
    second = await start_process(settings)
    try:
        [reconciled] = await second.jobs.reconcile()
        assert reconciled.status == "succeeded"
        await second.jobs.reconcile()
        notices = await second.store.outbox.for_training(row.id)
        assert len(notices) == 1 and notices[0].payload["status"] == "succeeded"
    finally:
        await second.close()


async def test_reconcile_survives_one_broken_training(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    good = await proc.jobs.submit(OWNER, 1, 2, config(settings, steps=LONG))
    await proc.store.trainings.add(TrainingRow(id="gone404", owner_id=OWNER, destination="a/b"))
    jobs_sim.finish(good.id, "failed")
    rows = {r.id: r for r in await proc.jobs.reconcile()}
    assert rows[good.id].status == "failed"
    assert rows["gone404"].status == "starting"  # kept, retried next time


async def test_submit_refused_by_replicate_leaves_nothing_pending(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    jobs_sim.faults.create_status = 422
    with pytest.raises(SD35LError):
        await proc.jobs.submit(OWNER, 1, 2, config(settings))
    assert await proc.store.pending.unsettled() == []
    assert await proc.store.trainings.find() == []


async def _sent(store: Store, owner: int, inputs: dict[str, Any], marker: str | None) -> int:
    """A submission recorded and sent whose answer never reached the store (the crash)."""
    pid = await store.pending.add(
        owner_id=owner,
        guild_id=1,
        channel_id=2,
        destination="alice/lora",
        trigger_word=inputs.get("trigger_word"),
        config={"destination": "alice/lora"},
        inputs=inputs,
        marker=marker,
    )
    assert pid is not None
    await store.pending.mark_sent(pid)
    return pid


async def test_lost_create_answer_is_adopted_on_reconcile(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(settings, steps=LONG)
    from bot.core.config.model import to_trainer_input

    inputs = {**to_trainer_input(cfg.config), "wandb_run": "sd35l-mine"}
    await _sent(proc.store, OWNER, inputs, "sd35l-mine")
    made = jobs_sim.create_training("alice/lora", dict(inputs))
    # Another, unrelated submission that never reached Replicate (too young to be sure).
    other = {**inputs, "trigger_word": "ZXQOTHER", "wandb_run": "sd35l-other"}
    await _sent(proc.store, OTHER, other, "sd35l-other")
    [adopted] = await proc.jobs.reconcile()
    assert adopted.id == made.id and adopted.owner_id == OWNER
    [left] = await proc.store.pending.unsettled()
    assert left.owner_id == OTHER
    assert await proc.jobs.resolve_pending_submissions() == 0
    monkeypatch.setattr("bot.core.jobs.pending.SETTLE", timedelta(0))
    assert await proc.jobs.resolve_pending_submissions() == 0
    assert await proc.store.pending.unsettled() == []
    [told] = await proc.store.pending.untold()
    assert told.owner_id == OTHER and told.outcome == NOT_SUBMITTED


async def test_adopting_an_already_ended_training_owes_its_notice(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    from bot.core.config.model import to_trainer_input

    inputs = to_trainer_input(config(settings, steps=5).config)
    await _sent(proc.store, OWNER, inputs, None)  # no marker: the only match is adopted
    made = jobs_sim.create_training("alice/lora", dict(inputs))
    jobs_sim.finish(made.id, "succeeded")
    assert await proc.jobs.resolve_pending_submissions() == 1
    row = await proc.store.trainings.get(made.id)
    assert row is not None and row.status == "succeeded"
    assert len(await proc.store.outbox.undelivered()) == 1


async def test_pending_lookup_failure_keeps_them(settings: Settings, proc: Process) -> None:
    await _sent(proc.store, OWNER, {}, "sd35l-x")
    await proc.gateway.aclose()
    broken = make_gateway(settings.model_copy(update={"replicate_api_token": None}))
    service = JobService(proc.store, broken, settings)
    try:
        assert await service.resolve_pending_submissions() == 0
    finally:
        await broken.aclose()
    assert len(await proc.store.pending.unsettled()) == 1


def test_which_errors_leave_the_outcome_unknown() -> None:
    assert _outcome_unknown(OutcomeUnknownError("lost create"))
    # The gateway already looked for these: nothing was created.
    assert not _outcome_unknown(ServiceError("Could not reach Replicate"))
    assert not _outcome_unknown(ServiceError("boom", status=502))
    assert not _outcome_unknown(ServiceError("no credit", status=402))
    assert not _outcome_unknown(InputError("bad", field="steps"))
    assert not _outcome_unknown(SD35LError("other"))


async def test_apply_on_a_deleted_row_returns_what_we_had(
    settings: Settings, proc: Process
) -> None:
    row = TrainingRow(id="ghost", owner_id=OWNER, destination="alice/lora")
    got = await proc.jobs.apply(row, Training.from_json({"id": "ghost", "status": "failed"}))
    assert got is row
