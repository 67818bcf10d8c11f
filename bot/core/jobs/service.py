"""The bot's training lifecycle: submit, refresh, cancel, reconcile, against its database.

The CLI keeps no database and talks to `ReplicateGateway` directly; what both front ends share
before a submit is `bot.core.jobs.preflight`, and who may cancel is `bot.core.jobs.rights`.

Every state change goes through the store first (RoboDanny style), so a restart loses nothing:
- a create is recorded as a *pending submission* before it is sent, and adopted later if the
  answer was lost;
- an ending is stored together with its 'ended' notice in one transaction (the outbox), and the
  outbox's UNIQUE(training_id, kind) makes the notice exist exactly once whoever sees it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from bot.core.config.model import ResolvedConfig, secret_inputs, to_trainer_input
from bot.core.dataset.collect import UPLOAD_STAND_IN
from bot.core.errors import InputError, SD35LError
from bot.core.jobs.bills import UnknownBills
from bot.core.jobs.crash import crash_point
from bot.core.jobs.pending import new_row, resolve_pending
from bot.core.jobs.rights import not_tracked, require_cancel
from bot.core.jobs.uploads import LocalDatasets
from bot.core.log import get_logger
from bot.core.money.cents import bill_cents
from bot.core.replicate.gateway import MARKER_INPUT, OutcomeUnknownError, ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow, config_dict, to_iso, utcnow
from bot.core.trainer_log.progress import log_tail, parse_progress

if TYPE_CHECKING:
    from bot.core.money.budget import Budget, Verdict
    from bot.core.replicate.poll import Fingerprint

log = get_logger(__name__)

NOTICE_ENDED = "ended"
LOG_TAIL_LINES = 30
_TAIL_SCAN = 64 * 1024
# The end of a running training's log decoded on a refresh: its last progress bar and stage
# (a job-bar line is ~110 characters). An ended training is decoded with _TAIL_SCAN, once.
_PROGRESS_SCAN = 16 * 1024


def recent_tail(logs: str | None) -> str:
    """The last lines of the logs; only the end is scanned (logs grow to megabytes)."""
    if logs and len(logs) > _TAIL_SCAN:
        logs = logs[-_TAIL_SCAN:].split("\n", 1)[-1]
    return log_tail(logs, LOG_TAIL_LINES)


def ended_payload(
    row: TrainingRow, training: Training, cost_cents: int | None, tail: str | None = None
) -> dict[str, Any]:
    """Everything the 'ended' notice shows, frozen at the moment the ending was seen."""
    begin = training.started_at or row.started_at or training.created_at or row.created_at
    end = training.completed_at or utcnow()
    return {
        "training_id": training.id,
        "owner_id": row.owner_id,
        "status": training.status,
        "error": training.error,
        "log_tail": recent_tail(training.logs) if tail is None else tail,
        "weights_url": training.weights_url,
        "new_version": training.new_version,
        "predict_time": training.predict_time,
        "cost_cents": cost_cents,
        "trigger_word": row.trigger_word,
        "destination": row.destination,
        "duration_s": max(0.0, (end - begin).total_seconds()),
        "web_url": training.web_url,
        "completed_at": to_iso(end),
    }


class JobService:
    """What the bot does with trainings, through its store. Owns no Discord, no loop."""

    def __init__(
        self,
        store: Store,
        gateway: ReplicateGateway,
        settings: Settings,
        budget: Budget | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.settings = settings
        self.budget = budget  # the team's money rule and ledger; the CLI has none
        self._money_lock = asyncio.Lock()
        self.datasets = LocalDatasets(settings, gateway)
        self._owner_locks: dict[int, asyncio.Lock] = {}
        self._inflight: set[int] = set()  # pending submissions this process is sending now
        self._stored: dict[str, Fingerprint] = {}  # the last answer stored, per training
        self._bills = UnknownBills()  # ended trainings whose cost is not known yet

    # -- submit ------------------------------------------------------------------------------

    async def claim_start(
        self, preview: Any, resolved_config: ResolvedConfig, *, owner_id: int | None = None
    ) -> int | None:
        """Claim a saved preview and record its submission in one transaction.

        None when the preview was already used or expired (a double click). Otherwise a crash
        at any later point leaves a record that `resolve_pending_submissions` settles: the
        training is found and adopted, or the owner is told nothing was submitted.
        """
        config = resolved_config.config
        inputs = await self._inputs_with_marker(config)
        pending_id = await self.store.pending.add(
            owner_id=preview.owner_id if owner_id is None else owner_id,
            guild_id=preview.guild_id,
            channel_id=preview.channel_id,
            destination=str(config.destination),
            trigger_word=config.trigger_word,
            config=config_dict(config),
            inputs=inputs,
            marker=inputs.get(MARKER_INPUT),
            preview_key=preview.key,
        )
        if pending_id is not None:
            self._inflight.add(pending_id)  # submit() is next; the tracker leaves it alone
        crash_point("start-recorded")
        return pending_id

    async def _inputs_with_marker(self, config: Any) -> dict[str, Any]:
        """The trainer inputs plus this submission's marker when the trainer takes one; a local
        dataset's URL is known only after its upload, in `_send`."""
        inputs = to_trainer_input(
            config, input_images=UPLOAD_STAND_IN if config.dataset_path else None
        )
        if await self.gateway.accepts_input(MARKER_INPUT):
            inputs[MARKER_INPUT] = "sd35l-" + secrets.token_hex(8)
        return inputs

    async def submit(
        self,
        owner_id: int,
        guild_id: int | None,
        channel_id: int | None,
        resolved_config: ResolvedConfig,
        start_key: str | None = None,
        *,
        pending_id: int | None = None,
        approved: bool = False,
        images: int | None = None,
    ) -> TrainingRow:
        """Start a training for `owner_id` from a checked config.

        The per-user limit is checked under a per-user lock, so two quick /train clicks cannot
        both pass it; budgets and approval (`budget.Budget.check`) too, before anything is
        uploaded or created, and under one lock for everyone when there is a team budget, since
        that one is shared. `approved`: a manager approved this training. `images`: the usable
        images the dataset check counted, for the estimate and the ledger. A refusal drops the
        Start's record: nothing was sent. Secrets go to Replicate only; the stored row holds
        the scrubbed config.
        A local dataset (`dataset_path`, a pack the bot kept) is uploaded here, inside the
        claimed Start, and a retry of the same `start_key` reuses that upload. `pending_id` is
        the record `claim_start` made; without one, it is made here.
        """
        config = resolved_config.config
        lock = self._owner_locks.setdefault(owner_id, asyncio.Lock())
        shared = self.budget is not None and self.settings.budget_team_monthly is not None
        async with lock, self._money_lock if shared else contextlib.nullcontext():
            if pending_id is None:
                inputs = await self._inputs_with_marker(config)
                pending_id = await self.store.pending.add(
                    owner_id=owner_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    destination=str(config.destination),
                    trigger_word=config.trigger_word,
                    config=config_dict(config),
                    inputs=inputs,
                    marker=inputs.get(MARKER_INPUT),
                )
                assert pending_id is not None
            self._inflight.add(pending_id)
            try:
                money = (approved, images)
                return await self._send(owner_id, pending_id, config, start_key, money)
            finally:
                self._inflight.discard(pending_id)

    async def _send(
        self,
        owner_id: int,
        pending_id: int,
        config: Any,
        start_key: str | None,
        money: tuple[bool, int | None],
    ) -> TrainingRow:
        pending = await self.store.pending.get(pending_id)
        if pending is None:
            raise InputError("This start was already handled; see /jobs.", field="training")
        limit = self.settings.max_active_per_user
        active = await self.store.trainings.count_active(owner_id)
        if active >= limit:
            await self.store.pending.drop(pending_id)
            raise InputError(
                f"You already have {active} training(s) running and SD35L_MAX_ACTIVE_PER_USER "
                f"allows {limit} at once; wait for one to end or cancel one first.",
                field="SD35L_MAX_ACTIVE_PER_USER",
            )
        verdict = await self._money_check(owner_id, pending_id, config, *money)
        local = config.dataset_path
        upload = await self.datasets.upload(local, start_key) if local else None
        inputs = dict(pending.inputs)
        if upload is not None:
            inputs["input_images"] = upload[0].url
            await self.store.pending.set_inputs(pending_id, inputs)
        await self.store.pending.mark_sent(pending_id)
        crash_point("create-sending")
        try:
            training = await self.gateway.create_training(
                pending.destination, inputs, secret_inputs(self.settings)
            )
        except SD35LError as exc:
            if not _outcome_unknown(exc):
                await self.store.pending.drop(pending_id)
                if upload is not None and upload[1]:
                    await self.datasets.discard_upload(upload[0])
            raise
        crash_point("create-answered")
        row = new_row(training, pending)
        row = await self.store.trainings.add(row, pending_id=pending_id)
        if self.budget is not None:
            await self.budget.record(row, config, verdict, money[1])
        if local:
            self.datasets.started(local)
        log.info("training %s submitted by %s to %s", training.id, owner_id, pending.destination)
        return await self.apply(row, training)

    async def record_adopted(
        self, row: TrainingRow, config: Any, preview_key: str | None = None
    ) -> None:
        """A training adopted after a lost create answer enters the ledger too, with the image
        count of the preview its Start claimed while that preview is still stored."""
        if self.budget is not None:
            preview = await self.store.previews.get(preview_key) if preview_key else None
            images = preview.images if preview is not None else None
            await self.budget.record(row, config, images=images)

    async def _file_unfiled(self, rows: list[TrainingRow]) -> None:
        """A training row is written before its ledger row; a crash between the two would leave
        a running training out of every budget, so a restart files it from its stored config."""
        if self.budget is None:
            return
        missing = set(await self.budget.ledger.unfiled([row.id for row in rows]))
        for row in rows:
            if row.id in missing:
                await self.budget.record(row, row.config)
                log.warning("training %s was missing from the ledger: filed now", row.id)

    async def _money_check(
        self, owner_id: int, pending_id: int, config: Any, approved: bool, images: int | None
    ) -> Verdict | None:
        """The team's budgets and approval rule; a refusal drops the Start's record."""
        if self.budget is None:
            return None
        try:
            return await self.budget.check(owner_id, config, approved=approved, images=images)
        except SD35LError:
            await self.store.pending.drop(pending_id)
            raise

    # -- refresh -----------------------------------------------------------------------------

    async def refresh(self, training_id: str, row: TrainingRow | None = None) -> TrainingRow:
        """Ask Replicate, store the answer; an ending enqueues its one 'ended' notice. `row` is
        the caller's copy of the training's row (the tracker's, listed at its round's start),
        which saves reading it again; the store keeps a terminal row terminal either way."""
        row = row if row is not None and row.id == training_id else await self._row(training_id)
        # Only the end of the logs is decoded: where the last progress bar and stage are (a bar
        # missing there keeps the step already stored), and for an ended training what
        # `recent_tail` reads. The same answer as the last one stored is not decoded, parsed
        # nor stored again.
        polled = await self.gateway.poll_training(
            training_id,
            logs_chars=_PROGRESS_SCAN,
            since=self._stored.get(training_id),
            ended_logs_chars=_TAIL_SCAN,
        )
        if polled.training is None:
            return row
        updated = await self.apply(row, polled.training)
        if not updated.is_terminal:
            self._stored[training_id] = polled.fingerprint
        return updated

    async def apply(self, row: TrainingRow, training: Training) -> TrainingRow:
        """Store a training object we already have (a refresh, a cancel answer, a webhook)."""
        progress = parse_progress(training.logs)
        cost = bill_cents(training, self.settings.gpu_price)
        # The end of the log is shown only once a training ended (its notice and log file);
        # a running one's tail would be redacted and stored on every refresh for nobody.
        tail = recent_tail(training.logs) if training.is_terminal else None
        notice = None
        if training.is_terminal:
            notice = (NOTICE_ENDED, ended_payload(row, training, cost, tail))
        updated = await self.store.trainings.update_from_training(
            training, progress, cost, log_tail=tail, notice=notice
        )
        if updated is None:  # deleted under our feet: report what we know
            return row
        if updated.is_terminal:
            self._stored.pop(training.id, None)  # however it ended (a refresh, a cancel, a hook)
        if updated.is_terminal and not row.is_terminal:
            log.info("training %s ended: %s", training.id, updated.status)
            await self.datasets.forget(training)
        if updated.is_terminal and self.budget is not None:
            await self.budget.settle(training)
        return updated

    # -- cancel ------------------------------------------------------------------------------

    async def cancel(self, training_id: str, requester_id: int, is_manager: bool) -> TrainingRow:
        """Cancel for its creator or a manager; an ended training is reported, not touched."""
        row = await self._row(training_id)
        require_cancel(row, requester_id, is_manager)
        training = await self.gateway.cancel_training(training_id)
        log.info("training %s cancel requested by %s", training_id, requester_id)
        return await self.apply(row, training)

    # -- after a restart ---------------------------------------------------------------------

    async def reconcile(self, concurrency: int = 8) -> list[TrainingRow]:
        """Bring every unfinished training up to date (the bot may have been down).

        One failing training is logged and skipped; the others are still refreshed.
        """
        await self.resolve_pending_submissions()
        rows = await self.store.trainings.active()
        await self._file_unfiled(rows)
        await self.read_unknown_costs()
        sem = asyncio.Semaphore(max(1, concurrency))

        async def one(row: TrainingRow) -> TrainingRow:
            async with sem:
                try:
                    return await self.refresh(row.id, row)
                except Exception as exc:
                    log.warning("reconcile: training %s not refreshed: %s", row.id, exc)
                    return row

        return list(await asyncio.gather(*(one(r) for r in rows)))

    async def read_unknown_costs(self) -> int:
        """Ask again for bills Replicate had not reported (see `jobs.bills`)."""
        return await self._bills.read(self)

    async def resolve_pending_submissions(self) -> int:
        """Settle submissions whose create answer never arrived (see `jobs.pending`)."""
        return await resolve_pending(self, self._inflight)

    async def _row(self, training_id: str) -> TrainingRow:
        row = await self.store.trainings.get(training_id)
        if row is None:
            raise not_tracked(training_id)
        return row


def _outcome_unknown(exc: SD35LError) -> bool:
    """True when Replicate may have made the training although we got an error.

    The gateway already looked for a lost create among the newest trainings; it says so with
    `OutcomeUnknownError`. Every other error means nothing was created.
    """
    return isinstance(exc, OutcomeUnknownError)
