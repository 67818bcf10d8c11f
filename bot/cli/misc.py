"""`simulate` (a local fake Replicate) and `bot` (the Discord bot), both imported lazily."""

from __future__ import annotations

import click

from bot.cli._common import echo


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 to listen on (0 picks a free one).",
)
def simulate(port: int) -> None:
    """Run a local Replicate simulator to try the CLI and the bot without spending money."""
    from bot.sim import main_sync

    def ready(base_url: str) -> None:
        echo(f"Replicate simulator listening on {base_url} (Ctrl-C stops it).")
        echo("In another shell run:")
        echo(f"  export REPLICATE_BASE_URL={base_url}")
        echo("  export REPLICATE_API_TOKEN=anything   # any token works here")
        echo("  export SD35L_ALLOW_PRIVATE_URLS=1      # if your dataset URL is local")
        echo("The model alice/lora exists; trainings finish in seconds.")

    try:
        main_sync("127.0.0.1", port, on_ready=ready)
    except KeyboardInterrupt:
        echo("Simulator stopped.")
    except OSError as exc:
        from bot.core.errors import InputError

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
        from bot.core.errors import SD35LError

        raise SD35LError(
            f"The Discord bot cannot start because a module is missing ({exc.name}); reinstall "
            "sd35l-trainer with `pip install .`."
        ) from None
    run_bot()
