"""The store's memory of job cards: where each one is, what it shows, whether it is gone.

A mixin of `Store`, kept apart only to keep each file small; it shares the store's connection,
its write lock (`_tx`) and its row reader (`_fetch_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import aiosqlite

from bot.core.replicate.training import TERMINAL_STATUSES
from bot.core.store.rows import TrainingRow, to_iso, utcnow

_TERMINAL_SQL = "(" + ",".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"


class CardsMixin:
    """Card columns of `trainings`; `Store` supplies `_tx`, `_fetch_rows` and `_ROW_COLUMNS`."""

    _row_columns: str

    def _tx(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def _fetch_rows(self, sql: str, params: Iterable[Any] = ()) -> list[TrainingRow]:
        raise NotImplementedError

    async def mark_card_attempt(self, training_id: str) -> None:
        """A card post begins: after a crash, look for it before posting another."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE trainings SET card_attempted_at = ? WHERE id = ?",
                (to_iso(utcnow()), training_id),
            )

    async def set_card(self, training_id: str, channel_id: int, message_id: int) -> None:
        """Remember the public message that shows this training (edited by the tracker)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE trainings SET channel_id = ?, card_message_id = ?, card_gone = 0 "
                "WHERE id = ?",
                (channel_id, message_id, training_id),
            )

    async def mark_card_edited(
        self, training_id: str, at: datetime | None = None, status: str | None = None
    ) -> None:
        """Record an edit; `status` is what the card now shows (a final edit is never lost)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE trainings SET card_edited_at = ?, "
                "card_status = COALESCE(?, card_status) WHERE id = ?",
                (to_iso(at or utcnow()), status, training_id),
            )

    async def mark_card_gone(self, training_id: str) -> None:
        """The card was deleted (Discord 10008): never edit it again."""
        async with self._tx() as db:
            await db.execute("UPDATE trainings SET card_gone = 1 WHERE id = ?", (training_id,))

    async def cards_needing_final_edit(self) -> list[TrainingRow]:
        """Ended trainings whose card does not show the ending yet (e.g. after a restart), or
        that have no card yet (adopted after a lost create): the notifier posts or edits it."""
        return await self._fetch_rows(
            f"SELECT {self._row_columns} FROM trainings WHERE status IN {_TERMINAL_SQL} "  # noqa: S608
            "AND channel_id IS NOT NULL AND card_gone = 0 "
            "AND (card_status IS NULL OR card_status != status)"
        )
