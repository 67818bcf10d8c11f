"""Named points where a crash hurts most: after a Start is recorded, while a create is out,
after Discord stored a message but before it was marked, in the middle of a poll round.

In production `crash_point` does nothing. The crash tests (tests/crashbot.py) install a hook
that kills the process at one named point, so every recovery path is exercised for real,
deterministically, against a separate process.
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str], None] | None = None


def crash_point(name: str) -> None:
    """Mark a point the process may die at; see the module docstring."""
    if _hook is not None:
        _hook(name)


def set_hook(hook: Callable[[str], None] | None) -> None:
    global _hook
    _hook = hook
