"""Job cards: where each training's public message is, what it shows, whether it is gone.

The card's columns live in the `trainings` table (one card per training); this module is the
only one that writes them.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.store.database import Database
from bot.core.store.rows import (
    TERMINAL_SQL,
    TRAINING_COLUMNS,
    TrainingRow,
    row_from_db,
    to_iso,
    utcnow,
)


class Cards:
    """The card columns of the trainings table of a `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def mark_attempt(self, training_id: str) -> None:
        """A card post begins: after a crash, look for it before posting another."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE trainings SET card_attempted_at = ? WHERE id = ?",
                (to_iso(utcnow()), training_id),
            )

    async def set(self, training_id: str, channel_id: int, message_id: int) -> None:
        """Remember the public message that shows this training (edited by the tracker)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE trainings SET channel_id = ?, card_message_id = ?, card_gone = 0 "
                "WHERE id = ?",
                (channel_id, message_id, training_id),
            )

    async def mark_edited(
        self, training_id: str, at: datetime | None = None, status: str | None = None
    ) -> None:
        """Record an edit; `status` is what the card now shows (a final edit is never lost)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE trainings SET card_edited_at = ?, "
                "card_status = COALESCE(?, card_status) WHERE id = ?",
                (to_iso(at or utcnow()), status, training_id),
            )

    async def mark_gone(self, training_id: str) -> None:
        """The card was deleted (Discord 10008): never edit it again."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE trainings SET card_gone = 1 WHERE id = ?", (training_id,))

    async def needing_final_edit(self) -> list[TrainingRow]:
        """Ended trainings whose card does not show the ending yet (e.g. after a restart), or
        that have no card yet (adopted after a lost create): the notifier posts or edits it."""
        sql = (
            f"SELECT {TRAINING_COLUMNS} FROM trainings WHERE status IN {TERMINAL_SQL} "  # noqa: S608
            "AND channel_id IS NOT NULL AND card_gone = 0 "
            "AND (card_status IS NULL OR card_status != status)"
        )
        return [row_from_db(rec) for rec in await self.db.fetch_all(sql)]
