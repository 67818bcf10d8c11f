"""The loader verdict in words: errors, warnings and notes that name the file, why, and the fix.

Why a separate module: the model (`verdict.py`) decides; this only tells. Severity follows the
trainer: `error` = its run fails (or a team policy refuses, and says so), `warning` = it trains,
but not the way the user probably meant, `note` = good to know. Pure, so it is tested directly.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.core.counted import count
from bot.core.dataset.entries import Skipped
from bot.core.dataset.verdict import DatasetVerdict

MAX_PATHS = 10
MIN_SIDE_WARN, MAX_SIDE_WARN, FEW_IMAGES = 256, 2048, 10
UNSUPPORTED_IMAGE_EXTS = frozenset(
    {".heic", ".heif", ".avif", ".gif", ".bmp", ".tif", ".tiff", ".jxl", ".dng", ".raw"}
    | {".cr2", ".nef", ".psd", ".svg", ".ico"}
)
VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".wmv", ".mpg", ".mpeg"})
FAILURE_TEXT = {
    "not_a_zip": "The file is not a ZIP, so the trainer stops with 'input_images must be a zip "
    "file'; zip the images (and .txt captions) and link to the .zip.",
    "archive_unreadable": "The ZIP's directory is damaged ({detail}), so the trainer cannot open "
    "it; re-create the ZIP and upload it again.",
    "size_cache_folder": "The ZIP has a folder named {detail} at its top; the trainer writes its "
    "image size cache to that name after listing the images, which fails the run; remove it.",
    "cached_unopenable": "An image listed in ai-toolkit's size cache (.aitk_size.json) cannot be "
    "opened ({detail}); the trainer takes its size from the cache instead of skipping it, and "
    "fails the run when it loads it; remove the image or the cache from the ZIP.",
    "size_cache_bucket": "ai-toolkit's size cache (.aitk_size.json) gives an image the size "
    "{detail}, which breaks the trainer's bucket maths and fails the run; remove the cache from "
    "the ZIP.",
}


@dataclass
class Finding:
    """One problem or fact: a stable snake_case `code`, an actionable `message`, example paths."""

    code: str
    message: str
    paths: list[str] = field(default_factory=list)


@dataclass
class RuleResult:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped_checks: list[str] = field(default_factory=list)
    recommended_steps: int | None = None

    def add(self, severity: str, code: str, message: str, paths: Iterable[str] = ()) -> None:
        bucket = {"error": self.errors, "warning": self.warnings, "note": self.notes}[severity]
        bucket.append(Finding(code, message, sorted(paths)[:MAX_PATHS]))


def recommended_steps(usable: int) -> int | None:
    """Team guidance: the beginner and experienced presets' 1500 steps up to 80 images, 2000
    above. It agrees with the default preset, so the note never contradicts the value a
    newcomer is about to train with."""
    if usable < 2:
        return None
    return 1500 if usable <= 80 else 2000


def _files(n: int) -> str:
    return f"{n} file{'s' if n != 1 else ''}"


def _listed(items: list[tuple[str, str]], limit: int = 3) -> str:
    shown = "; ".join(f"{name}: {why}" for name, why in items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def describe(verdict: DatasetVerdict, result: RuleResult, *, min_images: int) -> None:
    """Fill `result` from the verdict: failures first, then policy, then advice and counts."""
    _failures(verdict, result)
    _skipped(verdict, result)
    usable = len(verdict.usable)
    if not verdict.fails and usable < min_images:
        result.add(
            "error",
            "too_few_images_policy",
            f"Team policy (SD35L_POLICY_MIN_IMAGES={min_images}): the dataset has {usable} usable "
            f"image{'s' if usable != 1 else ''}. The trainer would run, but a LoRA from so few "
            "images learns little; add images (10 or more is recommended).",
            [u.name for u in verdict.usable],
        )
    elif min_images <= usable < FEW_IMAGES:
        result.add(
            "warning",
            "few_images",
            f"The dataset has only {usable} usable images; the trainer recommends at least 10 "
            "(4-30 is typical for a subject), so expect a weak LoRA.",
        )
    _sizes(verdict, result)
    _size_cache(verdict, result)
    _captions(verdict, result)
    result.recommended_steps = recommended_steps(usable)
    if result.recommended_steps and not verdict.fails:
        result.add(
            "note",
            "steps_guidance",
            f"For {count(usable, 'image')} about {result.recommended_steps} steps is a good start.",
        )
    result.skipped_checks += verdict.partial


def _failures(verdict: DatasetVerdict, result: RuleResult) -> None:
    for failure in verdict.failures:
        names = list(failure.names)
        if failure.code in FAILURE_TEXT:
            text = FAILURE_TEXT[failure.code].format(detail=failure.detail)
            result.add("error", failure.code, text, names)
        elif failure.code == "extraction_fails":
            result.add(
                "error",
                "extraction_fails",
                f"The trainer's extraction stops at '{names[0]}': {failure.detail}. Fix or remove "
                "that entry and re-create the ZIP from the folder (`zip -r dataset.zip images/`).",
                names,
            )
        elif failure.code == "zero_side_bucket":
            sizes = {u.name: f"{u.width}x{u.height}" for u in verdict.usable}
            items = [(n, sizes.get(n, "")) for n in names]
            result.add(
                "error",
                "image_bucket_zero",
                f"{count(len(names), 'image is', 'images are')} so small or narrow that the "
                f"trainer's "
                f"aspect bucket has a 0 px side, which fails the run after the GPU is billed "
                f"({_listed(items)}); remove {'it' if len(names) == 1 else 'them'} or use "
                "larger originals (both sides over "
                "~128 px is safe).",
                names,
            )
        elif failure.code == "caption_unreadable":
            result.add(
                "error",
                "caption_unreadable",
                f"{count(len(names), 'caption file', 'caption files')} of images the trainer uses "
                "cannot be read as UTF-8 "
                f"text ({failure.detail}), which stops the run; re-save them as UTF-8 text.",
                names,
            )
        else:  # no_images
            result.add(
                "error",
                "no_images",
                "No image in the dataset is one the trainer can use, so it would stop with 'no "
                "images found'; add .jpg, .jpeg, .png or .webp images (the reasons for the "
                "files it skips are listed).",
            )


def _skipped(verdict: DatasetVerdict, result: RuleResult) -> None:
    by_reason: dict[str, list[Skipped]] = defaultdict(list)
    for item in verdict.skipped:
        by_reason[item.reason].append(item)
    if by_reason["unopenable"]:
        items = [(s.name, s.detail) for s in by_reason["unopenable"]]
        result.add(
            "warning",
            "unreadable_images",
            f"The trainer skips {_files(len(items))} named like images because Pillow cannot "
            f"use them ({_listed(items)}); convert them to real JPEG or PNG, or remove them.",
            [n for n, _ in items],
        )
    if by_reason["caption_wrong_case"]:
        names = [s.name for s in by_reason["caption_wrong_case"]]
        result.add(
            "warning",
            "caption_wrong_case",
            f"{count(len(names), 'caption ends', 'captions end')} in an upper-case extension (like "
            ".TXT); the trainer "
            "reads only '.txt', so their images train on the trigger word alone; rename them.",
            names,
        )
    if by_reason["overwritten"]:
        items = [(s.name, s.detail) for s in by_reason["overwritten"]]
        result.add(
            "warning",
            "duplicate_entries",
            f"{count(len(items), 'ZIP entry shares', 'ZIP entries share')} a path with a later "
            "entry, and the later one wins "
            f"({_listed(items, 2)}); remove the duplicates.",
            [n for n, _ in items],
        )
    if by_reason["macos_metadata"]:
        names = [s.name for s in by_reason["macos_metadata"]]
        result.add(
            "note",
            "macos_metadata_ignored",
            f"{count(len(names), 'entry starting', 'entries starting')} with __MACOSX/ or ._ "
            f"{'is' if len(names) == 1 else 'are'} never extracted by the trainer; harmless, "
            "unless your images are in such a folder.",
            names,
        )
    _ignored(by_reason["not_an_image_name"], result)


def _ignored(items: list[Skipped], result: RuleResult) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        ext = posixpath.splitext(item.name)[1].lower()
        kind = "unsupported" if ext in UNSUPPORTED_IMAGE_EXTS else "other"
        groups["video" if ext in VIDEO_EXTS else kind].append(item.name)
    if groups["unsupported"]:
        exts = sorted({posixpath.splitext(n)[1].lower() for n in groups["unsupported"]})
        result.add(
            "warning",
            "unsupported_images",
            f"{count(len(groups['unsupported']), 'image is', 'images are')} "
            f"{', '.join(exts)}, which "
            "the trainer "
            "never looks at; convert them to JPEG or PNG.",
            groups["unsupported"],
        )
    if groups["video"]:
        result.add(
            "warning",
            "videos_ignored",
            f"{count(len(groups['video']), 'video file is', 'video files are')} ignored by the "
            "trainer; extract frames as "
            "JPEG or PNG if you meant to train on them.",
            groups["video"],
        )
    if groups["other"]:
        result.add(
            "note",
            "ignored_files",
            f"{count(len(groups['other']), 'other file is', 'other files are')} ignored by the "
            "trainer.",
            groups["other"],
        )
    result.counts["unsupported_images"] = len(groups["unsupported"])
    result.counts["ignored_files"] = len(items)


def _sizes(verdict: DatasetVerdict, result: RuleResult) -> None:
    checked = [u for u in verdict.usable if u.checked]
    small = [u.name for u in checked if min(u.width, u.height) < MIN_SIDE_WARN]
    large = [u.name for u in checked if max(u.width, u.height) > MAX_SIDE_WARN]
    if small:
        result.add(
            "warning",
            "image_small",
            f"{count(len(small), 'image is', 'images are')} under {MIN_SIDE_WARN} px on a "
            "side; the trainer never upscales "
            + ("it, so it trains" if len(small) == 1 else "them, so they train")
            + " poorly at 512-1024 px.",
            small,
        )
    if large:
        result.add(
            "note",
            "image_large",
            f"{count(len(large), 'image is', 'images are')} over {MAX_SIDE_WARN} px on a side; the "
            f"trainer scales {'it' if len(large) == 1 else 'them'} down, so smaller copies would "
            "upload faster and train the same.",
            large,
        )
    result.counts.update(
        {
            "entries": verdict.entries,
            "images": len(verdict.usable) + sum(s.reason == "unopenable" for s in verdict.skipped),
            "usable_images": len(verdict.usable),
            "images_checked": len(checked),
        }
    )


def _size_cache(verdict: DatasetVerdict, result: RuleResult) -> None:
    """What ai-toolkit's .aitk_size.json changes (see `sizecache`)."""
    cache = verdict.size_cache
    if cache is None:
        return
    if not cache.read:
        result.skipped_checks.append(f"{cache.name} (the trainer's image size cache) was not read")
    elif not cache.used:
        result.add("note", "size_cache_ignored", f"{cache.name} is not used: {cache.why}.")
    elif cache.listed:
        result.add(
            "note",
            "size_cache_used",
            f"The ZIP carries ai-toolkit's image size cache ({cache.name}): the trainer takes "
            f"the sizes of {count(len(cache.listed), 'image')} from it instead of measuring "
            "them, and so does this check.",
            cache.listed,
        )
    if cache.differs:
        result.add(
            "warning",
            "size_cache_stale",
            f"{count(len(cache.differs), 'image has', 'images have')} another size in "
            f"{cache.name} than in fact ({_listed(cache.differs)}); the trainer buckets and "
            "crops by the cached size, so they train cut or distorted; delete the cache from "
            "the ZIP.",
            [n for n, _ in cache.differs],
        )
    stale_entries = [s for s in verdict.skipped if s.reason == "size_cache_entry"]
    if stale_entries:
        result.add(
            "warning",
            "size_cache_entry",
            f"The trainer skips {_files(len(stale_entries))} whose size in {cache.name} is not "
            f"a width and height ({_listed([(s.name, s.detail) for s in stale_entries])}); "
            "delete the cache from the ZIP.",
            [s.name for s in stale_entries],
        )


def _captions(verdict: DatasetVerdict, result: RuleResult) -> None:
    usable = verdict.usable
    with_file = [u for u in usable if u.caption_name]
    result.counts["captions"] = len(with_file) + len(verdict.orphan_captions)
    result.counts["images_with_captions"] = verdict.captioned
    missing = [u.name for u in usable if u.caption_name is None]
    if usable and not with_file:
        result.add(
            "note",
            "no_captions",
            "No image has a caption (.txt with the same name), so every image trains on the "
            "trigger word alone; fine for a simple subject.",
        )
    elif missing:
        result.add(
            "warning",
            "images_without_captions",
            f"{len(missing)} of {count(len(usable), 'image')} "
            + (
                "has no caption file next to it and trains"
                if len(missing) == 1
                else "have no caption file next to them and train"
            )
            + " on the trigger word alone; add <image name>.txt if that is not intended.",
            missing,
        )
    texts = [u.caption for u in usable if u.caption]
    if verdict.trigger and texts:
        word = verdict.trigger.lower()
        hits = sum(1 for t in texts if word in t.lower() or "[trigger]" in t)
        result.add(
            "note",
            "trigger_word_in_captions",
            f"{hits} of {count(len(texts), 'caption')} "
            f"{'mentions' if hits == 1 else 'mention'} the trigger word '{verdict.trigger}'; the "
            "trainer prepends it to the others.",
        )
    if verdict.orphan_captions:
        result.add(
            "warning",
            "orphan_captions",
            f"{count(len(verdict.orphan_captions), 'caption file belongs', 'caption files belong')}"
            " "
            "to no image the trainer uses "
            "(same name, same folder), so they are never read; check the file names.",
            verdict.orphan_captions,
        )
