"""`follow ID` and the end of `train --wait`: progress until the training ends, then the weights.

Both end the same way, so they share one path and one set of exit statuses: 0 when the weights
are saved, 1 when the training ended failed/canceled/aborted or Replicate could not be reached,
2 for input the user can fix, 130 after Ctrl-C (the training keeps running either way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli import _common, jobs
from bot.cli._common import EXIT_INTERRUPTED, echo
from bot.core.errors import InputError, SD35LError, ServiceError

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.replicate.training import Training
    from bot.core.settings import Settings


def stopped_following(training_id: str) -> None:
    """After Ctrl-C while following: the truth (it still runs) and how to come back."""
    echo(
        f"\nStopped following; training {training_id} keeps running on Replicate. Re-attach "
        f"with `sd35l-trainer follow {training_id}` (progress, then the download)."
    )
    raise click.exceptions.Exit(EXIT_INTERRUPTED)


def _lost_contact(training: Training, exc: Exception) -> Exception:
    """A follow that lost Replicate must never invite a second paid submission."""

    status = getattr(exc, "status", None)
    why = f"HTTP {status}" if status else "no answer"
    return SD35LError(
        f"Lost contact with Replicate while following training {training.id} ({why}); it was "
        f"{training.status} at the last check and keeps running there. Do not start it again: "
        f"re-attach with `sd35l-trainer follow {training.id}` once the network is back."
    )


async def follow_to_end(
    gw: ReplicateGateway,
    training: Training,
    settings: Settings,
    output_dir: Path,
    *,
    force: bool,
    on_end: Callable[[Training], Awaitable[None]] | None = None,
) -> None:
    """Live progress until the end, then the download (or the failure with the log tail);
    `on_end` runs once the training has ended, whatever the outcome (cleanup of an upload)."""
    from bot.cli.wait import follow

    last = [training]
    try:
        ended = await follow(gw, training, settings, seen=last)
    except ServiceError as exc:
        raise _lost_contact(last[0], exc) from None
    if on_end is not None:
        await on_end(ended)
    if ended.status == "canceled":
        report_canceled(ended)
        return
    if ended.status != "succeeded":
        report_failure(ended)
    plain = jobs.weights_target(ended, output_dir)
    target = jobs.free_target(ended, output_dir, force=force)
    if target != plain:
        echo(f"{plain} already exists, so the weights are saved as {target.name}.")
    try:
        path = await jobs.fetch_weights(gw, ended, target, force=force)
    except SD35LError as exc:
        exc.hint = " ".join(
            part
            for part in (
                exc.hint,
                f"The training succeeded; get the weights with `sd35l-trainer download "
                f"{ended.id} --output-dir DIR`.",
            )
            if part
        )
        raise
    report_success(ended, path, settings)


def report_failure(training: Training) -> None:
    """The trainer's last log lines and its error; raises (exit 1)."""
    from bot.core.trainer_log.progress import log_tail

    tail = log_tail(training.logs, 20)
    if tail:
        echo("Last log lines:")
        echo(_common.trainer_log(tail))
    reason = f": {training.error}" if training.error else ""
    raise SD35LError(f"Training {training.id} ended {training.status}{reason}.")


def report_canceled(training: Training) -> None:
    """A cancel is something a person asked for (this CLI's `cancel`, the bot's Cancel button,
    the web page), so it is said plainly, not as an error. The exit status is still 1, as
    docs/interface.md promises for every `--wait` that ends without weights: a script that
    chains `train --wait && use-the-weights` must not go on with nothing to use."""
    echo(
        f"Training {training.id} was canceled (with `sd35l-trainer cancel`, the bot's Cancel "
        "button or its web page), so it made no weights and there is nothing to download."
    )
    raise click.exceptions.Exit(1)


def report_success(training: Training, path: Path, settings: Settings) -> None:
    from bot.cli.render import cost_text
    from bot.core.money.estimate import format_duration

    echo(f"Training {training.id} succeeded.")
    echo(f"Saved {path}")
    cost = cost_text(training, settings.gpu_price)
    if training.predict_time is not None:
        echo(f"Cost: {cost} ({format_duration(training.predict_time)} of GPU time)")
    else:
        echo(
            f"Cost: {cost} (Replicate has not reported the billed time yet; "
            f"`sd35l-trainer status {training.id}` shows it later)"
        )


@click.command("follow")
@click.argument("training_id")
@_common.output_dir_option("Directory to write the .safetensors file into.")
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite an existing weights file (otherwise a taken name gets the training id).",
)
def follow_cmd(training_id: str, output_dir: Path, force: bool) -> None:
    """Re-attach to a training: live progress until it ends, then download its weights."""
    from bot.core.replicate.errors import MSG_NO_TOKEN

    settings = _common.settings()
    if not settings.token:
        raise InputError(MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")

    async def go() -> None:
        async with _common.gateway(settings) as gw:
            training = await gw.get_training(training_id)
            if not training.is_terminal:
                echo(
                    f"Following training {training.id}; Ctrl-C stops following (the training "
                    "keeps running)."
                )
            await follow_to_end(gw, training, settings, output_dir, force=force)

    try:
        _common.run(go)
    except KeyboardInterrupt:
        from bot.core.replicate.errors import training_id_of

        stopped_following(training_id_of(training_id))
