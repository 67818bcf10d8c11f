"""Writes docs/configuration.md from the code's own definitions (settings, config keys, limits,
presets, every CLI command and option), so the reference cannot drift from the product.

    .venv/bin/python scripts/configuration_doc.py          # rewrite docs/configuration.md
    .venv/bin/python scripts/configuration_doc.py --check  # exit 1 when the file is stale

tests/test_docs.py runs the check, so a change to an option, default or limit without
regenerating the page fails the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from pydantic import AliasChoices

from bot.cli import cli
from bot.core.config.presets import DEFAULTS, FLAT_TO_PATH, describe_parameters, load_presets
from bot.core.limits import BATCH_SIZE, LEARNING_RATE_MAX, LORA_RANK, STEPS
from bot.core.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

# What each environment variable means; a variable the settings gain without a line here stops
# the generator (and so the test), so none goes undocumented.
ENV_MEANING = {
    "REPLICATE_API_TOKEN": "Replicate API token (surrounding spaces and newlines are removed); "
    "never printed, logged or stored.",
    "REPLICATE_BASE_URL": "Replicate API root without `/v1` (point it at `sd35l-trainer "
    "simulate` to rehearse).",
    "DISCORD_TOKEN": "The Discord bot token (the bot only).",
    "SD35L_DATABASE": "SQLite file of the bot.",
    "SD35L_GUILD_IDS": "Comma-separated server (guild) ids to sync slash commands to at "
    "start; empty = global.",
    "SD35L_POLL_INTERVAL": "Seconds between status polls of active trainings (`--wait` and "
    "`follow` poll at most every 5 s).",
    "SD35L_ALLOWED_ROLES": "Role ids or names that may start trainings; empty = everyone.",
    "SD35L_MANAGER_ROLES": "Role ids or names that may cancel anyone's training.",
    "SD35L_MAX_ACTIVE_PER_USER": "Trainings one Discord user may have running at once.",
    "SD35L_ALLOW_PRIVATE_URLS": "`1` lets dataset URLs point at loopback/private addresses "
    "(rehearsals with a local file server).",
    "SD35L_DEFAULT_DESTINATION": "Destination used when none is given.",
    "SD35L_CONFIG_DIR": "Your own folder; `defaults.yaml` there fills in what you do not give.",
    "SD35L_TRAINER": "Trainer as `owner/name:version`.",
    "WANDB_API_KEY": "Optional Weights & Biases key, sent only as the trainer's secret input.",
    "SD35L_POLICY_STEPS": f"The team's allowed steps range `low-high`, within {STEPS}.",
    "SD35L_POLICY_BATCH_SIZE": f"The team's allowed batch size range, within {BATCH_SIZE}.",
    "SD35L_GPU_PRICE": "USD per GPU second, for estimates and costs (H100 by default).",
    "SD35L_MAX_DATASET_MB": "Most a dataset check downloads when the host has no Range support.",
    "SD35L_MAX_CHECKS": "Dataset checks (and captioning runs) the bot runs at once; more wait "
    "in line, told their place; empty = two per core, at most one per 512 MB of memory, at "
    "most 4.",
    "SD35L_POLICY_MIN_IMAGES": "Team policy: refuse datasets with fewer usable images (the trainer "
    "itself trains on 1); 0 turns it off.",
    "SD35L_BUDGET_USER_MONTHLY": "USD one Discord user may spend per calendar month (UTC); "
    "empty = no cap.",
    "SD35L_BUDGET_TEAM_MONTHLY": "USD the whole bot may spend per calendar month (UTC); "
    "empty = no cap.",
    "SD35L_APPROVAL_ABOVE": "USD: a training whose high estimate is above this needs a "
    "manager's approval in Discord; empty = never.",
    "SD35L_USAGE_OPEN": "`1` lets every member see everyone's spend in `/usage`; `0`: only "
    "managers do, others see the team totals and themselves.",
    "SD35L_CAPTION_MODEL": "Captioning model on Replicate, `owner/name` or `owner/name:version`; "
    "its input schema decides how it is asked (Florence-2's `task_input`, or a `prompt`).",
    "SD35L_CAPTION_PROMPT": "The task (Florence-2: e.g. `More Detailed Caption`) or prompt "
    "(LLaVA-style) sent with each image; empty = the model's detailed-caption task.",
    "SD35L_CAPTION_PRICE": "USD per caption for the estimate until finished caption runs "
    "calibrate it; empty = the model's published figure.",
    "SD35L_CAPTION_FORBIDDEN": "Comma-separated words or phrases removed from every written "
    "caption (the team's list); empty = none.",
}

ALLOWED = {
    "dataset_url": "a direct `https://` link to a `.zip`; share pages are refused",
    "dataset_path": "a local folder or `.zip` (CLI only; relative to the config file)",
    "destination": "`owner/model-name`, lower-case model name",
    "trigger_word": "one rare word, no spaces",
    "preset": ", ".join(load_presets()),
    "steps": f"{STEPS} (trainer), narrowed by SD35L_POLICY_STEPS",
    "batch_size": f"{BATCH_SIZE}, narrowed by SD35L_POLICY_BATCH_SIZE",
    "optimizer": "prodigy, adamw8bit",
    "learning_rate": f"above 0, at most {LEARNING_RATE_MAX:g}",
    "resolution": "comma-separated sizes, each 256-2048 and a multiple of 64",
    "lora_rank": f"{LORA_RANK}",
    "wandb_project": "a W&B project name",
    "wandb_save_interval": "1-100000",
    "wandb_sample_interval": "1-100000",
    "wandb_sample_prompts": "up to 8 prompts (a list); needs WANDB_API_KEY",
    "caption_dropout_rate": "0-1",
    "cache_latents_to_disk": "true, false",
}


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _env_rows() -> list[str]:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str)
        name = alias.choices[0]
        if name not in ENV_MEANING:
            raise SystemExit(f"{name} has no meaning in scripts/configuration_doc.py")
        default: Any = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, tuple):
            default = "-".join(str(part) for part in default)
        elif isinstance(default, list):
            default = ",".join(default) or "(empty)"
        elif default is None:
            default = "(none)"
        elif isinstance(default, bool):
            default = "1" if default else "0"
        rows.append(f"| `{name}` | `{_cell(default)}` | {_cell(ENV_MEANING[name])} |")
    return rows


def _config_rows() -> list[str]:
    help_text = describe_parameters()
    rows = [
        "| key in the file | CLI option | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    options = {
        p.name: p.opts[0] for p in cli.commands["train"].params if isinstance(p, click.Option)
    }
    for flat, path in FLAT_TO_PATH.items():
        option = f"`{options[flat]}`" if flat in options else ""
        default = DEFAULTS.get(path)
        shown = "(required)" if path in ("destination", "trigger_word") else ""
        if path in ("dataset_url", "dataset_path"):
            shown = "(one of the two)"
        if default is not None:
            shown = f"`{default}`" if default != () else "(none)"
        rows.append(
            f"| `{path}` | {option} | {shown} | {_cell(ALLOWED[flat])} | {_cell(help_text[flat])} |"
        )
    return rows


def _preset_rows() -> list[str]:
    rows = ["| preset | values | description |", "|---|---|---|"]
    for name, preset in load_presets().items():
        values = ", ".join(f"{FLAT_TO_PATH[k]}={v}" for k, v in preset.values.items())
        rows.append(f"| `{name}` | {values} | {_cell(preset.description)} |")
    return rows


def _option_row(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return f"| `{param.human_readable_name}` | argument | required |"
    assert isinstance(param, click.Option)
    names = ", ".join(f"`{n}`" for n in (*param.opts, *param.secondary_opts))
    kind = "flag" if param.is_flag else param.type.name
    if isinstance(param.type, click.Choice):
        kind = " \\| ".join(str(c) for c in param.type.choices)
    default: Any = param.default
    if default is None or default is False or repr(default).startswith("Sentinel"):
        default = ""  # click's "no default" marker
    helped = _cell(param.help)
    return f"| {names} | {kind} | {_cell(default)} {'- ' if default else ''}{helped} |"


def _command_sections() -> list[str]:
    out: list[str] = []
    for name in sorted(cli.commands):
        command = cli.commands[name]
        out += ["", f"### `sd35l-trainer {name}`", "", _cell(command.help).split("  ")[0], ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            out += ["| option | type | default - meaning |", "|---|---|---|"]
            out += [_option_row(p) for p in params]
    return out


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the code by `scripts/configuration_doc.py`; a test fails when it is stale.",
        "",
        "## Where values come from",
        "",
        "Command-line option > config file > preset > `SD35L_DEFAULT_DESTINATION` (destination "
        "only) > your `defaults.yaml` in `SD35L_CONFIG_DIR` > built-in default. Without a "
        "preset the built-in training values are the `beginner` preset's. Every problem in a "
        "config is reported at once, each naming its key.",
        "",
        "## Config file keys (YAML or JSON)",
        "",
        *_config_rows(),
        "",
        "Unknown keys are errors that name the key; secrets (tokens, keys) are refused in files.",
        "",
        "## Presets",
        "",
        *_preset_rows(),
        "",
        "## Environment variables (a `.env` file in the working directory is read too)",
        "",
        *_env_rows(),
        "",
        "## Commands and options",
        "",
        "Exit status: 0 success; 2 invalid input (the message names the field); 1 anything else "
        "that failed (API error, network, a training that ended failed, canceled or aborted under "
        "`--wait` or `follow`); 130 after Ctrl-C.",
        *_command_sections(),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print("docs/configuration.md is stale; run scripts/configuration_doc.py")
            raise SystemExit(1)
        return
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
