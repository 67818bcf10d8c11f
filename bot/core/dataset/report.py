"""What a dataset check found, in one type for both paths: a URL's ZIP read over HTTP (`check`)
and a folder or ZIP on disk judged in full (`local`). Here, not in either, so judging a local
folder does not import the remote reader for a type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.dataset.rules import Finding, RuleResult

# The counts worth a person's attention, in this order, with their labels (the report has more).
SHOWN_COUNTS = {
    "usable_images": "usable images",
    "images": "images",
    "captions": "captions",
    "images_with_captions": "images with captions",
    "unsupported_images": "unsupported images",
    "ignored_files": "ignored files",
}


@dataclass
class DatasetReport:
    """Everything the check found; `ok` means nothing would make the trainer fail."""

    url: str
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    seconds: float = 0.0
    archive_size: int | None = None
    range_supported: bool | None = None
    skipped_checks: list[str] = field(default_factory=list)
    recommended_steps: int | None = None
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def shown_counts(self) -> list[tuple[str, int]]:
        """`(label, count)` of the counts worth showing that the check produced, in order."""
        return [(label, self.counts[k]) for k, label in SHOWN_COUNTS.items() if k in self.counts]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for `--json` output and storage)."""
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def _merge(self, rules: RuleResult) -> None:
        self.errors += rules.errors
        self.warnings += rules.warnings
        self.notes += rules.notes
        self.counts.update(rules.counts)
        self.skipped_checks += rules.skipped_checks
        self.recommended_steps = rules.recommended_steps
