"""Sample images while it trains: the trainer's `wandb_sample_prompts`, made safe to ask for.

Why rules of our own: the trainer renders samples only into a Weights & Biases project, and only
when it has a W&B key; given prompts without a key it trains silently without samples. So a
config with sample prompts and no WANDB_API_KEY (read from the environment only, never from a
config file) is refused, saying why. And the trainer does not add the trigger word to a sample
prompt, so a prompt without it would show the base model, not the LoRA: it is added here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.core.errors import InputError
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.config.model import TrainingConfig

FIELD = "wandb.sample_prompts"


def with_trigger(prompt: str, trigger_word: str | None) -> str:
    """`[trigger]` replaced by the word; a prompt that lacks it gets it in front."""
    if not trigger_word:
        return prompt
    prompt = prompt.replace("[trigger]", trigger_word)
    if re.search(rf"(?<!\w){re.escape(trigger_word)}(?!\w)", prompt, re.IGNORECASE):
        return prompt
    return f"{trigger_word}, {prompt}"


def sample_prompts(config: TrainingConfig) -> list[str]:
    """The prompts as the trainer will get them (trigger word in each)."""
    return [with_trigger(p, config.trigger_word) for p in config.wandb.sample_prompts]


def check_samples(config: TrainingConfig, settings: Settings) -> None:
    """Refuse sample prompts the trainer would ignore for want of a W&B key."""
    if config.wandb.sample_prompts and settings.wandb_api_key is None:
        raise InputError(
            f"{FIELD}: sample images need WANDB_API_KEY in the environment — the trainer renders "
            "them only into a Weights & Biases project, and the key is read only from the "
            "environment, never from a config file. Set WANDB_API_KEY or remove the sample "
            "prompts.",
            field=FIELD,
        )


def samples_line(config: TrainingConfig) -> str | None:
    """Where the samples appear and how often, for the CLI and the card; None without any."""
    prompts = config.wandb.sample_prompts
    if not prompts:
        return None
    w = config.wandb
    return (
        f"Sample images: {len(prompts)} prompt(s) rendered every {w.sample_interval} steps "
        f"into the W&B project {w.project} (https://wandb.ai, your account's {w.project} "
        "project, Media panel)."
    )
