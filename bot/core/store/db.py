"""The bot's database as its services use it: one `Database` and one object per table.

Every table is written the same way: a small module with a class over the `Database`
(`trainings.Trainings`, `cards.Cards`, `outbox.Outbox`, `submissions.PendingSubmissions`,
`previews.Previews`, `ledger.Ledger`, `approvals.Approvals`). `Store.open` opens and migrates the
file and builds them all; the bot hands the tables each service needs to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.core.store.approvals import APPROVAL_TTL, Approvals
from bot.core.store.cards import Cards
from bot.core.store.database import Database
from bot.core.store.ledger import Ledger
from bot.core.store.outbox import Outbox
from bot.core.store.previews import Previews
from bot.core.store.submissions import PendingSubmissions
from bot.core.store.trainings import Trainings


@dataclass(frozen=True)
class Store:
    """The open database and its tables."""

    db: Database
    trainings: Trainings
    cards: Cards
    outbox: Outbox
    pending: PendingSubmissions
    previews: Previews
    ledger: Ledger
    approvals: Approvals

    @classmethod
    async def open(cls, path: str | Path, *, approval_ttl: timedelta = APPROVAL_TTL) -> Store:
        """Open (creating the file and its folder), migrate, and build every table."""
        db = await Database.open(path)
        return cls(
            db=db,
            trainings=Trainings(db),
            cards=Cards(db),
            outbox=Outbox(db),
            pending=PendingSubmissions(db),
            previews=Previews(db),
            ledger=Ledger(db),
            approvals=Approvals(db, approval_ttl),
        )

    @property
    def path(self) -> Path:
        return self.db.path

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
