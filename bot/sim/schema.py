"""The trainer's input schema (as its version's `openapi_schema` shows it) and validation.

Replicate validates a training's `input` against `components.schemas.TrainingInput` before it
creates anything and answers 422 with `invalid_fields`; the simulator does the same with the
inputs listed in docs/trainer.md, so clients meet the same refusals offline.
"""

from __future__ import annotations

from typing import Any

SECRET_INPUTS = ("wandb_api_key", "hf_token")
REDACTED = "**********"


def _prop(kind: str, order: int, text: str, **extra: Any) -> dict[str, Any]:
    """One cog-style property; `text` is "name|description" (cog derives the title from name)."""
    name, _, description = text.partition("|")
    title = " ".join(part.capitalize() for part in name.split("_"))
    return {"type": kind, "title": title, "x-order": order, "description": description, **extra}


def _secret(order: int, text: str) -> dict[str, Any]:
    """A `cog.Secret` input: a password-format string the API never shows back."""
    prop = _prop("string", order, text, format="password", writeOnly=True)
    prop["x-cog-secret"] = True
    return prop


TRAINING_INPUT: dict[str, Any] = {
    "type": "object",
    "title": "TrainingInput",
    "required": ["input_images"],
    "properties": {
        "input_images": _prop(
            "string", 0, "input_images|A zip file containing the images to train on.", format="uri"
        ),
        "trigger_word": _prop(
            "string", 1, "trigger_word|The word that triggers the concept.", default="TOK"
        ),
        "steps": _prop(
            "integer",
            2,
            "steps|Number of training steps. Recommended range 700-4000.",
            default=700,
            minimum=3,
            maximum=6000,
        ),
        "learning_rate": _prop("number", 3, "learning_rate|Learning rate.", default=0.0004),
        "batch_size": _prop("integer", 4, "batch_size|Batch size.", default=1),
        "resolution": _prop(
            "string", 5, "resolution|Image resolutions, comma separated.", default="512,768"
        ),
        "lora_rank": _prop(
            "integer", 6, "lora_rank|LoRA rank (alpha = rank).", default=16, minimum=1, maximum=128
        ),
        "caption_dropout_rate": _prop(
            "number",
            7,
            "caption_dropout_rate|Share of captions dropped during training.",
            default=0.05,
            minimum=0,
            maximum=1,
        ),
        "optimizer": _prop("string", 8, "optimizer|Optimizer to use.", default="adamw8bit"),
        "cache_latents_to_disk": _prop(
            "boolean", 9, "cache_latents_to_disk|Cache latents to disk.", default=False
        ),
        "wandb_api_key": _secret(10, "wandb_api_key|Weights and Biases API key."),
        "wandb_project": _prop(
            "string", 11, "wandb_project|W&B project.", default="sd3.5_train_replicate"
        ),
        "wandb_run": _prop("string", 12, "wandb_run|W&B run name."),
        "wandb_entity": _prop("string", 13, "wandb_entity|W&B entity."),
        "wandb_sample_interval": _prop(
            "integer", 14, "wandb_sample_interval|Steps between samples.", default=100, minimum=1
        ),
        "wandb_sample_prompts": _prop(
            "string", 15, "wandb_sample_prompts|Newline-separated sample prompts."
        ),
        "wandb_save_interval": _prop(
            "integer", 16, "wandb_save_interval|Steps between saves.", default=100, minimum=1
        ),
        "hf_repo_id": _prop("string", 17, "hf_repo_id|Hugging Face repository to push to."),
        "hf_token": _secret(18, "hf_token|Hugging Face token with write access."),
        "layers_to_optimize_regex": _prop(
            "string", 19, "layers_to_optimize_regex|Regex of the layers to train."
        ),
    },
}


def cog_schema(schemas: dict[str, Any]) -> dict[str, Any]:
    """A version's `openapi_schema` as Cog publishes it, around its component `schemas`."""
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {"schemas": schemas},
    }


def trainer_openapi_schema() -> dict[str, Any]:
    """A cog-style `openapi_schema` for the trainer's version (only the parts clients read)."""
    return cog_schema(
        {
            "Input": {"type": "object", "title": "Input", "properties": {}},
            "Output": {"type": "string", "title": "Output", "format": "uri"},
            "TrainingInput": TRAINING_INPUT,
            "TrainingOutput": {
                "type": "object",
                "title": "TrainingOutput",
                "required": ["weights"],
                "properties": {"weights": {"type": "string", "title": "Weights", "format": "uri"}},
            },
        }
    )


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return kind == "number" or isinstance(value, int) or float(value).is_integer()


def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value, as Replicate's validation errors name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _field(kind: str, field: str, description: str) -> dict[str, str]:
    return {"type": kind, "field": field, "description": description}


def validate_input(inputs: dict[str, Any]) -> list[dict[str, str]]:
    """Replicate-style `invalid_fields` for a training input (empty when it is valid)."""
    props: dict[str, Any] = TRAINING_INPUT["properties"]
    problems: list[dict[str, str]] = []
    for name in TRAINING_INPUT["required"]:
        if name not in inputs:
            problems.append(_field("required", "input", f"{name} is required"))
    for name, value in inputs.items():
        spec = props.get(name)
        if spec is None:
            problems.append(
                _field(
                    "additional_property_not_allowed",
                    "input",
                    f"Additional property {name} is not allowed",
                )
            )
            continue
        if not _type_ok(spec["type"], value):
            problems.append(
                _field(
                    "invalid_type",
                    f"input.{name}",
                    f"Invalid type. Expected: {spec['type']}, given: {json_type_name(value)}",
                )
            )
            continue
        if "minimum" in spec and value < spec["minimum"]:
            problems.append(
                _field(
                    "number_gte",
                    f"input.{name}",
                    f"Must be greater than or equal to {spec['minimum']}",
                )
            )
        if "maximum" in spec and value > spec["maximum"]:
            problems.append(
                _field(
                    "number_lte",
                    f"input.{name}",
                    f"Must be less than or equal to {spec['maximum']}",
                )
            )
        if spec.get("format") == "uri" and "://" not in value:
            problems.append(_field("format", f"input.{name}", "Does not match format 'uri'"))
    return problems


def redact_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """The input as Replicate shows it back: secret inputs replaced, never echoed."""
    return {k: (REDACTED if k in SECRET_INPUTS and v else v) for k, v in inputs.items()}
