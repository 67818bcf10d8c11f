"""Captions written by a vision model on Replicate, reviewed before anything is paid for.

`run.plan` resolves the model from its real input schema and prices the images the cache does
not know; `run.run` makes the predictions (bounded, retried) and cleans the answers (`clean`);
`cost` prices a caption and calibrates it from finished runs; `cache` remembers every caption
paid for; `images` makes the small data-URI copy the model sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "CaptionOptions": "run",
    "CaptionPlan": "run",
    "CaptionResult": "run",
    "Picture": "run",
    "needs_caption": "run",
    "with_captions": "run",
    "CaptionPrice": "cost",
    "CaptionSample": "cost",
    "format_price": "cost",
}
__all__ = [
    "CaptionOptions",
    "CaptionPlan",
    "CaptionPrice",
    "CaptionResult",
    "CaptionSample",
    "Picture",
    "format_price",
    "needs_caption",
    "with_captions",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.captions.cost import CaptionPrice, CaptionSample, format_price
    from bot.core.captions.run import (
        CaptionOptions,
        CaptionPlan,
        CaptionResult,
        Picture,
        needs_caption,
        with_captions,
    )
