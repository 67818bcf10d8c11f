"""Who may start and cancel trainings, and the one sentence each refusal says.

The front end turns its own notion of roles (Discord role ids or names) into plain booleans;
the rules and their messages live only here, for every front end and the job service.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.errors import InputError
from bot.core.store.rows import TrainingRow


class NotAllowedError(InputError):
    """The user may not do this to that training (not its creator, not a manager)."""


def may_start(allowed_roles: Sequence[str], holds_allowed_role: bool) -> bool:
    """Everyone when SD35L_ALLOWED_ROLES is empty, else members holding one of those roles."""
    return not allowed_roles or holds_allowed_role


def require_start(allowed_roles: Sequence[str], holds_allowed_role: bool) -> None:
    if not may_start(allowed_roles, holds_allowed_role):
        raise NotAllowedError(
            "Starting trainings is limited to the roles in SD35L_ALLOWED_ROLES "
            f"({', '.join(allowed_roles)}); ask a server admin for one of them.",
            field="SD35L_ALLOWED_ROLES",
        )


def is_manager(manager_roles: Sequence[str], holds_manager_role: bool) -> bool:
    """Managers exist only when SD35L_MANAGER_ROLES names at least one role."""
    return bool(manager_roles) and holds_manager_role


def not_tracked(training_id: str) -> InputError:
    return InputError(
        f"Training {training_id} is not tracked by this bot; pick one from /jobs or the "
        "autocomplete list.",
        field="training",
    )


def require_cancel(row: TrainingRow, requester_id: int, manager: bool) -> None:
    """Only the creator or a manager may cancel, and only a training that has not ended."""
    if requester_id != row.owner_id and not manager:
        raise NotAllowedError(
            f"Only the creator of training {row.id} or a member with a manager role "
            "(SD35L_MANAGER_ROLES) can cancel it.",
            field="training",
        )
    if row.is_terminal:
        raise InputError(
            f"Training {row.id} already ended ({row.status}); there is nothing to cancel.",
            field="training",
        )
