"""Which captioning model, and how to talk to it, decided by its real input schema.

Why the schema decides: `SD35L_CAPTION_MODEL` may name any vision model. Florence-2 takes a
task (`task_input`, an enum such as "More Detailed Caption"); LLaVA-style models take a free
`prompt`. Reading the version's `Input` schema at run time — as the trainer's is checked
before a training — tells which input carries the prompt and refuses a model that takes no
image, or a Florence task it does not know, before anything is paid for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.core.errors import InputError

MODEL_FIELD = "SD35L_CAPTION_MODEL"
PROMPT_FIELD = "SD35L_CAPTION_PROMPT"
FLORENCE = "lucataco/florence-2-large"
FLORENCE_VERSION = "da53547e17d45b9cfb48174b2f18af8b83ca020fa76db62136bf9c6616762595"
DEFAULT_MODEL = f"{FLORENCE}:{FLORENCE_VERSION}"
LLAVA = "yorickvp/llava-13b"
LLAVA_VERSION = "80537f9eead1a5bfa72d5ac6ea6414379be41d4d4f6679fd776e9535d1eb58bb"
FLORENCE_TASK = "More Detailed Caption"
LLAVA_PROMPT = (
    "Describe this image in one or two sentences for a training caption: the setting, the "
    "light, the clothing and the pose. Do not start with 'The image shows'."
)


@dataclass(frozen=True)
class Published:
    """A model's published run cost: USD per run and its hardware's USD per second."""

    price: Decimal
    gpu_price: Decimal


# From the models' Replicate pages (cost per run as published; hardware price per second).
PUBLISHED: dict[str, Published] = {
    FLORENCE: Published(Decimal("0.0019"), Decimal("0.000725")),  # A40 (Large), ~3 s
    LLAVA: Published(Decimal("0.0042"), Decimal("0.0014")),  # A100 80GB, ~3 s
}


@dataclass(frozen=True)
class Captioner:
    """A resolved model: what to send with each image and how to read its answer."""

    model: str
    version: str
    kind: str  # "task" (Florence-2 style) or "prompt" (LLaVA style)
    prompt: str
    prompt_input: str  # the input name that carries `prompt`

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    def inputs(self, image_uri: str) -> dict[str, Any]:
        return {"image": image_uri, self.prompt_input: self.prompt}


def split_model(setting: str) -> tuple[str, str]:
    """`owner/name[:version]` -> (owner/name, version or "")."""
    model, _, version = setting.strip().partition(":")
    owner, _, name = model.partition("/")
    if not owner or not name or "/" in name or any(c.isspace() for c in setting.strip()):
        raise InputError(
            f"{MODEL_FIELD} must be owner/name or owner/name:version, not {setting[:60]!r}.",
            field=MODEL_FIELD,
        )
    return model, version


def _enum(prop: dict[str, Any]) -> list[str]:
    values = prop.get("enum")
    if isinstance(values, list):
        return [v for v in values if isinstance(v, str)]
    for part in prop.get("allOf", []) if isinstance(prop.get("allOf"), list) else []:
        if isinstance(part, dict) and isinstance(part.get("enum"), list):
            return [v for v in part["enum"] if isinstance(v, str)]
    return []


def from_schema(model: str, version: str, schema: dict[str, Any], prompt: str | None) -> Captioner:
    """Choose the kind from the `Input` schema; refuse what cannot caption an image."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    if "image" not in props:
        raise InputError(
            f"{MODEL_FIELD}: {model} has no `image` input (it takes {', '.join(sorted(props))}); "
            "choose a vision model such as lucataco/florence-2-large.",
            field=MODEL_FIELD,
        )
    if "task_input" in props:
        tasks = _enum(props["task_input"])
        task = (prompt or FLORENCE_TASK).strip()
        if tasks and task not in tasks:
            raise InputError(
                f"{PROMPT_FIELD}: {model} takes a task, one of {', '.join(tasks)}; "
                f"not {task[:60]!r}.",
                field=PROMPT_FIELD,
            )
        return Captioner(model, version, "task", task, "task_input")
    if "prompt" in props:
        return Captioner(model, version, "prompt", (prompt or LLAVA_PROMPT).strip(), "prompt")
    raise InputError(
        f"{MODEL_FIELD}: {model} takes neither a task (`task_input`) nor a `prompt`, so it "
        "cannot be asked for a caption; choose lucataco/florence-2-large or a LLaVA model.",
        field=MODEL_FIELD,
    )
