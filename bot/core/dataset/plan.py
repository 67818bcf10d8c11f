"""Which bytes of a large remote ZIP to read: a few coalesced ranges within a byte budget.

Why: one request per image made a ZIP of 5,000 small images cost 5,000 requests and 32 MB. Here
the wanted spans (each image's first bytes and last bytes, its caption) are sorted, the smallest
gaps between them are bridged until at most `max_requests` ranges remain, and if that costs more
than `budget` bytes, an evenly spaced sample of the images is taken instead (the largest sample
that fits), and the report says so. Pure arithmetic, so it is tested without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEAD = 16 * 1024  # first bytes of an image: format, size, EXIF rotation for nearly every file
TAIL = 128  # last bytes of a stored image: does it end where its format ends?
LOCAL_SLACK = 30 + 256  # local header + room for its extra field, before the name
ALWAYS = -1  # `caption_of` of an entry read whole whatever the sample (the size cache)


@dataclass(frozen=True)
class Wanted:
    """A member to read: where its local header starts and how much of it is wanted."""

    index: int  # position in the ZIP's entry list
    offset: int
    name_len: int
    compress_size: int
    stored: bool
    caption_of: int | None = None  # for a caption, the image index it belongs to (or ALWAYS)

    def spans(self) -> list[tuple[int, int]]:
        start = self.offset
        whole = start + LOCAL_SLACK + self.name_len + self.compress_size
        if self.caption_of is not None or self.compress_size <= HEAD:
            return [(start, whole)]
        head = [(start, start + LOCAL_SLACK + self.name_len + HEAD)]
        # The extra field's length is known only from the local header: cover every case.
        return head + ([(whole - LOCAL_SLACK - TAIL, whole)] if self.stored else [])


@dataclass(frozen=True)
class ReadPlan:
    ranges: list[tuple[int, int]]
    sampled: list[int]  # image indexes covered
    total_images: int

    @property
    def bytes(self) -> int:
        return sum(end - start for start, end in self.ranges)


def coalesce(
    spans: Sequence[tuple[int, int]], max_requests: int, size: int
) -> list[tuple[int, int]]:
    """Merge overlapping spans, then bridge the smallest gaps until `max_requests` remain."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(s, 0), min(e, size)) for s, e in spans if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) <= max_requests:
        return merged
    gaps = sorted(range(len(merged) - 1), key=lambda i: merged[i + 1][0] - merged[i][1])
    bridge = set(gaps[: len(merged) - max(max_requests, 1)])
    out: list[tuple[int, int]] = []
    for i, span in enumerate(merged):
        if out and (i - 1) in bridge:
            out[-1] = (out[-1][0], span[1])
        else:
            out.append(span)
    return out


def _evenly(n: int, k: int) -> list[int]:
    return sorted({min(n - 1, (j * n) // k) for j in range(k)}) if k > 0 else []


def plan_reads(
    images: Sequence[Wanted],
    captions: Sequence[Wanted],
    *,
    size: int,
    budget: int,
    max_requests: int,
) -> ReadPlan:
    """The largest evenly spaced sample of images (with their captions) that fits both limits."""
    by_image: dict[int, list[Wanted]] = {}
    for caption in captions:
        if caption.caption_of is not None:
            by_image.setdefault(caption.caption_of, []).append(caption)

    def build(k: int) -> ReadPlan:
        chosen = [images[i] for i in _evenly(len(images), k)]
        spans = [s for c in by_image.get(ALWAYS, []) for s in c.spans()]
        spans += [s for w in chosen for s in w.spans()]
        spans += [s for w in chosen for c in by_image.get(w.index, []) for s in c.spans()]
        ranges = coalesce(spans, max_requests, size)
        return ReadPlan(ranges, [w.index for w in chosen], len(images))

    low, high = 0, len(images)
    best = build(0)
    while low <= high:
        mid = (low + high) // 2
        candidate = build(mid)
        if candidate.bytes <= budget and len(candidate.ranges) <= max_requests:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best
