"""`sd35l-trainer doctor`: one line per check of this deployment, ✔ or ✘ with the fix.

The checks live in `bot.core.doctor` (the bot runs the same ones at start). Here: settings,
the commands this version would sync (built offline from the bot's extensions), printing,
and the exit status: 0 only when nothing failed.
"""

from __future__ import annotations

from typing import Any

import click

from bot.cli import _common
from bot.cli._common import EXIT_FAILED, EXIT_OK, echo, paint
from bot.core.errors import SD35LError

# Discord's REST root; tests point it at the fake Discord.
DISCORD_API = "https://discord.com/api/v10"


def _expected_commands(settings: Any) -> Any:
    """What the bot would sync; None without a bot token (nothing to compare with) or when the
    bot's modules cannot load here."""
    if settings.discord_token is None:
        return None
    try:
        from bot.app import expected_commands
    except ImportError:  # pragma: no cover - an install without discord.py
        return None
    return expected_commands(settings)


def _show(finding: Any) -> None:
    mark = paint("✔", fg="green") if finding.ok else paint("✘", fg="red", bold=True)
    fix = f" {paint('Fix:', bold=True)} {finding.fix}" if finding.fix and not finding.ok else ""
    echo(f"{mark} {finding.area}: {finding.text}{fix}")


@click.command()
@click.option(
    "--destination",
    metavar="OWNER/NAME",
    help="The destination model to check (default: SD35L_DEFAULT_DESTINATION).",
)
@click.pass_context
def doctor(ctx: click.Context, destination: str | None) -> None:
    """Check this deployment: tokens, permissions, destination, trainer, database, clock.

    Prints one line per check, ✔ or ✘ with the fix, and exits 0 only when nothing failed.
    Runs without tokens too: it then says which is missing and where to get it.
    """
    from bot.core.doctor.report import ChecklistLine, failed
    from bot.core.doctor.run import DoctorOptions, run_doctor

    try:
        settings = _common.settings()
    except SD35LError as exc:
        fix = "correct that variable in .env or the environment."
        _show(ChecklistLine("Settings", False, str(exc), fix))
        ctx.exit(EXIT_FAILED)
    _common.collect_garbage()
    options = DoctorOptions(
        destination=destination,
        discord_api=DISCORD_API,
        commands=_expected_commands(settings),
        gateway_options=dict(_common.GATEWAY_KWARGS),
    )
    findings = _common.run(lambda: run_doctor(settings, options))
    for finding in findings:
        _show(finding)
    problems = failed(findings)
    if problems:
        echo(f"{len(problems)} of {len(findings)} checks failed.")
        ctx.exit(EXIT_FAILED)
    echo(f"All {len(findings)} checks passed.")
    ctx.exit(EXIT_OK)
