"""The buttons' custom_ids and looks. Their behaviour lives in the cogs (DynamicItems).

custom_ids carry only a key (a preview key or a training id): they are visible to clients,
so every callback re-reads the owner from the database before acting.
"""

from __future__ import annotations

from typing import Any

import discord

ID_CHARS = r"[A-Za-z0-9_-]{1,64}"
START_TEMPLATE = rf"sd35l:start:(?P<key>{ID_CHARS})"
DISCARD_TEMPLATE = rf"sd35l:discard:(?P<key>{ID_CHARS})"
CANCEL_TEMPLATE = rf"sd35l:cancel:(?P<id>{ID_CHARS})"
CONFIRM_TEMPLATE = rf"sd35l:confirm-cancel:(?P<id>{ID_CHARS})"
AGAIN_TEMPLATE = rf"sd35l:again:(?P<id>{ID_CHARS})"


def start_button(key: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Start training", style=discord.ButtonStyle.success, custom_id=f"sd35l:start:{key}"
    )


def discard_button(key: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Cancel", style=discord.ButtonStyle.secondary, custom_id=f"sd35l:discard:{key}"
    )


def cancel_button(training_id: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Cancel training",
        style=discord.ButtonStyle.danger,
        custom_id=f"sd35l:cancel:{training_id}",
    )


def confirm_button(training_id: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Yes, Cancel it for good",
        style=discord.ButtonStyle.danger,
        custom_id=f"sd35l:confirm-cancel:{training_id}",
    )


def again_button(training_id: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Train again",
        style=discord.ButtonStyle.primary,
        custom_id=f"sd35l:again:{training_id}",
    )


def view_of(*buttons: discord.ui.Item[Any]) -> discord.ui.View:
    """A persistent view (timeout None) holding the given buttons."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view
