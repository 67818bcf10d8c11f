"""Writing configs: the commented template people fill in, and a reusable export of a config.

Both are written by hand (not `yaml.dump` of a dict) so the layout is the handoff's, in a fixed
order, with one comment per setting taken from the same catalog the validator uses. The
template's three identity values contain CHANGE_ME, which validation refuses by name, so a
template submitted unchanged fails before any money is spent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.core.config.presets import (
    DEFAULTS,
    FLAT_TO_PATH,
    PATH_TO_FLAT,
    SECTIONS,
    describe_parameters,
)
from bot.core.config.presets import get_preset as _get_preset

if TYPE_CHECKING:
    from bot.core.config.model import TrainingConfig

TEMPLATE_VALUES: dict[str, str] = {
    "dataset_url": "https://example.com/CHANGE_ME.zip",
    "destination": "your-username/CHANGE_ME",
    "trigger_word": "CHANGE_ME",
}
SAMPLE_DATASET_PATH = "my-photos"
_SECTION_HELP = {
    "training": "How the LoRA is trained.",
    "wandb": "Weights & Biases logging; used only when WANDB_API_KEY is set in the environment.",
    "advanced": "Rarely changed.",
}


def _scalar(value: Any) -> str:
    """One YAML scalar that reads back as the same type (strings always double-quoted)."""
    if isinstance(value, str):
        # JSON's escapes are YAML's, except that JSON writes a character beyond U+FFFF as a
        # surrogate pair, which YAML reads back as two broken characters: use YAML's \U form.
        quoted = json.dumps(value, ensure_ascii=False)
        return "".join(
            ch
            if ord(ch) < 0x80
            else f"\\u{ord(ch):04x}"
            if ord(ch) <= 0xFFFF
            else f"\\U{ord(ch):08x}"
            for ch in quoted
        )
    import yaml  # only when a template or export is written

    return str(yaml.safe_dump(value)).split("\n", 1)[0]


def _lines(values: dict[str, Any], *, comments: bool) -> list[str]:
    """`values` by dotted path -> YAML lines in the handoff's order, optionally commented."""
    help_text = describe_parameters()
    out: list[str] = []

    def comment(path: str, indent: str) -> None:
        if comments:
            out.append(f"{indent}# {help_text[PATH_TO_FLAT[path]]}")

    for path in FLAT_TO_PATH.values():
        if "." not in path and path in values:
            comment(path, "")
            out.append(f"{path}: {_scalar(values[path])}")
            if path == "dataset_url" and comments and "dataset_path" not in values:
                # The other way to give the dataset, shown where the choice is made.
                alternative = help_text["dataset_path"]
                out.append(
                    f"# Or, instead of dataset_url, a {alternative[0].lower()}{alternative[1:]}"
                )
                out.append(f"# dataset_path: {_scalar(SAMPLE_DATASET_PATH)}")
    for section in SECTIONS:
        keys = [p for p in FLAT_TO_PATH.values() if p.startswith(section + ".") and p in values]
        out.append("")
        if comments:
            out.append(f"# {_SECTION_HELP[section]}")
        out.append(f"{section}:")
        for path in keys:
            comment(path, "  ")
            out.append(f"  {path.partition('.')[2]}: {_scalar(values[path])}")
    return out


def render_template(preset: str | None = None) -> str:
    """A commented YAML config to fill in: the preset's values (or the defaults) spelled out."""
    values: dict[str, Any] = dict(TEMPLATE_VALUES)
    chosen = _get_preset(preset) if preset is not None else None
    if chosen is not None:
        values["preset"] = chosen.name
    values.update(DEFAULTS)
    if chosen is not None:
        values.update({FLAT_TO_PATH[k]: v for k, v in chosen.values.items()})
    title = f"preset {chosen.name}: {chosen.description}" if chosen else "built-in defaults"
    header = [
        "# sd35l-trainer training config (" + title + ")",
        "# 1. Replace the three CHANGE_ME values below.",
        "# 2. Run: sd35l-trainer train --config this-file.yaml",
        "#    or attach this file to /train in Discord.",
        "# Command-line options override this file; this file overrides the preset.",
        "# Never put tokens or keys here: set WANDB_API_KEY in the environment instead.",
        "",
    ]
    return "\n".join(header + _lines(values, comments=True)) + "\n"


def config_to_yaml(config: TrainingConfig) -> str:
    """The config in the handoff's layout, every value explicit, ready to share and reuse."""
    data = config.model_dump()
    values: dict[str, Any] = {}
    for path in FLAT_TO_PATH.values():
        section, _, key = path.partition(".")
        value = data[section][key] if key else data[section]
        if value is not None:
            values[path] = value
    header = [
        "# sd35l-trainer training config; reuse with: sd35l-trainer train --config FILE",
        "# (or attach it to /train). Secrets are never included.",
    ]
    return "\n".join(header + _lines(values, comments=False)) + "\n"
