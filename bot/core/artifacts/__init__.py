"""Fetching a finished training's LoRA: a streaming, resumable weights download that
extracts only the `.safetensors` member, safely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "weights_filename": "weights",
    "download_weights": "weights",
}
__all__ = ["download_weights", "weights_filename"]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.artifacts.weights import download_weights, weights_filename
