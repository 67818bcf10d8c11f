"""Errors that reach a user as one actionable sentence, never as a traceback.

Front ends catch `SD35LError` and print `str(err)`; `exit_code` follows docs/interface.md
(2 = the user's input is wrong, 1 = anything else failed).
"""

from __future__ import annotations


class SD35LError(Exception):
    """A failure the user can act on. `message` says what happened, `hint` what to do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InputError(SD35LError):
    """The user's input is invalid; `field` names it (a config path like `training.steps`)."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class ServiceError(SD35LError):
    """Replicate, the network or a download failed; `status` is the HTTP status when known."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
