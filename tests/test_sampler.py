"""The worker-process half of a large ZIP's check, called in-process here: it asks for the
directory bytes it lacks, plans the sample, and judges what the bot fetched for it."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from bot.core.dataset.check import SAMPLE_BUDGET
from bot.core.dataset.sampler import NeedBytes, judge_sample, plan_sample
from bot.core.dataset.zipremote import TAIL
from tests.synthetic_zip import SyntheticZip


def noise_png() -> bytes:
    image = Image.frombytes("RGB", (96, 96), random.Random(3).randbytes(96 * 96 * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_the_worker_asks_for_the_directory_then_plans_and_judges_the_sample(tmp_path: Path) -> None:
    archive = SyntheticZip(3000, noise_png(), suffix="png")
    size = len(archive)
    pieces = [(size - TAIL, archive[size - TAIL : size])]
    with pytest.raises(NeedBytes) as need:  # 6,000 entries: the directory is beyond the tail
        plan_sample(pieces, size, SAMPLE_BUDGET, 98)
    assert need.value.end <= size and need.value.start < size - TAIL
    pieces.append((need.value.start, archive[need.value.start : need.value.end]))
    ranges = plan_sample(pieces, size, SAMPLE_BUDGET, 98)
    assert 1 <= len(ranges) <= 98
    assert sum(end - start for start, end in ranges) <= SAMPLE_BUDGET
    spool = tmp_path / "sample"
    spool.write_bytes(b"".join(archive[start:end] for start, end in ranges))
    rules, requests = judge_sample(
        pieces, size, (str(spool), ranges), SAMPLE_BUDGET, 98, ((768, 1024), "ZXQTOK", 2)
    )
    assert requests == len(ranges)
    assert rules.counts["usable_images"] == 3000 and rules.counts["captions"] == 3000
    assert not rules.errors
