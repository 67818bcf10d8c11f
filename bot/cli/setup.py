"""`init-config` and `interactive`: getting a beginner from nothing to a valid config file.

`interactive` asks each required value, explains every parameter in one line, validates each
answer through the same `resolve_config` the `train` command uses (so the rules live in one
place), writes the YAML, and can hand the file to the `train` path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli import _common
from bot.cli._common import echo
from bot.cli.train import TrainRequest, run_train
from bot.core.errors import InputError, SD35LError

if TYPE_CHECKING:
    from bot.core.config.model import ResolvedConfig
    from bot.core.settings import Settings

REQUIRED = ("dataset_url", "destination", "trigger_word")
TUNABLE: tuple[tuple[str, str, type], ...] = (
    ("steps", "training.steps", int),
    ("batch_size", "training.batch_size", int),
    ("optimizer", "training.optimizer", str),
    ("learning_rate", "training.learning_rate", float),
    ("resolution", "training.resolution", str),
    ("lora_rank", "training.lora_rank", int),
)
LABELS = {
    "dataset_url": "Dataset ZIP URL",
    "destination": "Destination model (owner/name)",
    "trigger_word": "Trigger word",
}
DEFAULT_FILE = "sd35l-config.yaml"


def _refuse_existing(path: Path, option: str) -> None:

    if path.exists():
        raise InputError(
            f"{path} already exists; choose another {option} or remove the file first.",
            field=option.lstrip("-"),
        )


@click.command("init-config")
@click.option("--preset", help="Start from this preset (beginner, experienced, fast).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the template to this file instead of printing it.",
)
def init_config(preset: str | None, output: Path | None) -> None:
    """Print (or write) a commented config template to fill in."""
    from bot.core.config.model import render_template

    text = render_template(preset)
    if output is None:
        echo(text, nl=not text.endswith("\n"))
        return
    _refuse_existing(output, "--output")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"Cannot write {output} ({exc.strerror or exc}); choose another --output.",
            field="output",
        ) from None
    echo(f"Wrote {output}. Fill it in, then check it with:")
    echo(f"  sd35l-trainer train --config {output} --dry-run")


def _resolve(values: dict[str, Any], settings: Settings, *, complete: bool) -> ResolvedConfig:
    from bot.core.config.model import load_user_defaults, resolve_config

    user = load_user_defaults(settings)
    return resolve_config(cli=values, settings=settings, require_all=complete, user=user)


def _ask_valid(
    key: str,
    label: str,
    values: dict[str, Any],
    settings: Settings,
    *,
    kind: type = str,
    default: Any = None,
) -> Any:
    """Prompt until the answer passes validation; each refusal shows the one-sentence reason."""

    while True:
        answer = click.prompt(label, type=kind, default=default)
        if isinstance(answer, str):
            answer = answer.strip()
        try:
            _resolve({**values, key: answer}, settings, complete=False)
        except InputError as exc:
            echo(f"  {exc}")
            continue
        if key == "dataset_url" and not _dataset_usable(answer, settings):
            continue
        return answer


def _dataset_usable(url: str, settings: Settings) -> bool:
    """Check the link at its prompt, so a 404 or a share page is found now rather than after
    every other question; the full report is shown when something is wrong."""
    from bot.cli import render

    _common.import_pillow()
    from bot.core.dataset.check import inspect_dataset

    echo("  Checking the dataset...")
    try:
        report = _common.run(lambda: inspect_dataset(url, settings=settings))
    except SD35LError as exc:
        echo(f"  {exc}")
        return False
    if report.ok:
        echo("  Dataset check: OK.")
        return True
    echo(render.dataset_report(report))
    echo("  Fix the link or the ZIP, then give the link again.")
    return False


def _choose_preset() -> str | None:
    from bot.core.config.model import load_presets

    presets = load_presets()
    if not presets:
        return None
    echo("Presets bundle good values for the training; you can still change them.")
    for name, preset in presets.items():
        echo(f"  {name}: {getattr(preset, 'description', '')}")
    default = "beginner" if "beginner" in presets else next(iter(presets))
    choice: str = click.prompt("Preset", type=click.Choice(list(presets)), default=default)
    return choice


def _path_of(resolved: ResolvedConfig, dotted: str) -> Any:
    node: Any = resolved.config
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


def _save(resolved: ResolvedConfig) -> Path:
    from bot.core.config.model import config_to_yaml

    while True:
        path = Path(click.prompt("Save the config as", default=DEFAULT_FILE)).expanduser()
        if path.is_dir():
            echo(f"  {path} is a directory; give a file name such as {DEFAULT_FILE}.")
            continue
        if path.exists() and not click.confirm(f"{path} exists. Overwrite it?", default=False):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config_to_yaml(resolved.config), encoding="utf-8")
        echo(f"Saved {path}. Train with it any time: sd35l-trainer train --config {path}")
        return path


@click.command()
def interactive() -> None:
    """Guided setup: answer a few questions, get a checked config file, optionally train."""
    from bot.cli import render
    from bot.core.config.model import describe_parameters

    settings = _common.settings()
    explain = describe_parameters()
    echo("Let's set up a LoRA training for Stable Diffusion 3.5 Large. Ctrl-C stops at any time.")
    echo("")
    values: dict[str, Any] = {}
    preset = _choose_preset()
    if preset:
        values["preset"] = preset
    for key in REQUIRED:
        echo("")
        echo(explain.get(key, ""))
        default = settings.default_destination if key == "destination" else None
        values[key] = _ask_valid(key, LABELS[key], values, settings, default=default)
    echo("")
    if click.confirm(
        "Change the preset's training values (steps, learning rate, ...)?", default=False
    ):
        for key, dotted, kind in TUNABLE:
            # Defaults follow earlier answers (a new optimizer brings its own learning rate);
            # only changed values are kept, so the origins still say "preset" for the rest.
            default = _path_of(_resolve(values, settings, complete=False), dotted)
            echo(f"  {explain.get(key, '')}")
            answer = _ask_valid(key, key, values, settings, kind=kind, default=default)
            if answer != default:
                values[key] = answer
    resolved = _resolve(values, settings, complete=True)
    for message in resolved.warnings:
        _common.warn(message)
    echo(render.config_listing(resolved.config.model_dump(mode="json"), resolved.origins))
    path = _save(resolved)
    if not click.confirm("Check the dataset and start this training now?", default=False):
        echo(f"Done. When ready: sd35l-trainer train --config {path}")
        return
    run_train(TrainRequest(config_path=path, ask=True, show_config=False))
