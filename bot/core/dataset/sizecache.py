"""ai-toolkit's size cache, `.aitk_size.json`: image sizes the trainer takes instead of probing.

Read from the pinned source (ostris/ai-toolkit at 3400882a8099645ce4c797f57ac258f1e1424ffd):
- `toolkit/data_loader.py`, `AiToolkitDataset.__init__`: the dataset folder (the trainer's
  `input_images`, where the ZIP is extracted) may hold `.aitk_size.json`. It is `json.load`ed;
  any exception (not JSON, not UTF-8, a folder of that name) means an empty cache, and so does a
  top level that is not an object whose `"__version__"` is `"0.1.1"`. After the images are
  listed the trainer writes the cache back, which raises (and fails the run) when a folder has
  that name.
- `toolkit/data_transfer_object/data_loader.py`, `FileItemDTO.__init__`: an image's key is its
  path with the folder's name removed (`path.replace(dataset_root, '')`: every occurrence, so
  `input_images/a.png` is `/a.png`). A listed image is NOT probed: `w, h = size_database[key]`,
  and its width and height are those values (times `scale`, 1.0). A value that does not unpack
  into two numbers raises there, and the image is skipped like an unopenable one. An image not
  listed is probed (`exif_transpose(Image.open(path))`) as usual.
- `toolkit/dataloader_mixins.py`, `BucketsMixin.setup_buckets`: buckets come from
  `int(width * scale)` x `int(height * scale)`, the cached values; a size of 0 or less breaks
  the bucket maths (the run fails). Pixels are read only when latents are cached
  (`load_and_process_image`), where an image Pillow cannot open fails the run instead of being
  skipped, because the probe that would have skipped it never ran.

So a ZIP that carries the cache (a folder used with ai-toolkit locally, zipped whole) is judged
with the cached sizes. A local dataset is repacked with only its images and captions
(`pack.py`), so its cache never reaches the trainer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.dataset.entries import EntryView
from bot.core.dataset.extract import EXTRACT_ERRORS, FOLDER, Extraction

CACHE_NAME = ".aitk_size.json"  # at the top of the extracted folder
CACHE_VERSION = "0.1.1"  # ai-toolkit's `dataloader_version`; any other means an empty cache


@dataclass
class SizeCache:
    """What the trainer makes of the dataset's size cache (`used`: it takes sizes from it)."""

    name: str  # the ZIP entry
    used: bool
    why: str = ""  # when not used: why the trainer ignores it
    read: bool = True  # False: the entry's content was not fetched (a remote sample)
    sizes: dict[str, Any] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)  # usable images sized from the cache
    differs: list[tuple[str, str]] = field(default_factory=list)  # (entry, "cached vs real")


def cache_key(path: str) -> str:
    """The key ai-toolkit looks an extracted file up by: `os.path.join(folder, path)` with
    every occurrence of the folder's name removed."""
    return f"{FOLDER}/{path}".replace(FOLDER, "")


def read_cache(
    tree: Extraction, entries: Sequence[EntryView], *, uploaded: bool
) -> SizeCache | None:
    """The cache at the top of the extracted folder, as `AiToolkitDataset.__init__` loads it;
    None when there is none. `uploaded`: the ZIP reaches the trainer as it is (False for a local
    dataset, which is repacked without it)."""
    if CACHE_NAME not in tree.files:
        return None
    entry = entries[tree.files[CACHE_NAME]]
    if not uploaded:
        why = "it is left out of the upload, so the trainer measures every image itself"
        return SizeCache(entry.name, used=False, why=why)
    if entry.read is None:
        return SizeCache(entry.name, used=False, why="not read", read=False)
    try:
        data = json.loads(entry.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, *EXTRACT_ERRORS):
        why = "it is not valid JSON, so the trainer ignores it"
        return SizeCache(entry.name, used=False, why=why)
    if not isinstance(data, dict) or data.get("__version__") != CACHE_VERSION:
        why = f"it is not a version {CACHE_VERSION} cache, so the trainer discards it"
        return SizeCache(entry.name, used=False, why=why)
    return SizeCache(entry.name, used=True, sizes=data)


def cached_size(cache: SizeCache | None, path: str) -> tuple[int, int] | str | None:
    """The (width, height) the trainer takes for the image at `path` from the cache, a sentence
    saying why the cached value makes it skip the image, or None when it probes the image."""
    if cache is None or not cache.used:
        return None
    key = cache_key(path)
    if key not in cache.sizes:
        return None
    value = cache.sizes[key]
    try:
        width, height = value  # what FileItemDTO does: any two items unpack
        return int(width * 1.0), int(height * 1.0)  # `int(self.width * scale)`
    except (TypeError, ValueError, OverflowError):
        shown = json.dumps(value)[:40]
        return f"its entry in {CACHE_NAME} ({shown}) is not a width and height"


def usable_cached_size(width: int, height: int) -> bool:
    """A cached size the bucket maths can work with: both sides positive."""
    return width > 0 and height > 0
