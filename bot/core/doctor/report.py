"""What one check found: ✔ with what was seen, or ✘ with what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.secrets import redact


@dataclass(frozen=True)
class ChecklistLine:
    """One line of the checklist. `area` groups lines (Discord, Replicate, Local)."""

    area: str
    ok: bool
    text: str
    fix: str = ""

    def __post_init__(self) -> None:
        # Answers from the services are quoted in findings: nothing secret may ride along.
        object.__setattr__(self, "text", redact(self.text))
        object.__setattr__(self, "fix", redact(self.fix))

    def line(self) -> str:
        """The finding as one plain line (the bot's log, piped CLI output)."""
        mark = "✔" if self.ok else "✘"
        fix = f" Fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.area}: {self.text}{fix}"


def good(area: str, text: str) -> ChecklistLine:
    return ChecklistLine(area, True, text)


def bad(area: str, text: str, fix: str) -> ChecklistLine:
    return ChecklistLine(area, False, text, fix)


def failed(findings: Iterable[ChecklistLine]) -> list[ChecklistLine]:
    """The findings that make `doctor` exit 1."""
    return [f for f in findings if not f.ok]
