"""`sd35l-trainer`: the command-line front end (click + rich) over `bot.core`.

Every command imports its heavy dependencies (pydantic, httpx, replicate, aiohttp, rich,
discord) inside its body, so `--help` stays fast. Every failure ends as one redacted sentence
and an exit status from docs/interface.md: 0 ok, 2 invalid input, 1 anything else; never a
traceback.
"""

from __future__ import annotations

import atexit
import gc
import io
import sys
from typing import Any

import click

from bot.cli import _common
from bot.cli._common import EXIT_FAILED, EXIT_INTERRUPTED, echo, one_line
from bot.core.errors import SD35LError

__all__ = ["cli", "main"]


class SafeGroup(click.Group):
    """A group that turns any exception from a command into a sentence and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SD35LError as exc:
            echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # the last line of defence: no traceback, ever
            echo(
                f"Unexpected error: {type(exc).__name__}: {one_line(str(exc))}. Please report it.",
                err=True,
            )
            ctx.exit(EXIT_FAILED)

    def main(  # type: ignore[override]
        self, args: list[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Like click's standalone mode, but click's own messages go through the redactor too
        (a token pasted into the wrong option must not be echoed back)."""
        if extra.pop("standalone_mode", True) is False:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as exc:
            buffer = io.StringIO()
            exc.show(file=buffer)
            echo(buffer.getvalue(), err=True, nl=False)
            sys.exit(exc.exit_code)
        except click.Abort:
            echo("Aborted.", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # `list-jobs` is the documented alias of `list`.
        if args and args[0] == "list-jobs":
            args = ["list", *args[1:]]
        return super().resolve_command(ctx, args)


@click.group(cls=SafeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show informational log lines on stderr.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx) if value else None,
    help="Show the version and exit.",
)
def cli(verbose: bool) -> None:
    """Train Stable Diffusion 3.5 Large LoRAs on Replicate without wasting a run.

    Needs REPLICATE_API_TOKEN to submit (a .env file in the working directory is read too).
    Start with `sd35l-trainer interactive` or `sd35l-trainer init-config`.
    """
    _common.setup_logging(verbose)


def _print_version(ctx: click.Context) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("sd35l-trainer")
    except PackageNotFoundError:
        found = "0.1.0 (not installed)"
    echo(f"sd35l-trainer {found}")
    ctx.exit(0)


def _register() -> None:
    from bot.cli import caption, doctor, follow, jobs, servers, setup, train

    cli.add_command(train.train)
    cli.add_command(jobs.list_cmd)
    cli.add_command(jobs.status)
    cli.add_command(follow.follow_cmd)
    cli.add_command(jobs.cancel)
    cli.add_command(jobs.download)
    cli.add_command(setup.init_config)
    cli.add_command(setup.interactive)
    cli.add_command(caption.caption_cmd)
    cli.add_command(doctor.doctor)
    cli.add_command(servers.simulate)
    cli.add_command(servers.bot)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry (`sd35l-trainer = bot.cli:main`); exits with the command's status.

    A short command is mostly start-up, and start-up allocates objects that all live to the end
    (modules, classes, validators): the cyclic garbage collector would scan them over and over
    while they load and once more when the interpreter exits, about a fifth of a dry run. So it
    is off until a command starts real work (`_common.collect_garbage`), and whatever is alive
    at exit is frozen, which lets the interpreter's last collection skip it.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    atexit.unregister(gc.freeze)  # registered once, however often main runs in one process
    atexit.register(gc.freeze)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        cli.main(args=args, prog_name="sd35l-trainer", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside any command
        echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        if was_enabled:
            gc.enable()
