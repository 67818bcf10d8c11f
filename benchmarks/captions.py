"""Benchmark: captioning 50 images, against the same predictions made bare, on loopback.

    python benchmarks/captions.py [--images 50] [--runs 3] [--model-seconds 0.05]

Writes `--images` JPEGs of 2048x1536 px (a typical phone photo, bigger than the captioner's
1024 px), then measures a whole caption run the way `caption FOLDER --yes` makes it: the model's
schema read, the cache looked up (empty: every image is paid for), each image's 1024 px
data-URI copy, the predictions (at most SD35L_MAX_CHECKS at once), cleaning. The simulated model
takes `--model-seconds` per prediction. A second run over the same images shows the cache (zero
requests).

The baseline, in the same runs and alternating with ours (ABBA): the same predictions made bare
with httpx (the official client's transport) to a fresh simulator — the same data URIs, the same
concurrency, no schema read, cache or cleaning — plus the time to make those data URIs (decode,
downscale to 1024 px, JPEG, base64: work any client must do to send these photos inline), timed
on its own in the same run. Printed (with the machine first) as min / median / max over
`--runs`. Target: our run <= RATIO_TARGET x (bare predictions + making the copies), median of the
per-run ratios: the product's bookkeeping adds little to the work itself. Ours / the bare
predictions alone is printed too, for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from measure import TOKEN, pair, print_machine, row, spread, verdict

from bot.core.captions.cache import CaptionCache
from bot.core.captions.images import captioner_copy, data_uri
from bot.core.captions.models import FLORENCE_TASK, FLORENCE_VERSION
from bot.core.captions.run import CaptionOptions, Picture, concurrency_of, plan, run
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.local_images import jpeg

RATIO_TARGET = 1.3


async def ours(pictures: list[Picture], model_seconds: float, cache_dir: Path) -> tuple[float, int]:
    """(seconds, prediction requests) of one caption run against a fresh simulator."""
    sim = ReplicateSimulator(token=TOKEN)
    sim.caption_seconds = model_seconds
    base = await sim.start()
    settings = load_settings(REPLICATE_BASE_URL=base, REPLICATE_API_TOKEN=TOKEN)
    gw = ReplicateGateway(settings)
    cache = CaptionCache(cache_dir)
    try:
        started = time.perf_counter()
        planned = await plan(gw, settings, pictures, cache=cache)
        done = await run(gw, settings, planned, CaptionOptions(), cache=cache)
        seconds = time.perf_counter() - started
        assert len(done.captions) == len(pictures), done.failed
        return seconds, done.requests
    finally:
        await gw.aclose()
        await sim.stop()


async def bare(uris: list[str], model_seconds: float, concurrency: int) -> float:
    """Seconds to make the same predictions bare with httpx, `concurrency` at once."""
    import httpx

    sim = ReplicateSimulator(token=TOKEN)
    sim.caption_seconds = model_seconds
    base = await sim.start()
    limit = asyncio.Semaphore(concurrency)
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as client:

            async def one(uri: str) -> None:
                async with limit:
                    body = {
                        "version": FLORENCE_VERSION,
                        "input": {"image": uri, "task_input": FLORENCE_TASK},
                    }
                    resp = await client.post(
                        "/v1/predictions", json=body, headers={"Prefer": "wait=60"}
                    )
                    resp.raise_for_status()
                    assert resp.json()["status"] == "succeeded"

            started = time.perf_counter()
            await asyncio.gather(*(one(u) for u in uris))
            return time.perf_counter() - started
    finally:
        await sim.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model-seconds", type=float, default=0.05)
    args = parser.parse_args()
    pictures = [Picture(f"img{i:03d}.jpg", jpeg(2048, 1536, seed=i)) for i in range(args.images)]
    uris = [data_uri(captioner_copy(p.data)) for p in pictures]
    concurrency = concurrency_of(load_settings())
    print_machine()
    row("images (size, MB), model seconds each", f"{args.images} x 2048x1536, "
        f"{sum(len(p.data) for p in pictures) / 1e6:.1f} MB, {args.model_seconds:g} s")  # fmt: skip
    row("predictions at once (SD35L_MAX_CHECKS)", str(concurrency))
    measured, predictions, copies, requests = [], [], [], []

    async def baseline() -> None:
        started = time.perf_counter()
        await asyncio.gather(
            *(asyncio.to_thread(lambda p=p: data_uri(captioner_copy(p.data))) for p in pictures)
        )
        copies.append(time.perf_counter() - started)
        predictions.append(await bare(uris, args.model_seconds, concurrency))

    with tempfile.TemporaryDirectory(prefix="sd35l-captions-") as tmp:
        for i in range(args.runs):  # ABBA: neither always goes first
            if i % 2:
                await baseline()
            seconds, made = await ours(pictures, args.model_seconds, Path(tmp) / f"cache{i}")
            measured.append(seconds)
            requests.append(made)
            if not i % 2:
                await baseline()
        cached_s, cached_requests = await ours(pictures, args.model_seconds, Path(tmp) / "cache0")
    whole = [p + c for p, c in zip(predictions, copies, strict=True)]
    paired = pair(measured, whole)
    row("caption run (ours), min/median/max", paired.measured.fmt("s"), f"{requests[0]} requests")
    row("same predictions bare, min/median/max", spread(predictions).fmt("s"))
    row(f"making the {args.images} data-URI copies, min/med/max", spread(copies).fmt("s"))
    row(
        "ours / (bare + copies), min/median/max",
        paired.ratios.fmt("x"),
        f"target <= {RATIO_TARGET:g}x: {verdict(paired.ratios.median, RATIO_TARGET)}",
    )
    row("ours / bare predictions alone (reading)", pair(measured, predictions).ratios.fmt("x"))
    row("second run over the same images", f"{cached_s:.2f} s", f"{cached_requests} requests")
    row("per image (ours, median)", f"{spread(measured).median / args.images * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
