"""`simulate` (a local fake Replicate) and `bot` (the Discord bot), both imported lazily."""

from __future__ import annotations

import click

from bot.cli import _common
from bot.cli._common import echo
from bot.core.errors import InputError, SD35LError

OUTCOMES = ("succeeded", "failed", "aborted", "canceled")


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 to listen on (0 picks a free one).",
)
@click.option(
    "--step-seconds",
    type=click.FloatRange(0.0001, 60.0),
    default=0.002,
    show_default=True,
    help="Seconds per training step; 1 makes a 1500-step training last 25 minutes (time to "
    "rehearse follow and cancel).",
)
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    default="succeeded",
    show_default=True,
    help="How new trainings end; failures and aborts strike half-way, with the trainer's log.",
)
@click.option(
    "--require-token",
    is_flag=True,
    help="Accept only the REPLICATE_API_TOKEN this command was started with (others get 401).",
)
def simulate(port: int, step_seconds: float, outcome: str, require_token: bool) -> None:
    """Run a local Replicate simulator to try the CLI and the bot without spending money."""
    from bot.sim import SAMPLE_TOKEN, main_sync
    from bot.sim.state import Faults

    token = _common.settings().token if require_token else None
    if require_token and not token:
        raise InputError(
            "--require-token needs REPLICATE_API_TOKEN set for the simulator to accept.",
            field="REPLICATE_API_TOKEN",
        )

    def ready(base_url: str) -> None:
        echo(f"Replicate simulator listening on {base_url} (Ctrl-C stops it).")
        echo(f"Trainings take {step_seconds:g} s per step and end {outcome}.")
        echo("In another shell run:")
        echo(f"  export REPLICATE_BASE_URL={base_url}")
        if token:
            echo("  export REPLICATE_API_TOKEN=...          # the same token as this shell")
        else:
            echo(f"  export REPLICATE_API_TOKEN={SAMPLE_TOKEN}  # any token works here")
        echo("  export SD35L_ALLOW_PRIVATE_URLS=1       # if your dataset URL is local")
        echo("The model alice/lora exists.")

    _common.collect_garbage()
    try:
        main_sync(
            "127.0.0.1",
            port,
            on_ready=ready,
            token=token,
            step_seconds=step_seconds,
            faults=Faults(outcome=outcome),
        )
    except KeyboardInterrupt:
        echo("Simulator stopped.")
    except OSError as exc:
        raise InputError(
            f"Cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); choose another --port.",
            field="port",
        ) from None


@click.command("bot")
def bot() -> None:
    """Run the Discord bot (needs DISCORD_TOKEN and REPLICATE_API_TOKEN)."""
    try:
        from bot.app import run_bot
    except ImportError as exc:
        raise SD35LError(
            f"The Discord bot cannot start because a module is missing ({exc.name}); reinstall "
            "sd35l-trainer with `pip install .`."
        ) from None
    _common.collect_garbage()
    run_bot()
