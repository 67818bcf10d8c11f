"""What every cog shares: config attachments and autocomplete, plus the bot's services and
role guards from `bot.ui.access` (named here too, so a cog imports one place).

Not an extension itself (no `setup`): the feature cogs import it.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.core.config.model import load_presets, parse_config_text
from bot.core.errors import InputError, ServiceError
from bot.core.limits import MAX_CONFIG_BYTES
from bot.core.store.rows import TrainingRow
from bot.ui.access import is_manager, may_start, require_start
from bot.ui.format import clip
from bot.ui.services import services

__all__ = [
    "CONFIG_SUFFIXES",
    "PRESET_CHOICES",
    "config_attachment_of",
    "is_manager",
    "may_start",
    "read_config",
    "require_start",
    "services",
    "training_choice",
    "training_choices",
]

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
PRESET_CHOICES = [app_commands.Choice(name=n, value=n) for n in load_presets()]


def config_attachment_of(message: discord.Message) -> discord.Attachment | None:
    for attachment in message.attachments:
        if attachment.filename.lower().endswith(CONFIG_SUFFIXES):
            return attachment
    return None


async def read_config(attachment: discord.Attachment) -> dict[str, Any]:
    """Type and size are checked before a single byte is downloaded."""
    name = attachment.filename
    if not name.lower().endswith(CONFIG_SUFFIXES):
        raise InputError(
            f"config: {clip(name, 80)} is not a config file; attach a .yaml, .yml or .json file "
            "(get one with /config-template).",
            field="config",
        )
    if attachment.size > MAX_CONFIG_BYTES:
        raise InputError(
            f"config: {clip(name, 80)} is {attachment.size:,} bytes; a config file may be at "
            f"most {MAX_CONFIG_BYTES // 1024} KB.",
            field="config",
        )
    try:
        data = await attachment.read()
    except discord.HTTPException as exc:
        raise ServiceError(
            f"Could not download the attachment {clip(name, 80)} from Discord ({exc.status}); "
            "try again."
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(
            f"config: {clip(name, 80)} is larger than {MAX_CONFIG_BYTES // 1024} KB.",
            field="config",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"config: {clip(name, 80)} is not UTF-8 text; save it as UTF-8 YAML or JSON.",
            field="config",
        ) from None
    # Unknown keys are listed by resolve_config together with the values' own problems: one
    # reply names every mistake, as the CLI's does.
    return parse_config_text(text, source=name, check_keys=False)


def training_choice(row: TrainingRow) -> app_commands.Choice[str]:
    label = f"{row.id} · {row.status} · {row.destination} · {row.trigger_word or ''}"
    return app_commands.Choice(name=clip(label, 100), value=row.id)


async def training_choices(
    interaction: discord.Interaction[Any],
    current: str,
    *,
    active_only: bool,
    own_only: bool = False,
) -> list[app_commands.Choice[str]]:
    """At most 25 trainings of this server matching what was typed (never raises)."""
    bot = services(interaction)
    try:
        rows = await bot.store.trainings.find(
            guild_id=interaction.guild_id,
            owner_id=interaction.user.id if own_only else None,
            status="active" if active_only else None,
            limit=25,
            query=current.strip() or None,
        )
    except Exception:
        return []
    return [training_choice(r) for r in rows][:25]
