"""The trainer's dataset loader rules, as checks on a ZIP's listing and a few header bytes.

Why a separate module: these rules mirror what the trainer (ai-toolkit behind
lucataco/sd3.5-large-fine-tuner) does with the extracted ZIP (docs/trainer.md, "What the trainer
does with the ZIP"), and each severity follows the trainer's behaviour: `error` = the run fails or
trains garbage, `warning` = the run works but not the way the user meant, `note` = good to know.
Everything here is pure (no I/O), so it is tested directly.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.core.dataset.imageinfo import EXT_FORMAT, ImageHeader, check_images

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp"})
UNSUPPORTED_IMAGE_EXTS = frozenset(
    {
        ".heic",
        ".heif",
        ".avif",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".jxl",
        ".dng",
        ".raw",
        ".cr2",
        ".nef",
        ".psd",
        ".svg",
        ".ico",
    }
)
VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".wmv", ".mpg", ".mpeg"})
ZIP_METHODS_THE_TRAINER_READS = frozenset({0, 8, 12, 14})  # stored, deflate, bzip2, lzma
MAX_PATHS = 10
BOMB_RATIO, BOMB_MIN_SIZE, MAX_TOTAL_UNCOMPRESSED = 100, 50 * 1024 * 1024, 20 * 1024**3


@dataclass
class Finding:
    """One problem or fact: a stable snake_case `code`, an actionable `message`, example paths."""

    code: str
    message: str
    paths: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """What the central directory says about one member (independent of zipfile.ZipInfo)."""

    name: str
    size: int = 0
    compress_size: int = 0
    compress_type: int = 0
    encrypted: bool = False
    is_dir: bool = False
    is_symlink: bool = False
    header_offset: int = 0


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


# ---------------------------------------------------------------- classification


def classify(entry: Entry) -> str:
    """The trainer's view of one member: image, caption, macos (skipped), appledouble, ..."""
    name = entry.name
    base = posixpath.basename(name.rstrip("/"))
    ext = posixpath.splitext(base)[1].lower()
    if entry.is_dir or name.endswith("/"):
        return "dir"
    if name.startswith("__MACOSX/") or ("/" not in name and base.startswith("._")):
        return "macos"
    if base.startswith("._"):
        return "appledouble"
    if ext in IMAGE_EXTS:
        return "image"
    if ext == ".txt":
        return "caption"
    if ext in UNSUPPORTED_IMAGE_EXTS:
        return "unsupported_image"
    if ext in VIDEO_EXTS:
        return "video"
    return "other"


def is_unsafe_name(name: str) -> bool:
    """Absolute paths, drive letters and `..` components could write outside the target folder."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        return True
    return ".." in unified.split("/")


def recommended_steps(usable: int) -> int | None:
    """Team guidance: 1000 steps up to 20 images, 1500 up to 80, 2000 above."""
    if usable < 2:
        return None
    if usable <= 20:
        return 1000
    return 1500 if usable <= 80 else 2000


def _key(name: str) -> tuple[str, str]:
    folder, base = posixpath.split(name)
    return folder, posixpath.splitext(base)[0]


# ---------------------------------------------------------------- the rules


def check_archive(entries: list[Entry], result: RuleResult) -> None:
    """Errors that make the trainer's extraction fail or are dangerous."""
    unsafe = [e.name for e in entries if is_unsafe_name(e.name) or e.is_symlink]
    if unsafe:
        result.add(
            "error",
            "unsafe_entries",
            f"{len(unsafe)} ZIP entries use absolute paths, '..' or symlinks; re-create the "
            "ZIP from the folder itself (e.g. `zip -r dataset.zip images/`).",
            unsafe,
        )
    encrypted = [e.name for e in entries if e.encrypted]
    if encrypted:
        result.add(
            "error",
            "encrypted_entries",
            f"{len(encrypted)} ZIP entries are password-protected; the trainer cannot "
            "extract them, so re-create the ZIP without a password.",
            encrypted,
        )
    methods = [e.name for e in entries if e.compress_type not in ZIP_METHODS_THE_TRAINER_READS]
    if methods:
        result.add(
            "error",
            "unsupported_compression",
            f"{len(methods)} ZIP entries use a compression method Python's zipfile cannot "
            "extract (e.g. Deflate64 from Windows Explorer); re-create the ZIP with standard "
            "Deflate (`zip -r`, 7-Zip 'Deflate').",
            methods,
        )
    bombs = [
        e.name
        for e in entries
        if e.size > BOMB_MIN_SIZE and e.size > BOMB_RATIO * max(e.compress_size, 1)
    ]
    total = sum(e.size for e in entries)
    if bombs or total > MAX_TOTAL_UNCOMPRESSED:
        result.add(
            "error",
            "compression_bomb",
            f"The ZIP unpacks to {total / 1024**3:.1f} GB with a suspicious compression "
            "ratio; it would fill the trainer's disk, so zip only the images and captions.",
            bombs,
        )


def check_dataset(
    entries: list[Entry],
    headers: dict[str, ImageHeader | None],
    captions: dict[str, bytes | None],
    trigger_word: str | None,
    result: RuleResult,
) -> None:
    """Images, captions and counts exactly as the trainer's loader would see them."""
    groups: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        groups[classify(entry)].append(entry.name)
    images, caption_names = groups["image"], groups["caption"]
    _ignored(groups, result)
    unreadable, image_findings = check_images(images, headers)
    for severity, code, message, paths in image_findings:
        result.add(severity, code, message, paths)
    usable = len(images) - len(unreadable)
    _captions(images, caption_names, captions, trigger_word, result)
    result.counts.update(
        {
            "entries": len(entries),
            "images": len(images),
            "usable_images": usable,
            "captions": len(caption_names),
            "ignored_files": sum(
                len(groups[k])
                for k in ("macos", "appledouble", "unsupported_image", "video", "other")
            ),
            "unsupported_images": len(groups["unsupported_image"]),
            "headers_checked": sum(1 for n in images if headers.get(n) is not None),
        }
    )
    for fmt in ("jpeg", "png", "webp"):
        result.counts[f"images_{fmt}"] = sum(
            1 for n in images if EXT_FORMAT[posixpath.splitext(n)[1].lower()] == fmt
        )
    if usable == 0:
        result.add(
            "error",
            "no_images",
            "The ZIP has no usable .jpg, .jpeg, .png or .webp image, so the trainer would "
            "stop with 'no images found'; add your training images to the ZIP.",
        )
    elif usable < 2:
        result.add(
            "error",
            "too_few_images",
            "The ZIP has only 1 usable image; a LoRA needs at least 2 and the trainer "
            "recommends 10 or more.",
            images,
        )
    elif usable < 10:
        result.add(
            "warning",
            "few_images",
            f"The ZIP has only {usable} usable images; the trainer recommends at least 10 "
            "(4-30 is typical for a subject), so expect a weak LoRA.",
        )
    result.recommended_steps = recommended_steps(usable)
    if result.recommended_steps:
        result.add(
            "note",
            "steps_guidance",
            f"For {usable} images about {result.recommended_steps} steps is a good start.",
        )


def _ignored(groups: dict[str, list[str]], result: RuleResult) -> None:
    if groups["macos"]:
        result.add(
            "note",
            "macos_metadata_ignored",
            f"{len(groups['macos'])} macOS metadata entries (__MACOSX/, ._*) are skipped "
            "by the trainer; harmless.",
            groups["macos"],
        )
    if groups["appledouble"]:
        result.add(
            "warning",
            "nested_appledouble",
            f"{len(groups['appledouble'])} macOS '._' files sit inside folders, where the "
            "trainer tries to open them as images and logs errors; zip with "
            "`zip -r -X` or delete the ._ files.",
            groups["appledouble"],
        )
    unsupported = groups["unsupported_image"]
    if unsupported:
        exts = sorted({posixpath.splitext(n)[1].lower() for n in unsupported})
        result.add(
            "warning",
            "unsupported_images",
            f"{len(unsupported)} images are {', '.join(exts)}, which the trainer silently "
            "ignores; convert them to JPEG or PNG.",
            unsupported,
        )
    if groups["video"]:
        result.add(
            "warning",
            "videos_ignored",
            f"{len(groups['video'])} video files are ignored by the trainer; extract "
            "frames as JPEG or PNG if you meant to train on them.",
            groups["video"],
        )
    if groups["other"]:
        result.add(
            "note",
            "ignored_files",
            f"{len(groups['other'])} other files are ignored by the trainer.",
            groups["other"],
        )


def _captions(
    images: list[str],
    caption_names: list[str],
    captions: dict[str, bytes | None],
    trigger_word: str | None,
    result: RuleResult,
) -> None:
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name in images:
        by_key[_key(name)].append(name)
    caption_keys = {_key(n): n for n in caption_names}
    shared = [n for names in by_key.values() if len(names) > 1 for n in names]
    if shared:
        result.add(
            "warning",
            "shared_stem",
            f"{len(shared)} images share a file name stem in one folder (like a.jpg and "
            "a.png), so they share one caption a.txt; rename them if they differ.",
            shared,
        )
    with_ext = [
        n
        for k, n in caption_keys.items()
        if k not in by_key
        and (k[0], posixpath.splitext(k[1])[0]) in by_key
        and posixpath.splitext(k[1])[1].lower() in IMAGE_EXTS
    ]
    if with_ext:
        result.add(
            "warning",
            "caption_named_with_extension",
            f"{len(with_ext)} captions are named like img.jpg.txt, but the trainer looks "
            "for img.txt; rename them.",
            with_ext,
        )
    orphans = [n for k, n in caption_keys.items() if k not in by_key and n not in with_ext]
    if orphans:
        result.add(
            "warning",
            "orphan_captions",
            f"{len(orphans)} caption files have no image with the same name in the same "
            "folder, so the trainer never uses them; check the file names.",
            orphans,
        )
    paired = [name for name in images if _key(name) in caption_keys]
    missing = [name for name in images if _key(name) not in caption_keys]
    result.counts["images_with_captions"] = len(paired)
    if images and not paired:
        result.add(
            "note",
            "no_captions",
            "No image has a caption (.txt with the same name), so every image trains on "
            "the trigger word alone; fine for a simple subject.",
        )
    elif missing:
        result.add(
            "warning",
            "images_without_captions",
            f"{len(missing)} of {len(images)} images have no caption file next to them "
            "and train on the trigger word alone; add <image name>.txt if that is not "
            "intended.",
            missing,
        )
    _caption_texts(sorted({caption_keys[_key(n)] for n in paired}), captions, trigger_word, result)


def _caption_texts(
    names: list[str],
    captions: dict[str, bytes | None],
    trigger_word: str | None,
    result: RuleResult,
) -> None:
    texts: dict[str, str] = {}
    bad: list[str] = []
    unread = 0
    for name in names:
        raw = captions.get(name)
        if raw is None:
            unread += 1
            continue
        try:
            texts[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(name)
    if bad:
        result.add(
            "error",
            "caption_not_utf8",
            f"{len(bad)} captions are not UTF-8 text and would stop the trainer, which "
            "reads them as UTF-8; re-save them as UTF-8.",
            bad,
        )
    if unread:
        result.skipped_checks.append(
            f"caption text of {unread} captions (over the read budget): UTF-8 and trigger word"
        )
    if trigger_word and texts:
        lower = trigger_word.lower()
        hits = [n for n, t in texts.items() if lower in t.lower() or "[trigger]" in t]
        result.add(
            "note",
            "trigger_word_in_captions",
            f"{len(hits)} of {len(texts)} captions mention the trigger word "
            f"'{trigger_word}'; the trainer prepends it to the others.",
            [n for n in texts if n not in hits],
        )
