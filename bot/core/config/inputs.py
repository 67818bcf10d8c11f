"""A checked config as the trainer's inputs, and the secret inputs that go beside them.

Kept apart from the model so what is sent to Replicate is one short read; `model` re-exports
both names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.config import fields
from bot.core.config.presets import REQUIRED
from bot.core.config.samples import sample_prompts
from bot.core.errors import InputError
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.config.model import TrainingConfig


def to_trainer_input(config: TrainingConfig, input_images: str | None = None) -> dict[str, Any]:
    """Exactly the trainer's input names (docs/trainer.md); no destination, secrets, Flux keys.

    `input_images` is the uploaded file's URL when the dataset is local (`dataset_path`); the
    upload happens only at Start, so a check before it passes a placeholder of the same shape.
    """
    images = input_images or config.dataset_url
    for path in REQUIRED:
        if not (images if path == "dataset_url" else getattr(config, path)):
            raise InputError(fields.missing_message(path), field=path)
    t, w, a = config.training, config.wandb, config.advanced
    samples = (
        {"wandb_sample_prompts": "\n".join(sample_prompts(config))} if w.sample_prompts else {}
    )
    return {
        "input_images": images,
        "trigger_word": config.trigger_word,
        "steps": t.steps,
        "learning_rate": t.learning_rate,
        "batch_size": t.batch_size,
        "resolution": t.resolution,
        "lora_rank": t.lora_rank,
        "caption_dropout_rate": a.caption_dropout_rate,
        "optimizer": t.optimizer,
        "cache_latents_to_disk": a.cache_latents_to_disk,
        "wandb_project": w.project,
        "wandb_save_interval": w.save_interval,
        "wandb_sample_interval": w.sample_interval,
        **samples,
    }


def secret_inputs(settings: Settings) -> dict[str, str]:
    """The trainer's secret inputs from the environment (only W&B); sent, never stored."""
    key = settings.wandb_api_key.get_secret_value() if settings.wandb_api_key else ""
    return {"wandb_api_key": key} if key.strip() else {}
