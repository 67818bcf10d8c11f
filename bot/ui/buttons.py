"""The base of every persistent button (a discord.py DynamicItem), and the view that holds them.

A button's custom_id is `sd35l:<action>:<key>`, where the key is a preview key or a training id.
custom_ids are visible to clients, so every button re-reads the owner from the database before
acting. `KeyedButton` owns what all buttons share: building the button from its key, rebuilding
it from a clicked custom_id (after a restart too), and answering any failure with one sentence
(discord.py only logs errors raised in item callbacks). A subclass says only what it does.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from bot.tree import reply_error

ID_CHARS = r"[A-Za-z0-9_-]{1,64}"


class KeyedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button whose custom_id carries one key; subclasses declare their action and look:

    class StartButton(KeyedButton, action="start", label="Start training",
                      style=discord.ButtonStyle.success):
        async def run(self, interaction): ...
    """

    action: ClassVar[str]
    label: ClassVar[str]
    style: ClassVar[discord.ButtonStyle]

    def __init_subclass__(cls, *, action: str, label: str, style: discord.ButtonStyle) -> None:
        super().__init_subclass__(template=rf"sd35l:{re.escape(action)}:(?P<key>{ID_CHARS})")
        cls.action, cls.label, cls.style = action, label, style

    def __init__(self, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.label, style=self.style, custom_id=f"sd35l:{self.action}:{key}"
            )
        )
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction)
        except Exception as exc:
            await reply_error(interaction, exc)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        """What a click does; raise `SD35LError` for a one-sentence answer to the clicker."""
        raise NotImplementedError


def view_of(*buttons: discord.ui.Item[Any]) -> discord.ui.View:
    """A persistent view (timeout None) holding the given buttons."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view
