"""Datasets before money is spent: the remote ZIP reader, the trainer's loader rules, image
headers, share-page links, and the one `DatasetReport` both front ends render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "DatasetReport": "check",
    "inspect_dataset": "check",
}
__all__ = ["DatasetReport", "inspect_dataset"]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.dataset.check import DatasetReport, inspect_dataset
