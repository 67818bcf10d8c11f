"""A caption run: which images, at what price, then the predictions — bounded, retried, cached.

Two steps, so a price is always shown before money is spent: `plan` reads the model's schema,
looks every image up in the cache and prices the rest; `run` makes exactly the planned
predictions, at most `concurrency` at once (the same bound as dataset checks), and returns the
captions that came back, the images that failed (left uncaptioned, each with its reason) and
the charge. The front ends decide which images to caption (`needs_caption`) and where the
captions go (`with_captions` for ZIP members, NAME.txt files for a folder).
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.captions import clean as cleaning
from bot.core.captions.cache import CaptionCache, image_key
from bot.core.captions.cost import CaptionPrice, CaptionSample, cost_cents, price_per_image
from bot.core.captions.images import UnreadableImageError, captioner_copy, data_uri
from bot.core.captions.models import DEFAULT_MODEL, MODEL_FIELD, Captioner, from_schema, split_model
from bot.core.dataset.collect import Member
from bot.core.dataset.verdict import IMAGE_SUFFIXES
from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class Picture:
    """An image to caption: its dataset-relative name and its (training) bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class CaptionOptions:
    """What the user asked for around the model's text."""

    prefix: str | None = None
    suffix: str | None = None
    forbidden: tuple[str, ...] = ()


@dataclass
class CaptionPlan:
    """What a run will do and cost, before anything is paid."""

    captioner: Captioner
    price: CaptionPrice
    pictures: list[Picture]
    keys: dict[str, str]
    cached: dict[str, str]  # name -> model text already paid for

    @property
    def todo(self) -> list[Picture]:
        return [p for p in self.pictures if p.name not in self.cached]

    @property
    def cost_cents(self) -> int:
        return cost_cents(self.price, len(self.todo))


@dataclass
class CaptionResult:
    """The captions written (name -> final caption), the failures, and the money."""

    captions: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0  # predictions made (what is billed)
    cached: int = 0
    predict_time: float = 0.0
    charged_cents: int = 0


def caption_name(image: str) -> str:
    """The trainer reads `<path without extension>.txt` (lower-case .txt, same folder)."""
    return posixpath.splitext(image)[0] + ".txt"


def is_image(name: str) -> bool:
    return posixpath.basename(name).lower().endswith(IMAGE_SUFFIXES)


def needs_caption(members: Sequence[Member], *, every: bool = False) -> list[Picture]:
    """Images without a non-empty same-stem `.txt` (all readable images with `every`)."""
    captioned = {
        m.name for m in members if m.name.endswith(".txt") and m.data is not None and m.data.strip()
    }
    out = []
    for m in members:
        if m.is_dir or m.data is None or not is_image(m.name):
            continue
        if every or caption_name(m.name) not in captioned:
            out.append(Picture(m.name, m.data))
    return out


def with_captions(members: Sequence[Member], captions: dict[str, str]) -> list[Member]:
    """`members` with each captioned image's `.txt` set to its caption (replaced or added)."""
    texts = {caption_name(image): text for image, text in captions.items()}
    out = [m for m in members if m.name not in texts]
    for name, text in sorted(texts.items()):
        data = text.encode("utf-8")
        out.append(Member(name, len(data), data))
    return out


def cache_for(settings: Settings) -> CaptionCache:
    return CaptionCache(settings.config_path() / "caption-cache")


def concurrency_of(settings: Settings) -> int:
    """Predictions of one run at once: the check slots (SD35L_MAX_CHECKS), as the bot's line
    of heavy work holds whole runs to the same number."""
    return max(1, settings.check_slots)


async def resolve(gw: ReplicateGateway, settings: Settings) -> Captioner:
    """The configured model, its version (the newest when none is pinned) and its kind."""
    from bot.core.replicate.predictions import input_schema, latest_version

    setting = settings.caption_model or DEFAULT_MODEL
    model, version = split_model(setting)
    if not version:
        version = await latest_version(gw, model, MODEL_FIELD)
    schema = await input_schema(gw, model, version, MODEL_FIELD)
    return from_schema(model, version, schema, settings.caption_prompt)


async def plan(
    gw: ReplicateGateway,
    settings: Settings,
    pictures: Sequence[Picture],
    *,
    cache: CaptionCache | None = None,
    samples: list[CaptionSample] | None = None,
    history: bool = False,
) -> CaptionPlan:
    """Resolve the model, look every picture up in the cache, price what is left. `samples`
    calibrate the price (the bot reads them from its ledger); with `history` they are read
    from the bot's database file, read-only (the CLI: both show the same price)."""
    captioner = await resolve(gw, settings)
    if samples is None and history:
        from bot.core.captions.cost import read_samples

        samples = await asyncio.to_thread(read_samples, settings.database, captioner.model)
    cache = cache or cache_for(settings)
    price = price_per_image(captioner.model, settings.caption_price, samples or [])
    found = cache

    def look_up() -> tuple[dict[str, str], dict[str, str]]:
        """Hash every image and read the cache: CPU and disk, so off the event loop."""
        keys: dict[str, str] = {}
        cached: dict[str, str] = {}
        for pic in pictures:
            key = image_key(pic.data, captioner.model, captioner.version, captioner.prompt)
            keys[pic.name] = key
            hit = found.get(key)
            if hit is not None:
                cached[pic.name] = hit
        return keys, cached

    keys, cached = await asyncio.to_thread(look_up)
    return CaptionPlan(captioner, price, list(pictures), keys, cached)


async def run(
    gw: ReplicateGateway,
    settings: Settings,
    planned: CaptionPlan,
    options: CaptionOptions,
    *,
    cache: CaptionCache | None = None,
    on_done: Callable[[str, str | None], None] | None = None,
) -> CaptionResult:
    """Make the planned predictions; a failed image stays uncaptioned and is named."""
    from bot.core.replicate.predictions import predict

    cache = cache or cache_for(settings)
    result = CaptionResult(cached=len(planned.cached))
    limit = asyncio.Semaphore(concurrency_of(settings))
    captioner = planned.captioner

    def finish(name: str, raw: str) -> None:
        text = cleaning.clean(cleaning.model_text(raw), forbidden=list(options.forbidden))
        if not text:
            result.failed[name] = "the model returned no usable text"
        else:
            result.captions[name] = cleaning.frame(text, options.prefix, options.suffix)
        if on_done is not None:
            on_done(name, result.captions.get(name))

    async def one(pic: Picture) -> None:
        async with limit:
            try:
                copy = await asyncio.to_thread(captioner_copy, pic.data)
            except UnreadableImageError as exc:
                result.failed[pic.name] = f"not readable as an image ({exc})"
                return
            try:
                made = await predict(gw, captioner.version, captioner.inputs(data_uri(copy)))
            except SD35LError as exc:
                result.failed[pic.name] = str(exc)
                return
            result.requests += 1
            result.predict_time += made.predict_time or 0.0
            if made.status != "succeeded":
                result.failed[pic.name] = f"the model {made.status}: {made.error or 'no reason'}"
                return
            raw = made.output
            text = cleaning.model_text(raw)
            cache.put(planned.keys[pic.name], text)
            finish(pic.name, text)

    for name, raw in planned.cached.items():
        finish(name, raw)
    await asyncio.gather(*(one(p) for p in planned.todo))
    result.charged_cents = cost_cents(planned.price, result.requests)
    log.info(
        "captions: %d written, %d cached, %d failed, %d requests",
        len(result.captions),
        result.cached,
        len(result.failed),
        result.requests,
    )
    return result


def write_folder(root: Path, captions: dict[str, str], *, overwrite: bool) -> list[str]:
    """Write NAME.txt next to each image; an existing caption is kept unless `overwrite`.
    Returns the caption files written (dataset-relative)."""
    written = []
    for image, text in sorted(captions.items()):
        target = root / caption_name(image)
        if target.exists() and not overwrite:
            continue
        target.write_text(text + "\n", encoding="utf-8")
        written.append(caption_name(image))
    return written
