"""Datasets before money is spent: the trainer's loader model and the checks built on it.

Public API (names load lazily):
- `judge_archive(path_or_bytes, resolutions=None, trigger_word="TOK") -> LoaderVerdict`: judge a
  local ZIP file, ZIP bytes or a folder in full, exactly as the trainer would. `verdict.fails` /
  `verdict.failures` say whether (and why) the trainer's run would fail; `verdict.usable` lists
  the `UsableImage`s it trains on (`name` in the archive, `read()` for the bytes, `caption` and
  `caption_name`, `prompt` with the trigger word); `verdict.skipped` lists every other file with
  its reason; `verdict.captioned` counts images with a non-empty caption. To upload a folder:
  judge it, then zip `usable` images (and their `caption_name` files) under the same names.
- `inspect_dataset(url, settings=..., trigger_word=..., resolution=...) -> DatasetReport`: the
  pre-flight check of a dataset URL (reads a large ZIP only in part, and says which checks were
  partial); `DatasetReport` is what the CLI and the bot render.
- `run_loader(entries, resolutions, trigger)`: the model itself, over `EntryView`s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "DatasetReport": "check",
    "inspect_dataset": "check",
    "judge_archive": "archive",
    "judge_folder": "archive",
    "parse_resolutions": "archive",
    "run_loader": "loader",
    "EntryView": "verdict",
    "LoaderVerdict": "verdict",
    "UsableImage": "verdict",
    "Skipped": "verdict",
    "Failure": "verdict",
}
__all__ = [
    "DatasetReport",
    "EntryView",
    "Failure",
    "LoaderVerdict",
    "Skipped",
    "UsableImage",
    "inspect_dataset",
    "judge_archive",
    "judge_folder",
    "parse_resolutions",
    "run_loader",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.dataset.archive import judge_archive, judge_folder, parse_resolutions
    from bot.core.dataset.check import DatasetReport, inspect_dataset
    from bot.core.dataset.loader import run_loader
    from bot.core.dataset.verdict import (
        EntryView,
        Failure,
        LoaderVerdict,
        Skipped,
        UsableImage,
    )
