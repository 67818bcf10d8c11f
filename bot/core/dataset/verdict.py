"""The dataset verdict: one model of what the trainer does with a dataset ZIP, step by step.

Modelled on the trainer's own code (read, not vendored): the Cog `train.py` of
lucataco/cog-sd3.5l-fine-tuner at 9edc9194735f5905c3528bc3276c7c22cd67ad28 (`extract_zip`, the
dataset config; Python 3.10, Pillow 10.4.0, DataLoader `num_workers=0` so a loader error stops the
run) and ostris/ai-toolkit at 3400882a8099645ce4c797f57ac258f1e1424ffd (`toolkit/data_loader.py`,
`toolkit/data_transfer_object/data_loader.py`, `toolkit/dataloader_mixins.py`,
`toolkit/buckets.py`, `toolkit/prompt_utils.py`). `docs/dataset.md` states the steps in prose.

Why a model and not a list of rules: the trainer's outcome comes from the order of its steps
(extraction sanitises names before discovery looks at them, the probe decides before buckets,
captions are read only for images that survived). `run_loader` replays those steps on a list of
`EntryView`s; the caller decides how much of each entry's content it could read (everything for a
local ZIP; headers, ends and a sample for a large remote one) and the verdict says which checks
were partial.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.counted import count
from bot.core.dataset.buckets import zero_side_resolutions
from bot.core.dataset.entries import EntryView, Failure, Skipped, UsableImage
from bot.core.dataset.extract import EXTRACT_ERRORS, Extraction, extract
from bot.core.dataset.probe import Probe, probe_full, probe_head
from bot.core.dataset.sizecache import (
    CACHE_NAME,
    SizeCache,
    cached_size,
    read_cache,
    usable_cached_size,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class DatasetVerdict:
    """The trainer's outcome for a dataset: fails or trains, on which images, with which captions.

    `partial` lists the checks that did not cover everything (empty = the whole model ran).
    """

    usable: list[UsableImage] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    resolutions: tuple[int, ...] = ()
    trigger: str | None = None
    entries: int = 0
    unread_captions: int = 0
    unread_named: set[str] = field(default_factory=set)  # unread caption files with content
    orphan_captions: list[str] = field(default_factory=list)
    size_cache: SizeCache | None = None  # ai-toolkit's .aitk_size.json, when the ZIP has one

    @property
    def fails(self) -> bool:
        return bool(self.failures)

    @property
    def captioned(self) -> int:
        """Images with a non-empty caption (an unread, non-empty caption file counts)."""
        return sum(
            1
            for image in self.usable
            if image.caption or (image.caption is None and image.caption_name in self.unread_named)
        )


def clean_caption(text: str) -> str:
    """ai-toolkit's `clean_caption` after a text-mode read: line breaks become commas."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", ", ")
    return ", ".join(part.strip() for part in text.split(",") if part.strip())


def inject_trigger(caption: str, trigger: str | None) -> str:
    """`[trigger]`/`[name]` become the trigger word; a caption without it gets it prepended."""
    word = trigger or ""
    out = caption.replace("[trigger]", word).replace("[name]", word)
    if word.strip() and out.count(word) == 0:
        out = f"{word} {out}"
    return out


def run_loader(
    entries: Sequence[EntryView],
    resolutions: Sequence[int],
    trigger: str | None,
    *,
    uploaded: bool = True,
) -> DatasetVerdict:
    """Replay the trainer's steps on `entries` (in ZIP order) and return its verdict.
    `uploaded`: this ZIP reaches the trainer as it is (a local dataset is repacked instead)."""
    verdict = DatasetVerdict(resolutions=tuple(resolutions), entries=len(entries), trigger=trigger)
    tree = extract(entries, verdict)
    verdict.size_cache = read_cache(tree, entries, uploaded=uploaded)
    if uploaded and CACHE_NAME in tree.dirs:  # the trainer writes its cache back there
        verdict.failures.append(Failure("size_cache_folder", CACHE_NAME, (CACHE_NAME,)))
    candidates = _discover(tree, entries, verdict)
    _probe(candidates, tree, entries, verdict, trigger)
    if not verdict.usable and not any(f.code == "extraction_fails" for f in verdict.failures):
        verdict.failures.append(Failure("no_images", "no images found"))
    _buckets(verdict)
    return verdict


def _discover(tree: Extraction, entries: Sequence[EntryView], verdict: DatasetVerdict) -> list[str]:
    """`os.walk` over the folder: files whose lower-cased name ends in an image suffix."""
    candidates = []
    for path in sorted(tree.files):
        if posixpath.basename(path).lower().endswith(IMAGE_SUFFIXES):
            candidates.append(path)
        elif not path.endswith(".txt") and path != CACHE_NAME:
            name = entries[tree.files[path]].name
            ext = posixpath.splitext(path)[1]
            if ext.lower() == ".txt":
                why = f"a caption named '{ext}': the trainer reads only lower-case '.txt'"
                verdict.skipped.append(Skipped(name, "caption_wrong_case", why))
            else:
                why = f"'{ext or 'no extension'}' is not .jpg, .jpeg, .png or .webp"
                verdict.skipped.append(Skipped(name, "not_an_image_name", why))
    return candidates


def _probe_entry(entry: EntryView) -> Probe | None:
    if entry.read is not None:
        try:
            return probe_full(entry.read())
        except EXTRACT_ERRORS:
            return None  # already a failure of the extraction step
    if entry.head:
        return probe_head(entry.head, entry.tail, entry.size)
    return Probe(decoded=False)


def _probe(
    candidates: list[str],
    tree: Extraction,
    entries: Sequence[EntryView],
    verdict: DatasetVerdict,
    trigger: str | None,
) -> None:
    unread = 0
    for path in candidates:
        entry = entries[tree.files[path]]
        cached = cached_size(verdict.size_cache, path)
        if isinstance(cached, str):  # FileItemDTO raises on it: skipped like an unopenable file
            verdict.skipped.append(Skipped(entry.name, "size_cache_entry", cached))
            continue
        probe = _probe_entry(entry)
        if probe is None:
            continue
        if cached is not None:
            if not _sized_from_cache(entry.name, cached, probe, verdict):
                continue
        elif probe.error:
            verdict.skipped.append(Skipped(entry.name, "unopenable", probe.error))
            continue
        unread += not probe.decoded
        width, height = cached or (probe.width, probe.height)
        caption, caption_name = _caption(path, tree, entries, verdict)
        verdict.usable.append(
            UsableImage(
                entry.name,
                path,
                width,
                height,
                probe.format,
                caption,
                caption_name,
                inject_trigger(caption or "", trigger),
                entry.read,
            )
        )
    if unread:
        verdict.partial.append(
            f"{unread} of {count(len(candidates), 'image')} were judged from their first and "
            "last bytes (not decoded)"
        )
    used = {image.caption_name for image in verdict.usable}
    verdict.orphan_captions = [
        entries[i].name
        for p, i in sorted(tree.files.items())
        if p.endswith(".txt") and entries[i].name not in used
    ]
    if verdict.unread_captions:
        verdict.partial.append(f"{verdict.unread_captions} captions were not read")


def _sized_from_cache(
    name: str, cached: tuple[int, int], probe: Probe, verdict: DatasetVerdict
) -> bool:
    """An image listed in the size cache: never probed, so one Pillow cannot open fails the run
    when its latents are cached, and its buckets come from the cached size. True: it is used."""
    cache = verdict.size_cache
    assert cache is not None
    if probe.error:
        verdict.failures.append(Failure("cached_unopenable", probe.error, (name,)))
        return False
    if not usable_cached_size(*cached):
        verdict.failures.append(Failure("size_cache_bucket", f"{cached[0]}x{cached[1]}", (name,)))
        return False
    cache.listed.append(name)
    if probe.width and (probe.width, probe.height) != cached:
        seen = f"cached {cached[0]}x{cached[1]}, really {probe.width}x{probe.height}"
        cache.differs.append((name, seen))
    return True


def _caption(
    image_path: str, tree: Extraction, entries: Sequence[EntryView], verdict: DatasetVerdict
) -> tuple[str | None, str | None]:
    """`<path without extension>.txt`, read as UTF-8 when the image is drawn."""
    path = posixpath.splitext(image_path)[0] + ".txt"
    if path in tree.dirs:
        verdict.failures.append(
            Failure("caption_unreadable", f"'{path}' is a folder, not a caption file", (path,))
        )
        return None, None
    if path not in tree.files:
        return None, None
    entry = entries[tree.files[path]]
    if entry.read is None:
        verdict.unread_captions += 1
        if entry.size > 0:
            verdict.unread_named.add(entry.name)
        return None, entry.name
    try:
        text = entry.read().decode("utf-8")
    except UnicodeDecodeError:
        verdict.failures.append(
            Failure("caption_unreadable", "not UTF-8 text", (entry.name,)),
        )
        return None, entry.name
    except EXTRACT_ERRORS:
        return None, entry.name
    return clean_caption(text), entry.name


def _buckets(verdict: DatasetVerdict) -> None:
    bad = []
    for image in verdict.usable:
        if image.checked and zero_side_resolutions(image.width, image.height, verdict.resolutions):
            bad.append(image.name)
    if bad:
        verdict.failures.append(
            Failure("zero_side_bucket", "the image's bucket has a 0 px side", tuple(bad))
        )
