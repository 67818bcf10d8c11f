"""Approval of trainings above SD35L_APPROVAL_ABOVE: request, approve, reject, expire.

Approve submits the stored config for the ORIGINAL owner through the job service, which applies
the budgets again at that moment (a month may have filled up since the request). A request is
claimed atomically before submitting, so two managers clicking at once start one training; a
submit that fails before anything was created puts the request back to pending. Reject takes the
manager's reason (optional, at most REASON_MAX characters; none given reads NO_REASON); a request
decided or expired while the manager was typing it is refused as such and changes nothing.
"""

from __future__ import annotations

from typing import Any

from bot.core.config.model import resolve_config
from bot.core.errors import InputError, SD35LError
from bot.core.jobs.rights import NotAllowedError
from bot.core.jobs.service import JobService
from bot.core.log import get_logger
from bot.core.money.budget import APPROVAL_ABOVE, Verdict
from bot.core.money.cents import format_cents
from bot.core.replicate.gateway import OutcomeUnknownError
from bot.core.store.approvals import ApprovalRequest, Approvals
from bot.core.store.rows import TrainingRow

log = get_logger(__name__)

APPROVED, REJECTED = "approved", "rejected"
REASON_MAX = 300  # characters of a rejection reason: a sentence or two, within one embed field
NO_REASON = "no reason given"


def require_manager(is_manager: bool) -> None:
    if not is_manager:
        raise NotAllowedError(
            "Only a member with a manager role (SD35L_MANAGER_ROLES) can approve or reject "
            "a training.",
            field="SD35L_MANAGER_ROLES",
        )


class ApprovalDesk:
    """Approval requests, decided by managers, submitted through the job service."""

    def __init__(self, requests: Approvals, jobs: JobService) -> None:
        self.requests = requests
        self.jobs = jobs

    async def request(
        self,
        owner_id: int,
        guild_id: int | None,
        channel_id: int | None,
        config: dict[str, Any],
        verdict: Verdict,
        summary: str,
        images: int | None = None,
    ) -> ApprovalRequest:
        """File a request for a Start that needs a manager; nothing is submitted. A dataset the
        bot packed from attachments is held until the request is decided or expires."""
        if config.get("dataset_path"):
            config = {**config, "dataset_path": self.jobs.datasets.hold(config["dataset_path"])}
        request = await self.requests.create(
            owner_id=owner_id,
            guild_id=guild_id,
            channel_id=channel_id,
            config=config,
            estimate_high_cents=verdict.high_cents,
            summary=summary,
            images=images,
        )
        log.info("approval %s requested by %s (%s)", request.key, owner_id, APPROVAL_ABOVE)
        return request

    async def pending_request(self, key: str) -> ApprovalRequest:
        """The request if it is still to be decided; InputError saying what became of it."""
        request = await self.requests.get(key)
        if request is None:
            raise InputError("This approval request is not known to the bot.", field="approval")
        if not request.pending or request.expired():
            state = "expired" if request.pending else request.status
            raise InputError(
                f"This approval request was already {state}; nothing more to decide.",
                field="approval",
            )
        return request

    async def approve(
        self, key: str, manager_id: int, is_manager: bool
    ) -> tuple[ApprovalRequest, TrainingRow]:
        """Submit the request's training for its owner; budgets are checked again now."""
        require_manager(is_manager)
        request = await self.pending_request(key)
        if not await self.requests.decide(key, APPROVED, manager_id):
            raise InputError(
                "This approval request was already decided by another click.", field="approval"
            )
        try:
            resolved = resolve_config(file=request.config, settings=self.jobs.settings)
            row = await self.jobs.submit(
                request.owner_id,
                request.guild_id,
                request.channel_id,
                resolved,
                f"approval-{key}",  # a retried approval reuses an upload of a local dataset
                approved=True,
                images=request.images,
            )
        except OutcomeUnknownError:
            raise  # the training may exist: never submit this request again
        except SD35LError:
            await self.requests.reopen(key)
            raise
        await self.requests.set_training(key, row.id)
        log.info("approval %s approved by %s: training %s", key, manager_id, row.id)
        return request, row

    async def reject(
        self, key: str, manager_id: int, is_manager: bool, reason: str | None = None
    ) -> ApprovalRequest:
        """Refuse the request with the manager's reason (checked, then stored with it)."""
        require_manager(is_manager)
        why = clean_reason(reason)
        request = await self.pending_request(key)
        if not await self.requests.decide(key, REJECTED, manager_id, why):
            raise InputError(
                "This approval request was already decided by another click.", field="approval"
            )
        self._release(request)
        log.info("approval %s rejected by %s", key, manager_id)
        request.reason = why
        return request

    async def expire_due(self) -> list[ApprovalRequest]:
        expired = await self.requests.expire_due()
        for request in expired:
            self._release(request)
        return expired

    def _release(self, request: ApprovalRequest) -> None:
        """No training will use the held pack any more."""
        if request.config.get("dataset_path"):
            self.jobs.datasets.started(str(request.config["dataset_path"]))


def clean_reason(reason: str | None) -> str | None:
    """The reason as shown to the owner: trimmed, None when empty; InputError when too long."""
    text = " ".join((reason or "").split())
    if len(text) > REASON_MAX:
        raise InputError(
            f"reason is {len(text)} characters; at most {REASON_MAX} are allowed.", field="reason"
        )
    return text or None


def request_text(request: ApprovalRequest) -> str:
    """One line saying who asked for what, and how much it may cost."""
    return (
        f"{request.summary} · up to {format_cents(request.estimate_high_cents)} "
        f"(above {APPROVAL_ABOVE})"
    )
