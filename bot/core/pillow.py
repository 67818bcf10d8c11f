"""Pillow imported without numpy.

Why: Pillow 10.4 (pinned: the trainer's release) imports `numpy.typing` in `PIL._typing` only to
name a type alias, and numpy is installed here (matplotlib needs it). That one line cost a CLI
dry run more than judging its images (benchmarks/README.md), and each dataset worker process
~12 MB that it never uses.
"""

from __future__ import annotations

import sys


def import_pillow() -> None:
    """Import Pillow before the dataset code does, without importing numpy for it.

    numpy is hidden only while `PIL.Image` loads; Pillow still takes numpy arrays afterwards (it
    reads them through the array interface, not through that alias), and numpy imports normally
    when a chart needs it.
    """
    if "PIL.Image" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` now raises
    try:
        import PIL.Image  # noqa: F401
    finally:
        del sys.modules["numpy"]
