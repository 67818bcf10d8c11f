"""Benchmark: a local dataset from Start to training created, on loopback.

    python benchmarks/upload.py [--size-mb 50] [--images 25] [--runs 3]

Writes a folder of incompressible JPEGs (about `--size-mb` in all, with captions), judges and
packs it the way `train --dataset` does (reported apart: that happens before the confirmation),
then measures what Start costs: the upload with the official client's `files.create` to the
simulator, and the training create with `input_images` set to the file's URL. Each run uses a
fresh simulator, so nothing is reused.

The baseline, measured in the same runs and alternating with Start (ABBA): the same two
requests made bare with httpx (the official client's transport) to a fresh simulator - the
bytes POSTed to the Files API, then the create naming the file's URL - what any client pays
(the simulator checks the dataset at create, as the trainer would, in both). Printed (with
the machine first) as min / median / max over `--runs`. Target: Start -> training created <=
RATIO_TARGET x the bare requests (median of the per-run ratios): the product's Start adds
little to sending the bytes; for reading, the absolute aim of < 5 s for 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from measure import pair, print_machine, row, spread, verdict

from bot.core.dataset.local import prepare_path
from bot.core.replicate.files import upload_dataset
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.local_images import jpeg

TOKEN = "r8_" + "bench" * 8
TARGET_S = 5.0
RATIO_TARGET = 1.5


def write_dataset(root: Path, size_mb: int, images: int) -> int:
    per_image = size_mb * 1024 * 1024 // images
    total = 0
    for i in range(images):
        data = jpeg(1024, 1024, seed=i, noise=per_image)
        (root / f"img{i:03d}.jpg").write_bytes(data)
        (root / f"img{i:03d}.txt").write_text(f"a photo of ZXQTOK, number {i}")
        total += len(data)
    return total


async def one_start(data: bytes, sha256: str, filename: str) -> tuple[float, float]:
    """(upload seconds, create seconds) against a fresh simulator."""
    sim = ReplicateSimulator(token=TOKEN, step_seconds=0.01, start_delay=1.0)
    base = await sim.start()
    gw = ReplicateGateway(load_settings(REPLICATE_BASE_URL=base, REPLICATE_API_TOKEN=TOKEN))
    try:
        started = time.perf_counter()
        made = await upload_dataset(
            gw, data, filename=filename, sha256=sha256, field="dataset", url_option="dataset_url"
        )
        uploaded = time.perf_counter()
        await gw.create_training(
            "alice/lora", {"input_images": made.url, "trigger_word": "ZXQTOK", "steps": 1000}
        )
        created = time.perf_counter()
        return uploaded - started, created - uploaded
    finally:
        await gw.aclose()
        await sim.stop()


async def bare_start(data: bytes, filename: str) -> float:
    """Seconds to POST the same bytes bare (multipart, as `files.create` does) to a fresh
    simulator and create a training on the file's URL."""
    import httpx

    sim = ReplicateSimulator(token=TOKEN, step_seconds=0.01, start_delay=1.0)
    base = await sim.start()
    try:
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as client:
            started = time.perf_counter()
            resp = await client.post(
                f"{base}/v1/files",
                files={"content": (filename, data, "application/zip")},
                data={"filename": filename, "type": "application/zip", "metadata": "{}"},
            )
            resp.raise_for_status()
            url = resp.json()["urls"]["get"]
            created = await client.post(
                f"{base}/v1/models/{sim.trainer_model}/versions/{sim.trainer_version}/trainings",
                json={
                    "destination": "alice/lora",
                    "input": {"input_images": url, "trigger_word": "ZXQTOK", "steps": 1000},
                },
            )
            created.raise_for_status()
            return time.perf_counter() - started
    finally:
        await sim.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sd35l-upload-") as tmp:
        total = write_dataset(Path(tmp), args.size_mb, args.images)
        begun = time.perf_counter()
        local = await prepare_path(
            Path(tmp), trigger_word="ZXQTOK", field="dataset_path", url_option="--dataset-url"
        )
        prepared = time.perf_counter() - begun
    assert local.packed is not None, local.report.errors
    packed = local.packed
    print_machine()
    row("dataset (images, MB on disk, MB packed)", f"{args.images}, {total / 1e6:.1f}, "
        f"{packed.size / 1e6:.1f}")  # fmt: skip
    row("judge + pack + contact sheet (before confirm)", f"{prepared:.2f} s", "once")
    uploads, creates, totals, bare = [], [], [], []
    for i in range(args.runs):  # ABBA: neither always goes first
        if i % 2:
            bare.append(await bare_start(packed.data, packed.filename))
        up, create = await one_start(packed.data, packed.sha256, packed.filename)
        uploads.append(up)
        creates.append(create)
        totals.append(up + create)
        if not i % 2:
            bare.append(await bare_start(packed.data, packed.filename))
    paired = pair(totals, bare)
    row("upload (files.create), min/median/max", spread(uploads).fmt("s"))
    row("create with input_images, min/median/max", spread(creates).fmt("s", digits=3))
    row(
        "Start -> training created, min/median/max",
        paired.measured.fmt("s"),
        f"(aim < {TARGET_S:.0f} s: {verdict(paired.measured.median, TARGET_S)})",
    )
    row("bare httpx upload + create (baseline)", paired.baseline.fmt("s"))
    row(
        "Start / bare requests, min/median/max",
        paired.ratios.fmt("x"),
        f"target <= {RATIO_TARGET:g}x: {verdict(paired.ratios.median, RATIO_TARGET)}",
    )


if __name__ == "__main__":
    asyncio.run(main())
