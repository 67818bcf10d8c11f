"""The training config: its layout, its checks, its layering, and the trainer's real inputs.

Decided once for both front ends, before any money is spent: values are layered (`LAYERS`:
options > file > preset > env > user defaults > default) and remember where they came from;
every problem is reported at once, naming its field; the result maps onto exactly the trainer's
inputs (docs/trainer.md): never Flux-only ones, never secrets. Field rules live in `fields`,
file parsing in `parse`, the template and YAML export in `template`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from bot.core.config import fields
from bot.core.config.inputs import secret_inputs, to_trainer_input
from bot.core.config.parse import flatten_nested, load_config_file, parse_config_text
from bot.core.config.presets import (
    DEFAULTS,
    FLAT_TO_PATH,
    OPTIMIZER_DEFAULT_LR,
    OPTIMIZERS,
    PATHS,
    REQUIRED,
    Preset,
    describe_parameters,
    get_preset,
    load_presets,
)
from bot.core.config.samples import check_samples
from bot.core.config.template import config_to_yaml, render_template
from bot.core.errors import InputError
from bot.core.limits import BATCH_SIZE, LEARNING_RATE_MAX, LORA_RANK, STEPS
from bot.core.secrets import looks_like_secret_value
from bot.core.settings import Settings

__all__ = [
    "LAYERS", "OPTIMIZERS", "USER_DEFAULTS_FILE", "AdvancedSection", "Preset", "ResolvedConfig",
    "TrainingConfig", "TrainingSection", "WandbSection", "config_to_yaml",
    "describe_parameters", "flat_values", "load_config_file", "load_presets",
    "load_user_defaults", "parse_config_text", "render_template", "resolve_config",
    "secret_inputs", "to_trainer_input",
]  # fmt: skip

# Highest priority first; `origins` values are these names.
LAYERS: tuple[str, ...] = ("cli", "file", "preset", "env", "user", "default")
# The CLI user's own defaults (same layout as a config file), below everything they give.
USER_DEFAULTS_FILE = "defaults.yaml"


def _settings(info: ValidationInfo) -> Settings | None:
    context = info.context
    return context.get("settings") if isinstance(context, dict) else None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainingSection(_Section):
    """What the optimizer does; the ranges combine the trainer's limits and the team's policy."""

    steps: int = DEFAULTS["training.steps"]
    batch_size: int = DEFAULTS["training.batch_size"]
    optimizer: str = DEFAULTS["training.optimizer"]
    learning_rate: float = DEFAULTS["training.learning_rate"]
    resolution: str = DEFAULTS["training.resolution"]
    lora_rank: int = DEFAULTS["training.lora_rank"]

    _ints = field_validator("steps", "batch_size", "lora_rank", mode="before")(fields.whole_number)
    _float = field_validator("learning_rate", mode="before")(fields.number)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: int, info: ValidationInfo) -> int:
        settings = _settings(info)
        policy = settings.policy_steps if settings else None
        return fields.in_range(value, STEPS, policy, "SD35L_POLICY_STEPS")

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, value: int, info: ValidationInfo) -> int:
        settings = _settings(info)
        policy = settings.policy_batch_size if settings else None
        return fields.in_range(value, BATCH_SIZE, policy, "SD35L_POLICY_BATCH_SIZE")

    @field_validator("lora_rank")
    @classmethod
    def _rank(cls, value: int) -> int:
        return fields.in_range(value, LORA_RANK, None, "")

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer(cls, value: Any) -> Any:
        name = value.strip().lower() if isinstance(value, str) else value
        if isinstance(name, str) and name not in OPTIMIZERS:
            raise ValueError(
                f"{fields.show(value)} is not offered; choose {' or '.join(OPTIMIZERS)}"
            )
        return name

    @field_validator("learning_rate")
    @classmethod
    def _lr(cls, value: float) -> float:
        if not 0 < value <= LEARNING_RATE_MAX:
            raise ValueError(
                f"{value:g} is not allowed; use a number above 0 and at most {LEARNING_RATE_MAX:g}"
            )
        return value

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution(cls, value: Any) -> Any:
        return fields.resolution(value)


class WandbSection(_Section):
    """Weights & Biases settings; they matter only when WANDB_API_KEY is in the environment."""

    project: str = DEFAULTS["wandb.project"]
    save_interval: int = DEFAULTS["wandb.save_interval"]
    sample_interval: int = DEFAULTS["wandb.sample_interval"]
    sample_prompts: tuple[str, ...] = DEFAULTS["wandb.sample_prompts"]

    _prompts = field_validator("sample_prompts", mode="before")(fields.sample_prompts)
    _ints = field_validator("save_interval", "sample_interval", mode="before")(fields.whole_number)

    @field_validator("save_interval", "sample_interval")
    @classmethod
    def _interval(cls, value: int) -> int:
        return fields.in_range(value, (1, 100_000), None, "")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        return fields.wandb_project(value)


class AdvancedSection(_Section):
    """Rarely changed trainer knobs."""

    caption_dropout_rate: float = DEFAULTS["advanced.caption_dropout_rate"]
    cache_latents_to_disk: bool = DEFAULTS["advanced.cache_latents_to_disk"]

    _float = field_validator("caption_dropout_rate", mode="before")(fields.number)

    @field_validator("caption_dropout_rate")
    @classmethod
    def _dropout(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value:g} is not allowed; use a share from 0 to 1 (0.05 is typical)")
        return value


class TrainingConfig(_Section):
    """The handoff's config layout; the three identity fields may be unset only in drafts."""

    dataset_url: str | None = None
    dataset_path: str | None = None
    destination: str | None = None
    trigger_word: str | None = None
    preset: str | None = None
    training: TrainingSection = Field(default_factory=TrainingSection)
    wandb: WandbSection = Field(default_factory=WandbSection)
    advanced: AdvancedSection = Field(default_factory=AdvancedSection)

    _url = field_validator("dataset_url")(fields.dataset_url)
    _path = field_validator("dataset_path")(fields.dataset_path)
    _dest = field_validator("destination")(fields.destination)
    _trigger = field_validator("trigger_word")(fields.trigger_word)

    @field_validator("preset", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        return get_preset(value).name if isinstance(value, str) else value


@dataclass
class ResolvedConfig:
    """A checked config plus, per dotted path, the layer it came from, and non-fatal advice."""

    config: TrainingConfig
    origins: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def flat_values(config: TrainingConfig) -> dict[str, Any]:
    """The config as flat keys (`steps`, `wandb_project`, ...) for tables and forms."""
    data = config.model_dump()
    out: dict[str, Any] = {}
    for flat, path in FLAT_TO_PATH.items():
        section, _, key = path.partition(".")
        out[flat] = data[section][key] if key else data[section]
    return out


def _flatten_cli(cli: Mapping[str, Any]) -> dict[str, Any]:
    """CLI/slash-command values by dotted path; `None` means the option was not given."""
    out: dict[str, Any] = {}
    for key, value in cli.items():
        path = FLAT_TO_PATH.get(key, key)
        if path not in PATHS:
            hint = fields.suggest(str(key), list(FLAT_TO_PATH))
            raise InputError(
                f"Unknown option {key}{hint}; the options are {', '.join(FLAT_TO_PATH)}.",
                field=str(key),
            )
        if value is None:
            continue
        if isinstance(value, str) and looks_like_secret_value(value):
            raise InputError(fields.secret_message(path), field=path)
        out[path] = value
    return out


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in values.items():
        section, _, key = path.partition(".")
        if key:
            nested.setdefault(section, {})[key] = value
        else:
            nested[section] = value
    return nested


def _input_error(
    exc: ValidationError | None,
    origins: Mapping[str, str],
    preset: str | None,
    missing: tuple[str, ...] = (),
    unknown: Sequence[InputError] = (),
) -> InputError:
    """Every problem at once (missing values, then pydantic's list), each naming its path, so
    a config with three mistakes takes one run to fix, not three; `field` is the first."""
    errors = exc.errors(include_url=False) if exc is not None else []
    flagged = {".".join(str(part) for part in error["loc"]) for error in errors}
    # An empty value given on purpose ("") is one problem, said by its validator, not two.
    problems = [(e.field or "config", e.message.rstrip(".")) for e in unknown]
    problems += [
        (path, fields.missing_message(path).rstrip(".")) for path in missing if path not in flagged
    ]
    wheres = {
        "env": " (from SD35L_DEFAULT_DESTINATION)",
        "user": f" (from your {USER_DEFAULTS_FILE} in SD35L_CONFIG_DIR)",
        "preset": f" (from preset {preset})",
    }
    for error in errors:
        path = ".".join(str(part) for part in error["loc"]) or "config"
        where = wheres.get(origins.get(path, ""), "")
        problems.append((path, f"{path}: {fields.describe_error(error)}{where}"))
    if len(problems) == 1:
        return InputError(f"{problems[0][1]}.", field=problems[0][0])
    listed = "".join(f"\n  - {text}." for _path, text in problems)
    return InputError(f"The config has {len(problems)} problems:{listed}", field=problems[0][0])


def _pick_layers(
    layers: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in PATHS:
        for layer in LAYERS:
            if path in layers[layer]:
                values[path] = layers[layer][path]
                origins[path] = layer
                break
        else:
            origins[path] = "default"
    return values, origins


def _adjust(values: dict[str, Any], origins: dict[str, str], settings: Settings) -> list[str]:
    """Fix values nobody chose so they fit the chosen optimizer and the team's policy."""
    notes: list[str] = []
    optimizer = values.get("training.optimizer")
    opt_name = optimizer.strip().lower() if isinstance(optimizer, str) else optimizer
    lr_origin, opt_origin = origins["training.learning_rate"], origins["training.optimizer"]
    if (
        opt_name in OPTIMIZER_DEFAULT_LR
        and lr_origin in ("preset", "default")
        and LAYERS.index(opt_origin) < LAYERS.index(lr_origin)
    ):
        # The preset's/default learning rate was meant for another optimizer than the one asked for.
        values["training.learning_rate"] = OPTIMIZER_DEFAULT_LR[opt_name]
        origins["training.learning_rate"] = "default"
    for path, policy, env in (
        ("training.steps", settings.policy_steps, "SD35L_POLICY_STEPS"),
        ("training.batch_size", settings.policy_batch_size, "SD35L_POLICY_BATCH_SIZE"),
    ):
        value = values.get(path)
        if origins[path] in ("preset", "default") and isinstance(value, int):
            clamped = min(max(value, policy[0]), policy[1])
            if clamped != value:
                values[path] = clamped
                notes.append(
                    f"{path}: the {origins[path]} value {value} is outside this team's "
                    f"{policy[0]}–{policy[1]} ({env}), so {clamped} is used."
                )
    return notes


def resolve_config(
    *,
    cli: Mapping[str, Any] | None = None,
    file: Mapping[str, Any] | None = None,
    settings: Settings,
    require_all: bool = True,
    user: Mapping[str, Any] | None = None,
    file_source: str = "config file",
) -> ResolvedConfig:
    """Layer the values, check them all, and say where each came from.

    Priority: `cli` (flat keys or dotted paths; `None` = not given) > `file` (the handoff's
    nested layout) > the chosen preset > SD35L_DEFAULT_DESTINATION (destination only) > `user`
    (the CLI user's defaults.yaml, see `load_user_defaults`) > built-in defaults. Raises one
    `InputError` listing every bad field (its `field` is the first).
    """
    cli_values = _flatten_cli(cli or {})
    unknown: list[InputError] = []
    file_values = flatten_nested(file or {}, source=file_source, unknown=unknown)
    user_values = flatten_nested(user or {}, source=USER_DEFAULTS_FILE)
    preset_name = cli_values.get("preset", file_values.get("preset", user_values.get("preset")))
    preset_values: dict[str, Any] = {}
    preset: Preset | None = None
    if preset_name is not None:
        if not isinstance(preset_name, str):
            raise InputError(
                f"preset: {fields.show(preset_name)} is not a preset name; choose one of "
                f"{', '.join(load_presets())}.",
                field="preset",
            )
        preset = get_preset(preset_name)
        preset_values = {FLAT_TO_PATH[k]: v for k, v in preset.values.items()}
    env_values: dict[str, Any] = {}
    if settings.default_destination and settings.default_destination.strip():
        env_values["destination"] = settings.default_destination.strip()
    layers = {
        "cli": cli_values,
        "file": file_values,
        "preset": preset_values,
        "env": env_values,
        "user": user_values,
        "default": DEFAULTS,
    }
    values, origins = _pick_layers(layers)
    warnings = _adjust(values, origins, settings)
    fields.one_dataset(values, origins)
    given = {p for p in REQUIRED if values.get(p) not in (None, "")}
    if values.get("dataset_path") not in (None, ""):
        given.add("dataset_url")  # a local dataset stands in for the URL
    missing = tuple(p for p in REQUIRED if require_all and p not in given)
    preset_shown = preset.name if preset else None
    try:
        config = TrainingConfig.model_validate(_nest(values), context={"settings": settings})
    except ValidationError as exc:
        raise _input_error(exc, origins, preset_shown, missing, unknown) from None
    if missing or unknown:
        raise _input_error(None, origins, preset_shown, missing, unknown)
    check_samples(config, settings)
    warnings.extend(fields.advice(config))
    return ResolvedConfig(config=config, origins=origins, warnings=warnings)


def load_user_defaults(settings: Settings) -> dict[str, Any]:
    """The CLI user's saved defaults: `$SD35L_CONFIG_DIR/defaults.yaml`, checked like any
    config file (unknown keys and secrets refused); none when the file does not exist."""
    path = settings.config_path() / USER_DEFAULTS_FILE
    if not path.exists():
        return {}
    return load_config_file(path, source=str(path))


def load_config(path: Path, *, settings: Settings, require_all: bool = True) -> ResolvedConfig:
    """Convenience: read a config file and resolve it with no CLI overrides."""
    return resolve_config(file=load_config_file(path), settings=settings, require_all=require_all)
