"""How often the tracker reads each active training: `SD35L_POLL_INTERVAL`, stretched so the
reads stay within the tracker's share of Replicate's rate limit, doubled while Replicate
answers 429.

Why apart from the tracker: the period is also what the cards tell members ("Refreshed every
45 s"), and the rule is arithmetic worth reading (and testing) on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Pace:
    """How often each active training is read now; `stretched` when Replicate's rate limit (or
    its 429s) made the period longer than `SD35L_POLL_INTERVAL`."""

    seconds: float
    stretched: bool


class PollPeriod:
    """The tracker's period: `base` seconds, or `active × 60 / reads_per_minute` when that is
    longer (the rounds' reads stay within their share), doubled up to `longest` on a 429."""

    def __init__(self, base: float, longest: float, reads_per_minute: float) -> None:
        self.base = base
        self.longest = longest
        self.reads_per_minute = reads_per_minute
        self.seconds = base

    def paced(self, active: int) -> float:
        return max(self.base, active * 60.0 / self.reads_per_minute)

    def before_round(self, active: int) -> None:
        """Stretch at once for the trainings listed, so the cards of this round tell it."""
        self.seconds = max(self.seconds, self.paced(active))

    def after_round(self, active: int, *, throttled: bool) -> None:
        paced = self.paced(active)
        if throttled:
            self.seconds = max(min(self.seconds * 2, self.longest), paced)
            log.warning("Replicate throttles (429): next poll in %.1fs", self.seconds)
            return
        if paced > self.base and self.seconds != paced:
            log.info(
                "%d active trainings: polled every %.1fs to stay within Replicate's limit",
                active,
                paced,
            )
        self.seconds = paced

    def pace(self) -> Pace:
        return Pace(self.seconds, self.seconds > self.base)
