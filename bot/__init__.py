"""sd35l-trainer: train SD3.5 Large LoRAs on Replicate from Discord or the command line.

`bot.create_bot()` builds the Discord bot from the environment without touching the network.
Importing this package does not import discord.py (the CLI's `--help` stays fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from discord.ext import commands

__all__ = ["create_bot"]


def create_bot(**kwargs: Any) -> commands.Bot:
    """Build the configured `commands.Bot`; nothing connects until `start()`."""
    from bot.app import create_bot as _create_bot

    return _create_bot(**kwargs)
