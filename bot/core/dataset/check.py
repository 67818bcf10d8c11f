"""Pre-flight dataset inspection: catch every trainer-fatal ZIP before a cent is spent.

Why: the trainer only discovers a share page, HEIC photos or an empty ZIP after the GPU run has
started (and is billed). `inspect_dataset` looks at the URL the way the trainer will, reading as
little as possible: a HEAD (or a one-byte GET), the first block (is it a ZIP at all?), then with
HTTP Range support only the central directory and each image's first bytes; without Range
support it downloads up to SD35L_MAX_DATASET_MB and inspects the copy, or says which checks could
not run. The result is one `DatasetReport` that both front ends render.
"""

from __future__ import annotations

import re
import struct
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from bot.core.dataset.imageinfo import ImageHeader, sniff_image
from bot.core.dataset.links import share_page_fix
from bot.core.dataset.rules import (
    Entry,
    Finding,
    RuleResult,
    check_archive,
    check_dataset,
)
from bot.core.dataset.zipremote import (
    BLOCK,
    FileSource,
    RangeSource,
    Source,
    list_entries,
    read_members,
)
from bot.core.log import get_logger
from bot.core.net import MIB, FetchResult, SafeFetcher, describe_status
from bot.core.settings import Settings

__all__ = ["DatasetReport", "Finding", "inspect_dataset", "share_page_fix"]

log = get_logger(__name__)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
HEAD_REFUSED = frozenset({400, 403, 405, 501})
_ALL_CHECKS = ("archive structure", "image formats and sizes", "captions", "image count")
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


def _looks_like_html(result: FetchResult) -> bool:
    ctype = result.headers.get("content-type", "").lower()
    head = result.body[:512].lstrip().lower()
    return "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<head", b"<?xml"))


def _total_size(result: FetchResult) -> int | None:
    match = re.fullmatch(r"bytes\s+\d+-\d+/(\d+)", result.headers.get("content-range", "").strip())
    if match:
        return int(match.group(1))
    length = result.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


async def _probe(fetcher: SafeFetcher, url: str) -> FetchResult:
    """HEAD, or a one-byte ranged GET when the host refuses HEAD (many signed-URL stores do)."""
    head = await fetcher.fetch(url, method="HEAD")
    if head.status in HEAD_REFUSED:
        head = await fetcher.fetch(url, headers={"Range": "bytes=0-0"}, max_bytes=1)
    return head


async def inspect_dataset(
    url: str,
    *,
    settings: Settings,
    trigger_word: str | None = None,
    fetcher: SafeFetcher | None = None,
) -> DatasetReport:
    """Inspect the dataset ZIP at `url` as the trainer would, reading as little as possible.

    Raises `InputError(field="dataset_url")` when the URL is refused (scheme, private address,
    too many redirects) and `ServiceError` when the host cannot be reached; every answer the host
    gives ends up in the report.
    """
    started = time.monotonic()
    report = DatasetReport(url=url)
    cap = settings.max_dataset_mb * MIB
    own = fetcher is None
    fetcher = fetcher or SafeFetcher(settings, max_body_bytes=cap, max_total_bytes=cap + 32 * MIB)
    spool: IO[bytes] | None = None
    try:
        source, spool = await _open(fetcher, url, report, cap)
        if source is not None:
            await _inspect_archive(source, report, trigger_word)
    finally:
        if spool is not None:
            spool.close()
        if own:
            await fetcher.aclose()
        report.bytes_read = fetcher.bytes_read
        report.seconds = time.monotonic() - started
    return report


async def _open(
    fetcher: SafeFetcher, url: str, report: DatasetReport, cap: int
) -> tuple[Source | None, IO[bytes] | None]:
    """Probe the URL; return a byte source for the ZIP, or None after recording why not."""
    head = await _probe(fetcher, url)
    if head.status >= 400:
        _fatal(
            report,
            "url_http_error",
            f"The dataset URL {describe_status(head.status)}; make sure the link is public "
            "(no login) and points straight at the .zip file.",
        )
        return None, None
    first = await fetcher.fetch(url, headers={"Range": f"bytes=0-{BLOCK - 1}"}, max_bytes=BLOCK)
    if first.status == 416 or (first.status < 300 and not first.body):
        _fatal(
            report,
            "archive_empty",
            "The dataset URL returns an empty file; upload the ZIP again and check its size.",
        )
        return None, None
    if first.status >= 400:
        _fatal(
            report,
            "url_http_error",
            f"The dataset URL {describe_status(first.status)} when "
            "downloading; make sure the link is public and points straight at the .zip file.",
        )
        return None, None
    if not first.body.startswith(ZIP_MAGIC):
        if _looks_like_html(first) or _looks_like_html(head):
            _fatal(
                report,
                "not_a_zip_html",
                "The dataset URL returns a web page (HTML), not the ZIP file (a share page), "
                "so the trainer would fail with 'input_images must be a zip file'; "
                f"{share_page_fix(url)}.",
            )
        else:
            kind = sniff_image(first.body).format
            what = f"a {kind.upper()} image" if kind else "a file that is not a ZIP"
            _fatal(
                report,
                "not_a_zip",
                f"The dataset URL returns {what}, but the trainer needs a .zip of your images; "
                "zip the images (and .txt captions) and link to the .zip.",
            )
        return None, None
    size = _total_size(first)
    if first.status == 206 and size is not None:
        report.range_supported, report.archive_size = True, size
        source = RangeSource(fetcher, first.url, size)
        source.seed(first.body)  # the block just read serves the first member's header
        return source, None
    report.range_supported = False
    return await _download(fetcher, url, report, cap, _total_size(head) or size)


async def _download(
    fetcher: SafeFetcher, url: str, report: DatasetReport, cap: int, size: int | None
) -> tuple[Source | None, IO[bytes] | None]:
    """No Range support: download up to the cap and inspect the copy, or say what was skipped."""
    report.archive_size = size
    limit_text = f"SD35L_MAX_DATASET_MB={cap // MIB}"
    if size is not None and size > cap:
        _not_inspected(
            report,
            f"The host does not support byte ranges and the ZIP "
            f"({size / MIB:.0f} MB) is larger than {limit_text}",
        )
        return None, None
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=64 * MIB)
    result = await fetcher.fetch(url, max_bytes=cap, sink=spool)
    got = spool.tell()
    if result.truncated:
        spool.close()
        _not_inspected(
            report, f"The host does not support byte ranges and the ZIP is larger than {limit_text}"
        )
        return None, None
    report.archive_size = got
    return FileSource(spool, got), spool


def _not_inspected(report: DatasetReport, why: str) -> None:
    report.skipped_checks += list(_ALL_CHECKS)
    report.warnings.append(
        Finding(
            "dataset_not_inspected",
            f"{why}, so its contents were not checked (only that it starts like a ZIP); raise "
            "SD35L_MAX_DATASET_MB or host the file where byte ranges work (S3, R2, GitHub "
            "releases, Hugging Face).",
            [],
        )
    )


def _fatal(report: DatasetReport, code: str, message: str, paths: list[str] | None = None) -> None:
    report.errors.append(Finding(code, message, paths or []))


async def _inspect_archive(source: Source, report: DatasetReport, trigger: str | None) -> None:
    try:
        entries = await list_entries(source)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        struct.error,
        NotImplementedError,
    ) as exc:
        _fatal(
            report,
            "archive_corrupt",
            f"The ZIP is truncated or damaged ({str(exc)[:80] or type(exc).__name__}), "
            "probably an upload that did not finish; upload it again and check the file size.",
        )
        return
    rules = RuleResult()
    beyond = [e.name for e in entries if _ends_after(e, source.size)]
    if beyond:
        _fatal(
            report,
            "archive_corrupt",
            f"{len(beyond)} ZIP entries point past the end of the file, so the ZIP is "
            "truncated or damaged; upload it again and check the file size.",
            beyond[:10],
        )
    check_archive(entries, rules)
    cut = set(beyond)
    members = await read_members(source, [e for e in entries if e.name not in cut])
    if members.corrupt:
        _fatal(
            report,
            "archive_corrupt",
            f"{len(members.corrupt)} ZIP entries have damaged headers, so the trainer cannot "
            "extract them; re-create the ZIP and upload it again.",
            sorted(members.corrupt)[:10],
        )
    if members.skipped_images:
        rules.skipped_checks.append(
            f"format, size and transparency of {members.skipped_images} images (over the "
            "header read budget)"
        )
    headers: dict[str, ImageHeader | None] = {
        name: sniff_image(data) for name, data in members.images.items()
    }
    captions: dict[str, bytes | None] = dict(members.captions)
    check_dataset(entries, headers, captions, trigger, rules)
    report._merge(rules)


def _ends_after(entry: Entry, size: int) -> bool:
    return entry.header_offset + 30 + entry.compress_size > size
