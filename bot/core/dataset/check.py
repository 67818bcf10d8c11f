"""Pre-flight dataset inspection: the trainer's verdict on the ZIP before a cent is spent.

Why: the trainer only discovers a share page, an empty ZIP or an image it cannot bucket after the
GPU run has started (and is billed). `inspect_dataset` looks at the URL the way the trainer will
and runs the loader model (`verdict.py`) on what it reads: a ranged GET of the first 16 KB (an
error? a web page? an image? the whole ZIP already, when it is that small), then either the
whole ZIP (small ones, or hosts without Range support, up to SD35L_MAX_DATASET_MB) so every
check runs in full, or, for a large ZIP over HTTP ranges, its directory plus a sample of its
members in at most ~100 requests. The result is one `DatasetReport` both front ends render;
`skipped_checks` says what was partial.
"""

from __future__ import annotations

import asyncio
import io
import re
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from PIL import Image

from bot.core.dataset.archive import Resolutions, judge_zip, parse_resolutions
from bot.core.dataset.links import share_page_fix
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import Finding, RuleResult, describe
from bot.core.dataset.sampler import NeedBytes, judge_sample, plan_sample
from bot.core.dataset.verdict import DatasetVerdict
from bot.core.dataset.workers import dataset_worker
from bot.core.dataset.zipremote import FIRST_READ, TAIL, RangeSource
from bot.core.http.fetcher import MIB, FetchResult, SafeFetcher, describe_status
from bot.core.log import get_logger
from bot.core.settings import Settings

__all__ = ["DatasetReport", "Finding", "inspect_dataset", "share_page_fix"]

log = get_logger(__name__)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
WHOLE_MAX = 12 * MIB  # a ZIP up to this size is read whole and judged in full
SAMPLE_BUDGET = 12 * MIB  # member bytes a large ZIP's sample may read
MAX_REQUESTS = 100  # per dataset check, every request included
_ALL_CHECKS = ("archive structure", "image formats and sizes", "captions", "image count")


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


def _whole_body(first: FetchResult, size: int | None) -> bool:
    """Whether the first read is the whole file: a ZIP that small needs no second request."""
    if first.truncated:
        return False
    return first.status == 200 or (first.status == 206 and size == len(first.body))


async def inspect_dataset(
    url: str,
    *,
    settings: Settings,
    trigger_word: str | None = None,
    resolution: Resolutions = None,
    fetcher: SafeFetcher | None = None,
) -> DatasetReport:
    """Inspect the dataset ZIP at `url` as the trainer would, reading as little as possible.

    `resolution` is the training's `resolution` ("768,1024"): bucket rules depend on it.
    Raises `InputError(field="dataset_url")` when the URL is refused (scheme, private address,
    too many redirects) and `ServiceError` when the host cannot be reached; every answer the host
    gives ends up in the report.
    """
    started = time.monotonic()
    report = DatasetReport(url=url)
    cap = settings.max_dataset_mb * MIB
    own = fetcher is None
    fetcher = fetcher or SafeFetcher(settings, max_body_bytes=cap, max_total_bytes=cap + 32 * MIB)
    resolutions, minimum = parse_resolutions(resolution), settings.policy_min_images
    job = _Job(fetcher, url, report, resolutions, trigger_word, cap, minimum)
    try:
        verdict = await job.run()
        if isinstance(verdict, RuleResult):  # a sample, judged in a worker process
            if not report.errors:
                report._merge(verdict)
        elif verdict is not None and not report.errors:
            rules = RuleResult()
            describe(verdict, rules, min_images=minimum)
            report._merge(rules)
    finally:
        if job.spool is not None:
            job.spool.close()
        if own:
            await fetcher.aclose()
        report.bytes_read = fetcher.bytes_read
        report.requests = fetcher.requests_made
        report.seconds = time.monotonic() - started
    return report


def _image_kind(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return str(image.format) if image.format else None
    except Exception:  # anything Pillow cannot identify is simply "not an image"
        return None


@dataclass
class _Job:
    """One inspection: the fetcher, what is known so far, and the downloaded copy if any."""

    fetcher: SafeFetcher
    url: str
    report: DatasetReport
    resolutions: tuple[int, ...]
    trigger: str | None
    cap: int
    min_images: int
    spool: IO[bytes] | None = None

    async def run(self) -> DatasetVerdict | RuleResult | None:
        """Read the first 16 KB, then judge the ZIP whole or sampled; None after recording why
        not. No HEAD first: the ranged GET answers everything it would (status, type, size),
        and many signed-URL stores refuse HEAD anyway."""
        report, fetcher, url = self.report, self.fetcher, self.url
        first = await fetcher.fetch(
            url, headers={"Range": f"bytes=0-{FIRST_READ - 1}"}, max_bytes=FIRST_READ
        )
        if not self._first_read_ok(first):
            return None
        size = _total_size(first)
        report.range_supported = first.status == 206
        verdict: DatasetVerdict | None
        if _whole_body(first, size):
            report.archive_size = len(first.body)
            verdict = await asyncio.to_thread(
                judge_zip, io.BytesIO(first.body), self.resolutions, self.trigger
            )
        elif first.status == 206 and size is not None and size > WHOLE_MAX:
            report.archive_size = size
            return await self._sampled(first, size)
        else:
            verdict = await self._whole(size)
        if verdict is not None:
            await _explain_not_zip(report, verdict, first.body)
        return verdict

    def _first_read_ok(self, first: FetchResult) -> bool:
        report = self.report
        if first.status == 416 or (first.status < 300 and not first.body):
            _fatal(
                report,
                "archive_empty",
                "The dataset URL returns an empty file; upload the ZIP again and check its size.",
            )
            return False
        if first.status >= 300:
            _fatal(
                report,
                "url_http_error",
                f"The dataset URL {describe_status(first.status)}; make sure the link is public "
                "(no login) and points straight at the .zip file.",
            )
            return False
        if not first.body.startswith(ZIP_MAGIC) and _looks_like_html(first):
            _fatal(
                report,
                "not_a_zip_html",
                "The dataset URL returns a web page (HTML), not the ZIP file (a share page), "
                "so the trainer would fail with 'input_images must be a zip file'; "
                f"{share_page_fix(self.url)}.",
            )
            return False
        return True

    async def _sampled(self, first: FetchResult, size: int) -> DatasetVerdict | RuleResult:
        """The directory and a sample over HTTP ranges; parsing, planning and judging them run
        in a worker process (`sampler`), which asks for more of the directory if it needs it."""
        source = RangeSource(self.fetcher, first.url, size)
        source.seed(first.body)
        tail = max(size - TAIL, 0)
        pieces = [(tail, (await source.read_many([(tail, size)]))[0])]
        key = uuid.uuid4().hex  # the worker keeps what it parsed for the plan under this
        async with dataset_worker() as worker:
            while True:
                left = max(MAX_REQUESTS - self.fetcher.requests_made - 2, 1)
                try:
                    ranges = await worker.run(plan_sample, pieces, size, SAMPLE_BUDGET, left, key)
                    break
                except NeedBytes as need:
                    if len(pieces) > 4:  # a directory that keeps pointing elsewhere is broken
                        return _unreadable(
                            zipfile.BadZipFile("scattered directory"), self.resolutions
                        )
                    more = await source.read_many([(need.start, need.end)])
                    pieces.append((need.start, more[0]))
                except (
                    zipfile.BadZipFile,
                    zipfile.LargeZipFile,
                    EOFError,
                    OSError,
                    ValueError,
                ) as exc:
                    verdict = _unreadable(exc, self.resolutions)
                    await _explain_not_zip(self.report, verdict, first.body)
                    return verdict
            judging = (self.resolutions, self.trigger, self.min_images)
            with tempfile.NamedTemporaryFile(prefix="sd35l-sample-") as spool:
                await _spool(source, ranges, spool)
                rules, _ = await worker.run(
                    judge_sample,
                    pieces,
                    size,
                    (spool.name, ranges),
                    SAMPLE_BUDGET,
                    left,
                    judging,
                    key,
                )
        return rules

    async def _whole(self, size: int | None) -> DatasetVerdict | None:
        """Download up to the cap and judge the copy in full, or say what was skipped."""
        report, cap = self.report, self.cap
        report.archive_size = size
        limit_text = f"SD35L_MAX_DATASET_MB={cap // MIB}"
        if size is not None and size > cap:
            _not_inspected(
                report,
                f"The host does not support byte ranges and the ZIP "
                f"({size / MIB:.0f} MB) is larger than {limit_text}",
            )
            return None
        self.spool = tempfile.SpooledTemporaryFile(max_size=64 * MIB)
        result = await self.fetcher.fetch(self.url, max_bytes=cap, sink=self.spool)
        got = self.spool.tell()
        if result.truncated:
            _not_inspected(
                report,
                f"The host does not support byte ranges and the ZIP is larger than {limit_text}",
            )
            return None
        report.archive_size = got
        self.spool.seek(0)
        return await asyncio.to_thread(judge_zip, self.spool, self.resolutions, self.trigger)


async def _spool(source: RangeSource, ranges: list[tuple[int, int]], spool: IO[bytes]) -> None:
    """Each planned range fetched (concurrently) and written to `spool` in plan order as soon
    as it arrives, then dropped: the bot never holds the whole sample.

    The writes run in worker threads: forty checks write ~500 MB in a burst, and when the
    kernel holds back a writer to flush dirty pages, a write on the loop stalled every
    member's acknowledgement (5-60 ms). Each write opens the file by name, so one that ends
    after the check gave up (another range failed) finds the file gone instead of writing
    into whatever reused its descriptor."""
    offsets, at = [], 0
    for start, end in ranges:
        offsets.append(at)
        at += end - start

    async def one(start: int, end: int, offset: int) -> None:
        body = await source.fetch_range(start, end)
        await asyncio.to_thread(_write_at, spool.name, offset, body)

    tasks = [asyncio.ensure_future(one(a, b, o)) for (a, b), o in zip(ranges, offsets, strict=True)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:  # one range failed: the others are not needed
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _write_at(path: str, offset: int, body: bytes) -> None:
    try:
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(body)
    except FileNotFoundError:  # the check is over and its spool removed
        pass


def _unreadable(exc: BaseException, resolutions: Sequence[int]) -> DatasetVerdict:
    from bot.core.dataset.entries import Failure

    why = f"zipfile cannot open it ({str(exc)[:80] or type(exc).__name__})"
    code = "not_a_zip" if "not a zip file" in str(exc) else "archive_unreadable"
    return DatasetVerdict(failures=[Failure(code, why)], resolutions=tuple(resolutions))


async def _explain_not_zip(report: DatasetReport, verdict: DatasetVerdict, first: bytes) -> None:
    """Name what the file is instead, when it is not a ZIP at all (an image, say)."""
    if not any(f.code == "not_a_zip" for f in verdict.failures):
        return
    verdict.failures = [f for f in verdict.failures if f.code != "not_a_zip"]
    if first.startswith(ZIP_MAGIC):
        _fatal(
            report,
            "not_a_zip",
            "The ZIP is cut short or damaged (its directory at the end is missing), probably an "
            "upload that did not finish, so the trainer would stop with 'input_images must be a "
            "zip file'; upload it again and check the file size.",
        )
        return
    kind = await asyncio.to_thread(_image_kind, first)  # Pillow loads its plugins: not here
    what = f"a {kind} image" if kind else "a file that is not a ZIP"
    _fatal(
        report,
        "not_a_zip",
        f"The dataset URL returns {what}, but the trainer needs a .zip of your images (it would "
        "stop with 'input_images must be a zip file'); zip the images (and .txt captions) and "
        "link to the .zip.",
    )


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
