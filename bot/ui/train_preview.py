"""The /train preview only the invoker sees: config with origins, dataset report, destination
check and estimate. Pure: built from the core's results, no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.core.config.model import ResolvedConfig, flat_values
from bot.core.config.presets import FLAT_TO_PATH
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import Finding
from bot.core.jobs.preflight import Preflight
from bot.ui.format import BLUE, FIELD_VALUE, GREEN, ORANGE, RED, clip

EMBEDS_BUDGET = 5800  # Discord allows 6000 characters over all embeds of a message
_ORIGIN = {
    "cli": "option",
    "file": "config file",
    "env": "SD35L_DEFAULT_DESTINATION",
    "default": "default",
}


@dataclass
class PreviewChecks:
    """What the checks found, besides the config itself."""

    dataset: DatasetReport | None = None
    dataset_skipped: str | None = None  # why the dataset was not checked
    dataset_label: str | None = None  # an uploaded dataset: its name, shown instead of a path
    sheet: str | None = None  # attachment name of the contact sheet, when one is attached
    destination_ok: bool | None = None  # None = not checked (no token)
    account: str | None = None
    problems: list[str] = field(default_factory=list)  # blocking (trainer schema, destination)
    notes: list[str] = field(default_factory=list)
    estimate: str = ""

    @property
    def ok(self) -> bool:
        dataset_ok = self.dataset is None or self.dataset.ok
        return dataset_ok and not self.problems


def preview_checks(found: Preflight, *, destination: str) -> PreviewChecks:
    """The core's findings, worded for Discord (the remedy is to run /train again)."""
    checks = PreviewChecks(dataset=found.dataset, estimate=found.estimate)
    if found.account is not None:
        checks.account = found.account.account
        checks.destination_ok = found.account.destination_exists
        if not checks.destination_ok:
            checks.problems.append(
                f"The destination model {destination} does not exist on Replicate; "
                "create it at https://replicate.com/create (private is fine) and run /train again."
            )
        checks.problems += found.account.input_problems
    if found.token_missing:
        checks.problems.append(
            "REPLICATE_API_TOKEN is not set on the bot, so nothing can be submitted; ask the "
            "bot's admin to set it."
        )
    return checks


def origin_label(origin: str, preset: str | None) -> str:
    if origin == "preset":
        return f"preset {preset}" if preset else "preset"
    return _ORIGIN.get(origin, origin)


def config_embed(
    resolved: ResolvedConfig, *, source: str | None = None, dataset: str | None = None
) -> discord.Embed:
    config = resolved.config
    values = flat_values(config)
    if dataset is not None:  # the bot's own pack path means nothing to the user
        values["dataset_path"] = dataset
    lines = []
    for key, value in values.items():
        origin = resolved.origins.get(FLAT_TO_PATH[key], "default")
        shown = "—" if value is None else str(value)
        lines.append(f"**{key}**: `{clip(shown, 120)}` · {origin_label(origin, config.preset)}")
    embed = discord.Embed(
        title=clip(f"Preview: LoRA for {config.destination}", 256),
        colour=BLUE,
        description=clip("\n".join(lines), 3000),
    )
    if source:
        embed.set_footer(text=clip(f"Config file: {source} (options win over the file)", 200))
    if resolved.warnings:
        embed.add_field(
            name="Advice", value=clip("\n".join(f"• {w}" for w in resolved.warnings), 700)
        )
    return embed


def _findings(items: list[Finding], limit: int) -> str:
    lines = []
    for item in items:
        example = f" (e.g. {', '.join(item.paths[:2])})" if item.paths else ""
        lines.append(f"• {item.message}{example}")
    return clip("\n".join(lines), limit)


def dataset_embed(report: DatasetReport | None, skipped: str | None = None) -> discord.Embed:
    """Counts, then errors (fatal), warnings and notes, each clipped to fit."""
    if report is None:
        return discord.Embed(
            title="Dataset", colour=ORANGE, description=clip(skipped or "not checked", 500)
        )
    colour = GREEN if report.ok and not report.warnings else (RED if not report.ok else ORANGE)
    verdict = "✅ looks usable" if report.ok else "❌ the trainer would fail or learn nothing"
    embed = discord.Embed(title="Dataset", colour=colour, description=verdict)
    counts = [f"{label}: {n}" for label, n in report.shown_counts()]
    if counts:
        embed.add_field(name="Counts", value=clip(", ".join(counts), FIELD_VALUE), inline=False)
    for name, items in (("Errors", report.errors), ("Warnings", report.warnings)):
        if items:
            embed.add_field(name=name, value=_findings(items, 900), inline=False)
    if report.notes:
        embed.add_field(name="Notes", value=_findings(report.notes, 500), inline=False)
    if report.skipped_checks:
        embed.add_field(
            name="Not checked", value=clip(", ".join(report.skipped_checks), 300), inline=False
        )
    if report.recommended_steps:
        embed.add_field(name="Suggested steps", value=str(report.recommended_steps))
    embed.set_footer(text=f"Read {report.bytes_read:,} bytes in {report.seconds:.1f} s")
    return embed


def checks_embed(checks: PreviewChecks, *, dry_run: bool) -> discord.Embed:
    colour = GREEN if checks.ok else RED
    embed = discord.Embed(title="Destination, inputs and estimate", colour=colour)
    if checks.destination_ok is None:
        dest = "not checked (REPLICATE_API_TOKEN is not set)"
    elif checks.destination_ok:
        dest = "✅ exists" + (f" (account {checks.account})" if checks.account else "")
    else:
        dest = "❌ does not exist"
    embed.add_field(name="Destination model", value=clip(dest, 300), inline=False)
    if checks.problems:
        text = "\n".join(f"• {p}" for p in checks.problems)
        embed.add_field(name="Blocking problems", value=clip(text, 900), inline=False)
    if checks.notes:
        embed.add_field(name="Notes", value=clip("\n".join(checks.notes), 500), inline=False)
    embed.add_field(name="Estimate", value=clip(checks.estimate or "unknown", 200), inline=False)
    if dry_run:
        footer = "Dry run: every check ran and nothing can be submitted from this preview."
    elif checks.ok:
        footer = "Press Start to submit (this costs money), or Cancel. Expires in 15 minutes."
    else:
        footer = "Fix the problems above and run /train again; nothing was submitted."
    embed.set_footer(text=footer)
    return embed


def preview_embeds(
    resolved: ResolvedConfig,
    checks: PreviewChecks,
    *,
    dry_run: bool,
    source: str | None = None,
    extra: discord.Embed | None = None,
) -> list[discord.Embed]:
    """The three preview embeds (and `extra`, the captions of own images), trimmed to Discord's
    6000-character total."""
    embeds = [
        config_embed(resolved, source=source, dataset=checks.dataset_label),
        dataset_embed(checks.dataset, checks.dataset_skipped),
        checks_embed(checks, dry_run=dry_run),
    ]
    if extra is not None:
        embeds.insert(2, extra)
    if checks.sheet:
        embeds[1].set_image(url=f"attachment://{checks.sheet}")
    return fit_embeds(embeds)


def fit_embeds(embeds: list[discord.Embed], budget: int = EMBEDS_BUDGET) -> list[discord.Embed]:
    """Drop the longest fields' text until the sum of all embeds fits the budget."""
    while sum(len(e) for e in embeds) > budget:
        biggest = max(
            ((e, i, f) for e in embeds for i, f in enumerate(e.fields)),
            key=lambda t: len(t[2].value or ""),
            default=None,
        )
        if biggest is None or len(biggest[2].value or "") <= 40:
            break
        embed, index, fld = biggest
        value = str(fld.value)
        embed.set_field_at(index, name=str(fld.name), value=clip(value, len(value) // 2))
    return embeds


def summary(config_data: Mapping[str, Any]) -> str:
    """One line naming a stored config (for messages after Start)."""
    return clip(
        f"{config_data.get('destination')} · trigger `{config_data.get('trigger_word')}`", 300
    )


def dataset_summary(report: DatasetReport | None) -> str:
    """One line of the dataset check for the managers (the full report was the owner's)."""
    if report is None:
        return "not checked"
    counts = report.counts
    parts = [f"{counts.get('usable_images', 0)} usable images"]
    if "captions" in counts:
        parts.append(f"{counts['captions']} captions")
    if report.warnings:
        parts.append(f"{len(report.warnings)} warning(s)")
    return ", ".join(parts)
