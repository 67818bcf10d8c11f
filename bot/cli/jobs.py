"""`list`, `status`, `cancel`, `download`: looking after trainings already submitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli import _common
from bot.cli._common import echo, show
from bot.core.errors import InputError, SD35LError

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.replicate.training import Training
    from bot.core.settings import Settings

STATUSES = ("starting", "processing", "succeeded", "failed", "canceled", "aborted")


def _token_or_fail(settings: Settings) -> None:
    from bot.core.replicate.errors import MSG_NO_TOKEN

    if not settings.token:
        raise InputError(MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")


def _dump(data: Any) -> None:
    echo(json.dumps(data, indent=2, default=str))


@click.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="How many trainings to show, newest first.",
)
@click.option(
    "--status",
    "status_filter",
    type=click.Choice(STATUSES),
    help="Only trainings with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_cmd(limit: int, status_filter: str | None, as_json: bool) -> None:
    """List the account's recent trainings (alias: list-jobs)."""

    settings = _common.settings()
    _token_or_fail(settings)

    async def fetch() -> list[Training]:
        async with _common.gateway(settings) as gw:
            wanted = max(limit, 200) if status_filter else limit
            return await gw.list_trainings(limit=wanted)

    _print_list(_common.run(fetch), settings, limit, status_filter, as_json)


def _print_list(
    trainings: list[Training],
    settings: Settings,
    limit: int,
    status_filter: str | None,
    as_json: bool,
) -> None:
    from bot.cli import render

    if status_filter:
        trainings = [t for t in trainings if t.status == status_filter]
    trainings = trainings[:limit]
    if as_json:
        _dump([render.training_json(t, settings.gpu_price) for t in trainings])
        return
    if not trainings:
        echo("No trainings found." if not status_filter else f"No {status_filter} trainings found.")
        return
    show(render.trainings_table(trainings, settings.gpu_price))


@click.command()
@click.argument("training_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(training_id: str, as_json: bool) -> None:
    """Show one training: status, progress from its logs, cost, error, weights."""

    settings = _common.settings()
    _token_or_fail(settings)

    async def fetch() -> Training:
        async with _common.gateway(settings) as gw:
            return await gw.get_training(training_id)

    _print_status(_common.run(fetch), settings, as_json)


def _print_status(training: Training, settings: Settings, as_json: bool) -> None:
    from bot.cli import render
    from bot.core.trainer_log.progress import log_tail, parse_progress

    progress = parse_progress(training.logs)
    if as_json:
        _dump(render.training_json(training, settings.gpu_price, progress))
        return
    show(render.status_table(training, progress, settings.gpu_price))
    for line in render.status_links(training):
        echo(line)
    if training.status in ("failed", "aborted") and training.logs:
        echo("Last log lines:")
        echo(_common.trainer_log(log_tail(training.logs, 15)))


@click.command()
@click.argument("training_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def cancel(training_id: str, yes: bool) -> None:
    """Cancel a running training (it stops being billed once canceled; this cannot be undone).

    On a terminal it first shows the training and asks; `--yes` skips the question. Without a
    terminal and without `--yes` nothing is canceled (exit 2), like `train`: a script must say
    it means it."""
    settings = _common.settings()
    _token_or_fail(settings)

    async def look() -> Training:
        async with _common.gateway(settings) as gw:
            return await gw.get_training(training_id)

    current = _common.run(look)
    if current.is_terminal:
        _print_cancel(current, asked=False)
        return
    if not yes and not _common.stdin_is_tty():
        raise InputError(
            f"cancel stops training {current.id} for good and there is no terminal to confirm "
            "on; add --yes to cancel without asking. Nothing was canceled.",
            field="yes",
        )
    if not yes and _common.stdin_is_tty():
        from bot.cli.render import destination_of

        question = (
            f"Cancel training {current.id} ({current.status}, {destination_of(current)})? "
            "This cannot be undone"
        )
        if not _common.confirm(question, default=False):
            echo("Nothing was canceled.")
            return

    async def go() -> Training:
        import asyncio

        async with _common.gateway(settings) as gw:
            training = await gw.cancel_training(current.id)
            for _ in range(20):  # Replicate may answer "processing" for a moment
                if training.is_terminal:
                    break
                await asyncio.sleep(min(settings.poll_interval, 1.0))
                training = await gw.get_training(current.id)
            return training

    _print_cancel(_common.run(go), asked=True)


def _print_cancel(training: Training, asked: bool) -> None:
    if not asked:
        echo(f"Training {training.id} already ended ({training.status}); nothing to cancel.")
        return
    if training.is_terminal:
        echo(f"Training {training.id} is now {training.status}.")
    else:
        echo(
            f"Cancel requested for training {training.id}; it is still {training.status}. "
            f"Check with `sd35l-trainer status {training.id}`."
        )


def weights_target(training: Training, output_dir: Path) -> Path:
    """Where `download` writes: `{owner}_{model}_{trigger}.safetensors` in `output_dir`."""
    from bot.cli.render import destination_of
    from bot.core.artifacts.weights import weights_filename

    destination = destination_of(training)
    if not destination:
        raise SD35LError(
            f"Training {training.id} does not say which model it trained into, so the weights "
            "file cannot be named; download it from its web page instead."
        )
    return output_dir / weights_filename(destination, training.trigger_word or "TOK")


def free_target(training: Training, output_dir: Path, *, force: bool) -> Path:
    """Where `train --wait` and `follow` save: the plain name, or, when another file already
    has it and `force` was not given, the name with the training id (never overwriting)."""

    plain = weights_target(training, output_dir)
    if force or not plain.exists():
        return plain
    other = plain.with_name(f"{plain.stem}_{training.id}{plain.suffix}")
    if other.exists():
        raise InputError(
            f"{plain} and {other} already exist; pass --force to overwrite {plain.name} or "
            "choose another --output-dir.",
            field="output_dir",
        )
    return other


async def fetch_weights(
    gw: ReplicateGateway, training: Training, target: Path, *, force: bool
) -> Path:
    """Download a succeeded training's LoRA to `target`; refuses to overwrite without `force`."""
    from bot.core.artifacts.weights import download_weights

    if training.status != "succeeded":
        raise SD35LError(
            f"Training {training.id} is {training.status}; only succeeded trainings have "
            "weights to download."
        )
    url = training.weights_url
    if not url:
        raise SD35LError(
            f"Training {training.id} succeeded but Replicate lists no weights file; see "
            f"{training.web_url}."
        )
    import asyncio

    if not force and await asyncio.to_thread(target.exists):
        raise InputError(
            f"{target} already exists; pass --force to overwrite it or choose another "
            "--output-dir.",
            field="output_dir",
        )
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    return await download_weights(
        url, target.parent, target.name, headers=gw.download_headers(url), force=force
    )


@click.command()
@click.argument("training_id")
@_common.output_dir_option("Directory to write the .safetensors file into.")
@click.option("--force", is_flag=True, help="Overwrite the file if it already exists.")
def download(training_id: str, output_dir: Path, force: bool) -> None:
    """Download a succeeded training's LoRA as {owner}_{model}_{trigger}.safetensors."""
    settings = _common.settings()
    _token_or_fail(settings)

    async def go() -> Path:
        async with _common.gateway(settings) as gw:
            training = await gw.get_training(training_id)
            target = weights_target(training, output_dir)
            return await fetch_weights(gw, training, target, force=force)

    echo(f"Saved {_common.run(go)}")
