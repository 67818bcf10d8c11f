"""What every cog shares: the bot's services, role guards, config attachments, autocomplete.

Not an extension itself (no `setup`): the feature cogs import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.config.model import load_presets, parse_config_text
from bot.core.config.parse import MAX_CONFIG_BYTES
from bot.core.errors import InputError, ServiceError
from bot.core.jobs.service import NotAllowedError
from bot.core.store.rows import TrainingRow
from bot.ui.format import clip

if TYPE_CHECKING:
    from bot.app import TrainerBot

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
PRESET_CHOICES = [app_commands.Choice(name=n, value=n) for n in load_presets()]


def services(interaction: discord.Interaction[Any]) -> TrainerBot:
    """The running bot with its store, job service and settings."""
    return interaction.client  # type: ignore[no-any-return]


def _has_role(user: discord.abc.User, specs: Iterable[str]) -> bool:
    wanted = {s.strip().lower() for s in specs if s.strip()}
    if not isinstance(user, discord.Member):
        return False
    return any(str(r.id) in wanted or r.name.lower() in wanted for r in user.roles)


def may_start(user: discord.abc.User, allowed_roles: list[str]) -> bool:
    """Everyone when SD35L_ALLOWED_ROLES is empty, else members holding one of those roles."""
    return not allowed_roles or _has_role(user, allowed_roles)


def require_start(user: discord.abc.User, allowed_roles: list[str]) -> None:
    if not may_start(user, allowed_roles):
        raise NotAllowedError(
            "Starting trainings is limited to the roles in SD35L_ALLOWED_ROLES "
            f"({', '.join(allowed_roles)}); ask a server admin for one of them.",
            field="SD35L_ALLOWED_ROLES",
        )


def is_manager(user: discord.abc.User, manager_roles: list[str]) -> bool:
    return bool(manager_roles) and _has_role(user, manager_roles)


def require_cancel(row: TrainingRow, user: discord.abc.User, manager_roles: list[str]) -> bool:
    """Raise unless `user` created the training or manages; returns whether they manage."""
    manager = is_manager(user, manager_roles)
    if user.id != row.owner_id and not manager:
        raise NotAllowedError(
            f"Only the creator of training {row.id} or a member with a manager role "
            "(SD35L_MANAGER_ROLES) can cancel it.",
            field="training",
        )
    return manager


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
    return parse_config_text(text, source=name)


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
        rows = await bot.store.list_trainings(
            guild_id=interaction.guild_id,
            owner_id=interaction.user.id if own_only else None,
            status="active" if active_only else None,
            limit=25,
            query=current.strip() or None,
        )
    except Exception:
        return []
    return [training_choice(r) for r in rows][:25]
