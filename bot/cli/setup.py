"""`init-config` and `interactive`: getting a beginner from nothing to a valid config file.

`interactive` asks each required value, explains every parameter in one line, validates each
answer through the same `resolve_config` the `train` command uses (so the rules live in one
place), writes the YAML, and can hand the file to the `train` path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli import _common
from bot.cli._common import echo
from bot.cli.train import TrainRequest, check_dataset_step, run_train
from bot.core.errors import InputError, SD35LError

if TYPE_CHECKING:
    from bot.core.config.model import ResolvedConfig, TrainingConfig
    from bot.core.settings import Settings

REQUIRED = ("destination", "trigger_word")
TUNABLE: tuple[tuple[str, str, type], ...] = (
    ("steps", "training.steps", int),
    ("batch_size", "training.batch_size", int),
    ("optimizer", "training.optimizer", str),
    ("learning_rate", "training.learning_rate", float),
    ("resolution", "training.resolution", str),
    ("lora_rank", "training.lora_rank", int),
)
LABELS = {
    "destination": "Destination model (owner/name)",
    "trigger_word": "Trigger word",
}
DATASET_LABEL = "Dataset (a folder of images, a local .zip, or a link to a .zip)"
DATASET_KEYS = ("dataset_url", "dataset_path")
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
        return answer


def dataset_key(answer: str) -> str:
    """A link is a `dataset_url`; anything else is a local folder or .zip (`dataset_path`)."""
    return "dataset_url" if "://" in answer else "dataset_path"


def _ask_dataset(values: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """Ask for the dataset and check it at once with `train`'s own dataset step, so the answer
    is judged (full report, warnings included) before any file is written; a refused dataset
    is asked again."""

    while True:
        answer = click.prompt(DATASET_LABEL).strip()
        key = dataset_key(answer)
        if key == "dataset_path":
            answer = str(Path(answer).expanduser())
        others = {k: v for k, v in values.items() if k not in DATASET_KEYS}
        try:
            resolved = _resolve({**others, key: answer}, settings, complete=True)
            if key == "dataset_path":
                from bot.core.dataset.collect import require_exists

                require_exists(Path(answer), field=key)
            echo("  Checking the dataset (the same check `train` runs)...")
            check_dataset_step(resolved, settings)
        except SD35LError as exc:
            echo(f"  {exc}")
            echo("  Fix the dataset, then give it again.")
            continue
        return key, answer


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


def _relative_dataset(resolved: ResolvedConfig, config_file: Path) -> TrainingConfig:
    """A config file's `dataset_path` is read relative to the file's folder, so it is written
    that way: the file keeps working from any shell directory."""

    config = resolved.config
    if not config.dataset_path:
        return config
    here = os.path.relpath(Path(config.dataset_path).resolve(), config_file.parent.resolve())
    return config.model_copy(update={"dataset_path": Path(here).as_posix()})


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
        path.write_text(config_to_yaml(_relative_dataset(resolved, path)), encoding="utf-8")
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
    echo(
        "Your images: a folder of .jpg/.png/.webp pictures (optional same-name .txt captions), "
        "or a .zip of them, packed and uploaded for you when you start; or a direct link to a "
        ".zip you host."
    )
    key, dataset = _ask_dataset(values, settings)
    values[key] = dataset
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
    if not click.confirm(
        "Start this training now (you see the estimate and confirm first)?", default=False
    ):
        echo(f"Done. When ready: sd35l-trainer train --config {path}")
        return
    run_train(TrainRequest(config_path=path, ask=True, show_config=False))
