"""What captions cost: the price per image before, the charge after, in whole cents.

Why calibrated: a model's published cost per run is an average over other people's inputs.
Finished caption runs record their images and billed seconds (in the ledger, like trainings),
so once there are a few, the price per image is their seconds per image times the model's
hardware price. Until then: `SD35L_CAPTION_PRICE` when set, else the published figure.
The preview's amount and the ledger's charge come from the same function of the same numbers,
so what was shown is what is counted against the budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from bot.core.captions.models import PUBLISHED
from bot.core.errors import InputError

PRICE_FIELD = "SD35L_CAPTION_PRICE"
MIN_RUNS, MIN_IMAGES = 3, 10  # fewer finished runs than this: no calibration yet
LEDGER_STATUS = "captioned"  # a caption run's ledger row (never a training's status)


@dataclass(frozen=True)
class CaptionSample:
    """One finished caption run: how many predictions ran and their billed seconds."""

    images: int
    predict_time: float


SAMPLE_LIMIT = 50
SAMPLES_SQL = (
    "SELECT images, predict_time FROM ledger WHERE status = ? AND estimate_basis = ? "
    "AND images IS NOT NULL AND predict_time IS NOT NULL ORDER BY created_at DESC LIMIT ?"
)


def basis_of(model: str) -> str:
    """A caption run's ledger `estimate_basis`: which model's runs calibrate which price."""
    return f"captions {model}"


def samples_of(rows: list[object]) -> list[CaptionSample]:
    out = []
    for row in rows:
        try:
            images, seconds = row[0], row[1]  # type: ignore[index]
            out.append(CaptionSample(int(images), float(seconds)))
        except (TypeError, ValueError, IndexError):
            continue
    return out


def read_samples(database: Path, model: str) -> list[CaptionSample]:
    """The CLI's read of the bot's finished caption runs (read-only; [] on any trouble), so
    both front ends show the same price."""
    from bot.core.store.history import read_rows

    params = (LEDGER_STATUS, basis_of(model), SAMPLE_LIMIT)
    return samples_of(read_rows(Path(database).expanduser(), SAMPLES_SQL, params))


@dataclass(frozen=True)
class CaptionPrice:
    """USD per caption and where the figure comes from (shown next to the amount)."""

    per_image: Decimal
    basis: str


def price_per_image(
    model: str, setting: Decimal | None, samples: list[CaptionSample]
) -> CaptionPrice:
    """Calibrated > SD35L_CAPTION_PRICE > published; an unknown model needs the setting."""
    published = PUBLISHED.get(model)
    usable = [s for s in samples if s.images > 0 and s.predict_time >= 0]
    images = sum(s.images for s in usable)
    if published is not None and len(usable) >= MIN_RUNS and images >= MIN_IMAGES:
        seconds = Decimal(str(sum(s.predict_time for s in usable))) / images
        return CaptionPrice(
            (seconds * published.gpu_price).quantize(Decimal("0.000001"), ROUND_CEILING),
            f"calibrated on {len(usable)} finished caption runs",
        )
    if setting is not None:
        return CaptionPrice(setting, PRICE_FIELD)
    if published is not None:
        return CaptionPrice(published.price, f"{model}'s published price")
    raise InputError(
        f"{PRICE_FIELD} is needed for {model}: its price per caption is not known here; set it "
        "in USD, such as 0.002.",
        field=PRICE_FIELD,
    )


def cost_cents(price: CaptionPrice, images: int) -> int:
    """The charge for `images` captions, rounded up to a whole cent (never free when > 0)."""
    if images <= 0:
        return 0
    return int((price.per_image * images * 100).to_integral_value(ROUND_CEILING))


def format_price(per_image: Decimal) -> str:
    """`$0.0019`: a price per caption is below a cent, so four decimals at least."""
    text = f"{per_image:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(4, '0')}"
