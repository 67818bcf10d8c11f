"""Every button, select and form the bot can show passes Discord's rules (the fake's own checks).

The classes are found in the code (every KeyedButton subclass, every Modal, Select and View
subclass in bot/ui and cogs), so a new button is checked without touching this file; a new form,
select or view needs its sample arguments in FORMS / SELECTS / VIEWS, and the test says so.
The end-to-end tests send the same bodies through discord.py to the fake, which refuses any
that break a rule.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import discord

import bot.ui
import cogs
from bot.ui.approvals import ReasonForm
from bot.ui.buttons import ID_CHARS, KeyedButton, view_of
from bot.ui.caption_forms import CaptionFileModal, CaptionsModal
from cogs.images import ImagesModal
from tests.fakediscord.limits import CALLBACK, CHANNEL_MESSAGES, WEBHOOK_MESSAGES, request_problems

LONGEST_KEY = "k" * int(ID_CHARS.rsplit(",", 1)[1].rstrip("}"))  # the longest key a button takes


def _import_everything() -> None:
    for package in (bot.ui, cogs):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


def _subclasses(cls: type) -> list[type]:
    _import_everything()
    out: list[type] = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith(("bot.", "cogs.")):
            out.append(sub)
        out += [s for s in _subclasses(sub) if s not in out]
    return out


def _done_download() -> asyncio.Future[bytes]:
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    future.set_result(b"")
    return future


class _Client:
    """Stands in for the bot a caption form belongs to."""


# Sample arguments for each form, at their longest where a value reaches the body.
FORMS: dict[str, Callable[[], discord.ui.Modal]] = {
    "ReasonForm": lambda: ReasonForm(LONGEST_KEY, set(), 1),
    "ImagesModal": lambda: ImagesModal(
        1,
        "3 images",
        _done_download(),  # type: ignore[arg-type]
        "someone/" + "m" * 90,
    ),
    "_OwnedModal": lambda: CaptionFileModal(
        _Client(), LONGEST_KEY
    ),  # the base, never sent on its own
    "CaptionsModal": lambda: CaptionsModal(
        _Client(), LONGEST_KEY, [(f"{i:04d}_" + "n" * 60 + ".jpeg", "c" * 5000) for i in range(6)]
    ),
    "CaptionFileModal": lambda: CaptionFileModal(_Client(), LONGEST_KEY),
}
SELECTS: dict[str, Callable[[], discord.ui.Select[Any]]] = {}
VIEWS: dict[str, Callable[[], discord.ui.View]] = {}


def _message_problems(body: dict[str, Any]) -> list[str]:
    """The same body sent every way a message goes out: channel, reply, update, follow-up."""
    problems = request_problems("POST", CHANNEL_MESSAGES[0], body)
    problems += request_problems("PATCH", CHANNEL_MESSAGES[1], body)
    problems += request_problems("POST", CALLBACK, {"type": 4, "data": body})
    problems += request_problems("POST", CALLBACK, {"type": 7, "data": body})
    for route in WEBHOOK_MESSAGES:
        problems += request_problems("PATCH", route, body)
    return [str(p) for p in problems]


def test_every_button_passes_discord_s_rules() -> None:
    buttons = _subclasses(KeyedButton)
    assert len(buttons) >= 7, buttons  # approve, reject, start, discard, again, two cancels
    for cls in buttons:
        item = cls(LONGEST_KEY)
        body = {"content": "x", "components": view_of(item).to_components()}
        assert _message_problems(body) == [], cls
        (button,) = body["components"][0]["components"]
        assert cls.__discord_ui_compiled_template__.fullmatch(button["custom_id"]), cls
    everything = view_of(*(cls(LONGEST_KEY) for cls in buttons))
    assert _message_problems({"components": everything.to_components()}) == []


async def test_every_form_and_select_passes_discord_s_rules() -> None:
    forms = {cls.__name__ for cls in _subclasses(discord.ui.Modal)}
    assert forms <= set(FORMS), f"add sample arguments for {forms - set(FORMS)} to FORMS"
    assert forms, "the bot has forms (Reject's reason, the images form)"
    for name in sorted(forms):
        form = FORMS[name]()
        body = {"type": 9, "data": form.to_dict()}
        problems = [str(p) for p in request_problems("POST", CALLBACK, body)]
        assert problems == [], (name, problems)
        form.stop()
    selects = {cls.__name__ for cls in _subclasses(discord.ui.Select)}
    assert selects <= set(SELECTS), f"add sample arguments for {selects - set(SELECTS)}"
    for name in sorted(selects):
        view = discord.ui.View()
        view.add_item(SELECTS[name]())
        assert _message_problems({"components": view.to_components()}) == [], name
    views = {cls.__name__ for cls in _subclasses(discord.ui.View)}
    assert views <= set(VIEWS), f"add sample arguments for {views - set(VIEWS)} to VIEWS"
    for name in sorted(views):
        assert _message_problems({"components": VIEWS[name]().to_components()}) == [], name


def test_the_reason_form_s_label_is_within_discord_s_45() -> None:
    """The 51-character label ("Reason for the owner (optional, max 300 characters)") made
    Discord refuse the whole form; the limit now lives in the placeholder."""
    form = ReasonForm(LONGEST_KEY, set(), 1)
    (row,) = form.to_dict()["components"]
    (field,) = row["components"]
    assert len(field["label"]) <= 45 and "300 characters" in field["placeholder"]
    long = {**field, "label": "x" * 46}
    body = {"type": 9, "data": {**form.to_dict(), "components": [{**row, "components": [long]}]}}
    assert [str(p) for p in request_problems("POST", CALLBACK, body)] == [
        "data.components.0.components.0.label: Must be 45 or fewer in length."
    ]
