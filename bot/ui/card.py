"""The public job card and the 'ended' notice, as pure functions of stored rows and payloads.

The card is edited in place by the tracker with the bot token, so it must be rebuildable from
the database alone (no interaction state): everything here reads a `TrainingRow` or the
notice payload frozen when the ending was seen.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import discord

from bot.core.jobs.pace import Pace
from bot.core.money.cents import format_cents
from bot.core.money.estimate import format_duration
from bot.core.store.rows import TrainingRow, utcnow
from bot.ui.format import (
    DESCRIPTION,
    FIELD_VALUE,
    STATUS_COLOUR,
    absolute,
    clip,
    code_block,
    mention,
    progress_bar,
    relative,
    status_line,
)

LOG_FILE_LIMIT = 512 * 1024  # far below Discord's 10 MiB, and plenty for 30 lines

_OUTCOME = {
    "succeeded": "Training finished. The LoRA weights are ready.",
    "failed": "The training failed; the owner got the error and the end of the log.",
    "canceled": "The training was canceled; a canceled training cannot resume.",
    "aborted": "Replicate aborted the training before it finished.",
}


def download_line(training_id: str) -> str:
    return f"sd35l-trainer download {training_id}"


def refresh_line(pace: Pace | None) -> str:
    """How often a running training's card refreshes, and why when it is slower than set."""
    if pace is None:
        return "Updated as the training moves"
    every = format_duration(pace.seconds) if pace.seconds >= 1 else f"{pace.seconds:.2g} s"
    if pace.stretched:
        return (
            f"Refreshed every {every} (slower than usual: many trainings are running and "
            "Replicate limits how often they can be read)"
        )
    return f"Refreshed every {every}"


def card_embed(row: TrainingRow, pace: Pace | None = None) -> discord.Embed:
    """Status, progress bar with step x/N, ETA as a relative timestamp, elapsed, links, outcome;
    `pace` (the tracker's) says in the footer how often a running training's card refreshes."""
    embed = discord.Embed(
        title=clip(f"LoRA training {row.id}", 256),
        url=row.web_url,
        colour=STATUS_COLOUR.get(row.status, 0),
        description=clip(
            f"{row.destination} · trigger word `{row.trigger_word or '?'}` · "
            f"started by {mention(row.owner_id)}",
            DESCRIPTION,
        ),
    )
    embed.add_field(name="Status", value=status_line(row.status), inline=True)
    embed.add_field(name="Progress", value=progress_bar(row.step, row.total), inline=False)
    begin = row.started_at or row.created_at
    if row.is_terminal:
        if row.duration_s is not None:
            embed.add_field(name="Duration", value=format_duration(row.duration_s), inline=True)
        if row.cost_cents is not None:
            embed.add_field(name="Cost", value=format_cents(row.cost_cents), inline=True)
        embed.add_field(name="Outcome", value=_outcome(row), inline=False)
    else:
        if row.eta_at is not None:
            embed.add_field(name="ETA", value=relative(row.eta_at), inline=True)
        elapsed = (utcnow() - begin).total_seconds()
        embed.add_field(
            name="Elapsed", value=f"{format_duration(elapsed)} (since {absolute(begin)})"
        )
        if row.loss is not None:
            embed.add_field(name="Loss", value=f"{row.loss:.4f}", inline=True)
    samples = _samples(row)
    if samples:
        embed.add_field(name="Sample images", value=clip(samples, 300), inline=False)
    embed.add_field(name="Links", value=_links(row), inline=False)
    moving = refresh_line(None if row.is_terminal else pace)
    embed.set_footer(text=f"{moving} · /status for details")
    embed.timestamp = row.updated_at
    return embed


def _samples(row: TrainingRow) -> str | None:
    """Where the W&B sample images appear and how often (from the stored config)."""
    wandb = (row.config or {}).get("wandb")
    if not isinstance(wandb, dict) or not wandb.get("sample_prompts"):
        return None
    prompts = wandb["sample_prompts"]
    return (
        f"{len(prompts)} prompt(s) every {wandb.get('sample_interval', 100)} steps in the W&B "
        f"project `{wandb.get('project', '?')}` (wandb.ai, Media panel)"
    )


def _outcome(row: TrainingRow) -> str:
    text = _OUTCOME.get(row.status, row.status)
    if row.status in ("failed", "aborted") and row.error:
        text += f"\nError: {row.error}"
    if row.status == "succeeded":
        text += f"\nDownload: `{download_line(row.id)}`"
    return clip(text, FIELD_VALUE)


def _links(row: TrainingRow) -> str:
    parts = [f"[Replicate]({row.web_url})", f"[Model](https://replicate.com/{row.destination})"]
    if row.weights_url:
        parts.append(f"[Weights]({row.weights_url})")
    return clip(" · ".join(parts), FIELD_VALUE)


def notice_embed(row: TrainingRow, payload: Mapping[str, Any]) -> discord.Embed:
    """The owner's message when a training ends, from the payload frozen at the ending."""
    status = str(payload.get("status") or row.status)
    tid = str(payload.get("training_id") or row.id)
    embed = discord.Embed(
        title=clip(f"Training {tid} {status}", 256),
        url=str(payload.get("web_url") or row.web_url),
        colour=STATUS_COLOUR.get(status, 0),
        description=clip(_OUTCOME.get(status, status), DESCRIPTION),
    )
    embed.add_field(name="Destination", value=clip(row.destination, FIELD_VALUE), inline=True)
    trigger = payload.get("trigger_word") or row.trigger_word
    embed.add_field(name="Trigger word", value=clip(f"`{trigger or '?'}`", FIELD_VALUE))
    duration = payload.get("duration_s")
    if isinstance(duration, int | float):
        embed.add_field(name="Duration", value=format_duration(float(duration)), inline=True)
    cost = payload.get("cost_cents")
    if isinstance(cost, int):
        embed.add_field(name="Cost", value=format_cents(cost), inline=True)
    if status == "succeeded":
        weights = payload.get("weights_url") or row.weights_url
        if weights:
            embed.add_field(name="Weights", value=clip(str(weights), FIELD_VALUE), inline=False)
        embed.add_field(name="Download", value=f"`{download_line(tid)}`", inline=False)
    else:
        error = payload.get("error") or row.error
        if error:
            embed.add_field(name="Error", value=clip(str(error), FIELD_VALUE), inline=False)
        tail = payload.get("log_tail")
        if tail:
            embed.add_field(name="End of the log", value=code_block(str(tail)[-900:], 1000))
    return embed


def log_file(row: TrainingRow, payload: Mapping[str, Any]) -> discord.File | None:
    """The last log lines as a .txt attachment (failures only), redacted."""
    if str(payload.get("status") or row.status) == "succeeded":
        return None
    tail = str(payload.get("log_tail") or row.log_tail or "")
    if not tail.strip():
        return None
    data = clip(tail, LOG_FILE_LIMIT).encode("utf-8")
    return discord.File(io.BytesIO(data), filename=f"{row.id}-log-tail.txt")
