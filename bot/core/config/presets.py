"""The training parameters (names, defaults, meanings) and the presets built from them.

One catalog feeds the config validator, the template, the interactive CLI and Discord's
`/presets`, so a parameter's name, default and explanation can never disagree between them.
Presets are YAML files shipped with the package (`bot/_data/presets` in a wheel, the repo's
`config/presets` in a checkout), so a team can read them without reading code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.errors import InputError, SD35LError
from bot.core.limits import LORA_RANK

OPTIMIZERS: tuple[str, ...] = ("prodigy", "adamw8bit")
# The learning rate each optimizer wants when nobody chose one (prodigy adapts its own step size).
OPTIMIZER_DEFAULT_LR: dict[str, float] = {"prodigy": 1.0, "adamw8bit": 0.0004}

# Flat key (CLI option / slash-command option) -> dotted path in the handoff's config layout.
FLAT_TO_PATH: dict[str, str] = {
    "dataset_url": "dataset_url",
    "dataset_path": "dataset_path",
    "destination": "destination",
    "trigger_word": "trigger_word",
    "preset": "preset",
    "steps": "training.steps",
    "batch_size": "training.batch_size",
    "optimizer": "training.optimizer",
    "learning_rate": "training.learning_rate",
    "resolution": "training.resolution",
    "lora_rank": "training.lora_rank",
    "wandb_project": "wandb.project",
    "wandb_save_interval": "wandb.save_interval",
    "wandb_sample_interval": "wandb.sample_interval",
    "wandb_sample_prompts": "wandb.sample_prompts",
    "caption_dropout_rate": "advanced.caption_dropout_rate",
    "cache_latents_to_disk": "advanced.cache_latents_to_disk",
}
PATH_TO_FLAT: dict[str, str] = {path: flat for flat, path in FLAT_TO_PATH.items()}
PATHS: tuple[str, ...] = tuple(FLAT_TO_PATH.values())
SECTIONS: tuple[str, ...] = ("training", "wandb", "advanced")
REQUIRED: tuple[str, ...] = ("dataset_url", "destination", "trigger_word")

# Built-in defaults (the lowest layer), by dotted path. The training values are the beginner
# preset's, so a run without a preset costs what `interactive` (which offers beginner) shows.
DEFAULTS: dict[str, Any] = {
    "training.steps": 1500,
    "training.batch_size": 1,
    "training.optimizer": "prodigy",
    "training.learning_rate": 1.0,
    "training.resolution": "768,1024",
    "training.lora_rank": 16,
    "wandb.project": "sd3.5_train_replicate",
    "wandb.save_interval": 100,
    "wandb.sample_interval": 100,
    "wandb.sample_prompts": (),
    "advanced.caption_dropout_rate": 0.05,
    "advanced.cache_latents_to_disk": False,
}

_HELP: dict[str, str] = {
    "dataset_url": "Direct https link to a .zip of your images (+ optional same-name .txt "
    "captions); share pages such as Google Drive or Dropbox ?dl=0 do not work.",
    "dataset_path": "Local folder of images (+ same-name .txt captions) or a local .zip; "
    "checked, packed and uploaded for you at Start (CLI only; relative to the config file).",
    "destination": "Replicate model that receives the trained LoRA, as owner/name "
    "(model names are lowercase: letters, digits, - _ .).",
    "trigger_word": "One made-up word (no spaces, not a common English word, e.g. ZXQTOK) "
    "that calls up your subject in prompts.",
    "preset": "Starting values: beginner (the default: batch 1, safest), experienced "
    "(batch 4, about 3x the cost), fast (batch 4 with fewer steps and smaller images: quicker "
    "and cheaper than experienced).",
    "steps": "Training steps; guides recommend 1000–2000 for SD3.5 Large (more = longer "
    "and costlier, too many can overfit).",
    "batch_size": "Images per step; higher is smoother but uses more GPU memory "
    "(1 is safest, 4 is typical).",
    "optimizer": "prodigy (adapts its own step size, use learning rate 1.0) or adamw8bit "
    "(classic, use about 0.0004).",
    "learning_rate": "How big each update is: 1.0 for prodigy, about 0.0004 for adamw8bit "
    "(chosen for you when you change only the optimizer).",
    "resolution": "Comma-separated training sizes (aspect buckets), each 256–2048 and a "
    'multiple of 64, e.g. "768,1024".',
    "lora_rank": f"LoRA size ({LORA_RANK.low}–{LORA_RANK.high}); 16 is a good balance, higher "
    "learns more detail but makes a bigger file.",
    "wandb_project": "Weights & Biases project for charts and samples (used only when "
    "WANDB_API_KEY is set in the environment).",
    "wandb_save_interval": "Save a checkpoint to W&B every N steps (only with WANDB_API_KEY).",
    "wandb_sample_prompts": "Prompts the trainer renders as sample images in W&B while it trains "
    "(needs WANDB_API_KEY); the trigger word is added to a prompt that lacks it.",
    "wandb_sample_interval": "Render W&B sample images every N steps (only with "
    "WANDB_API_KEY and sample prompts).",
    "caption_dropout_rate": "Share of steps (0–1) trained without the caption, so the "
    "trigger word alone still works; 0.05 is typical.",
    "cache_latents_to_disk": "Cache encoded images on disk instead of memory (true/false); "
    "helps only with very large datasets.",
}


def describe_parameters() -> dict[str, str]:
    """One line per flat key explaining what it does and what is sensible (for people)."""
    return dict(_HELP)


@dataclass(frozen=True)
class Preset:
    """A named set of starting values; `values` uses flat keys (`steps`, `optimizer`, ...)."""

    name: str
    description: str
    values: dict[str, Any] = field(default_factory=dict)


def presets_dir() -> Path:
    """Where the shipped presets are: the wheel's package data, else the repo's `config/presets`."""
    packaged = Path(__file__).resolve().parents[2] / "_data" / "presets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "config" / "presets"


def _preset_values(name: str, data: Any) -> Preset:
    """Read one preset file's content; a broken shipped preset is a packaging bug, said plainly."""
    if not isinstance(data, dict) or not isinstance(data.get("description"), str):
        raise SD35LError(f"Preset file {name}.yaml must have a one-line `description`.")
    unknown = set(data) - {"description", *SECTIONS}
    if unknown:
        raise SD35LError(f"Preset file {name}.yaml has unknown keys: {', '.join(sorted(unknown))}.")
    values: dict[str, Any] = {}
    for section in SECTIONS:
        body = data.get(section) or {}
        if not isinstance(body, dict):
            raise SD35LError(f"Preset file {name}.yaml: `{section}` must be a mapping.")
        for key, value in body.items():
            path = f"{section}.{key}"
            if path not in PATH_TO_FLAT:
                raise SD35LError(f"Preset file {name}.yaml has an unknown setting {path}.")
            values[PATH_TO_FLAT[path]] = value
    return Preset(name=name, description=data["description"].strip(), values=values)


@functools.lru_cache(maxsize=4)
def _load(directory: Path) -> tuple[Preset, ...]:
    import yaml  # only when a preset is named: a run without one does not pay for PyYAML

    found: list[Preset] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SD35LError(f"Preset file {path.name} cannot be read: {exc}.") from None
        found.append(_preset_values(path.stem, data))
    if not found:
        raise SD35LError(f"No presets found in {directory}; the installation is incomplete.")
    return tuple(found)


def load_presets() -> dict[str, Preset]:
    """Every shipped preset by name (beginner, experienced, fast), in file-name order."""
    return {p.name: Preset(p.name, p.description, dict(p.values)) for p in _load(presets_dir())}


def get_preset(name: str) -> Preset:
    """The preset called `name` (case-insensitive), or an `InputError` listing the allowed ones."""
    presets = load_presets()
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in presets:
        allowed = ", ".join(presets)
        raise InputError(
            f"preset: {name!r} is not a preset; choose one of {allowed}.", field="preset"
        )
    return presets[key]
