"""Test-driving API: fire slash commands, autocomplete, context menus and clicks at the bot.

Builds INTERACTION_CREATE payloads the way Discord's client would, *from the commands the bot
synced*: an unsynced command, an unknown option, a missing required option, a value outside
`choices`/min/max, or a click on a button that isn't in the message raises in the test
(`validate=False` skips the option checks, for testing the bot's own validation).
"""

from __future__ import annotations

import mimetypes
import secrets
from typing import TYPE_CHECKING, Any

from .interactions import InteractionResult
from .state import (
    ALL_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeUser,
    StoredAttachment,
    StoredMessage,
    now_iso,
    snowflake,
)

if TYPE_CHECKING:
    from .core import FakeDiscord

# An attachment given to the driver: (filename, bytes) or (filename, bytes, content_type|None).
AttachmentSpec = tuple[str, bytes] | tuple[str, bytes, str | None]
UserRef = FakeUser | int | None
_SIZE_LIMIT = 10 * 1024 * 1024


class DriverMixin:
    """Mixed into FakeDiscord; every method here needs a running loop and a connected bot."""

    # -- helpers -----------------------------------------------------------------------------

    def _fd(self) -> FakeDiscord:
        return self  # type: ignore[return-value]

    def _user(self, user: UserRef) -> FakeUser:
        fd = self._fd()
        if user is None:
            return fd.state.users[fd.owner_id]
        return user if isinstance(user, FakeUser) else fd.state.users[int(user)]

    def _where(
        self,
        user: FakeUser,
        guild: FakeGuild | int | str | None,
        channel: FakeChannel | int | None,
    ) -> tuple[FakeGuild | None, FakeChannel]:
        fd = self._fd()
        if channel is not None:
            ch = channel if isinstance(channel, FakeChannel) else fd.state.channels[int(channel)]
            g = fd.state.guilds.get(ch.guild_id) if ch.guild_id is not None else None
            return g, ch
        if guild == "dm":
            return None, fd.state.dm_channel_for(user.id)
        g = (
            fd.first_guild()
            if guild is None
            else fd._guild(int(guild) if isinstance(guild, str) else guild)
        )
        return g, fd.default_channel(g)

    def make_attachment(self, spec: AttachmentSpec, channel_id: int) -> dict[str, Any]:
        """Store an uploaded file and return its attachment object (served by the fake)."""
        fd = self._fd()
        name, content = spec[0], spec[1]
        ctype = spec[2] if len(spec) > 2 else mimetypes.guess_type(name)[0]
        att = StoredAttachment(snowflake(), name, content, ctype)
        fd.state.attachments[att.id] = att
        data = att.payload(fd.base_url, channel_id)
        data["ephemeral"] = True
        return data

    def _payload(
        self,
        itype: int,
        data: dict[str, Any] | None,
        user: FakeUser,
        guild: FakeGuild | None,
        channel: FakeChannel,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        fd = self._fd()
        p: dict[str, Any] = {
            "id": str(snowflake()),
            "application_id": str(fd.app_id),
            "type": itype,
            "token": "fake-interaction." + secrets.token_urlsafe(32),
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "app_permissions": str(ALL_PERMISSIONS),
            "attachment_size_limit": _SIZE_LIMIT,
            "channel_id": str(channel.id),
            "channel": channel.payload(fd.state),
        }
        if data is not None:
            p["data"] = data
        if message is not None:
            p["message"] = message
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise ValueError(f"user {user.name} ({user.id}) is not a member of {guild.name}")
            m = member.payload()
            m["permissions"] = str(guild.permissions_of(user.id))
            p.update(
                guild_id=str(guild.id),
                guild_locale="en-US",
                member=m,
                context=0,
                authorizing_integration_owners={"0": str(guild.id)},
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
            )
        else:
            p.update(
                user=user.payload(), context=1, authorizing_integration_owners={"0": str(user.id)}
            )
        return p

    async def _fire(self, payload: dict[str, Any], kind: str) -> InteractionResult:
        fd = self._fd()
        res = InteractionResult(fd, payload, kind)
        fd.interactions.append(res)
        fd.interactions_by_id[res.id] = res
        fd.interactions_by_token[res.token] = res
        await fd.dispatch_event("INTERACTION_CREATE", payload)
        return res

    def find_command(self, name: str, ctype: int, guild: FakeGuild | None) -> dict[str, Any]:
        fd = self._fd()
        pool = (fd.synced_commands(guild.id) if guild else []) + fd.synced_commands()
        for cmd in pool:
            if cmd["name"] == name and int(cmd.get("type") or 1) == ctype:
                return cmd
        names = sorted({c["name"] for c in pool})
        raise LookupError(f"command {name!r} (type {ctype}) is not synced here; synced: {names}")

    # -- options ------------------------------------------------------------------------------

    def _options(
        self,
        defs: list[dict[str, Any]],
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        ctx: tuple[FakeGuild | None, FakeChannel],
        validate: bool,
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in defs}
        out: list[dict[str, Any]] = []
        for name, value in given.items():
            d = by_name.get(name)
            if d is None:
                raise ValueError(f"option {name!r} does not exist; options: {sorted(by_name)}")
            otype = int(d["type"])
            if otype in (1, 2):
                sub = self._options(
                    d.get("options") or [], value or {}, resolved, ctx, validate, focused
                )
                out.append({"name": name, "type": otype, "options": sub})
                continue
            opt: dict[str, Any] = {"name": name, "type": otype}
            if name == focused:
                opt.update(value=str(value), focused=True)  # autocomplete: raw partial text
            else:
                opt["value"] = self._convert(d, value, resolved, ctx, validate)
            out.append(opt)
        if validate and focused is None:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in given]
            if missing and not any(int(d["type"]) in (1, 2) for d in defs):
                raise ValueError(f"required options missing: {missing}")
        return out

    def _convert(
        self,
        d: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        ctx: tuple[FakeGuild | None, FakeChannel],
        validate: bool,
    ) -> Any:
        otype, name = int(d["type"]), d["name"]
        if otype == 11:
            att = value if isinstance(value, dict) else self.make_attachment(value, ctx[1].id)
            resolved.setdefault("attachments", {})[att["id"]] = att
            return att["id"]
        if otype == 6:
            user = self._user(value)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            guild = ctx[0]
            if guild is not None and user.id in guild.members:
                member = guild.members[user.id].payload(with_user=False)
                member["permissions"] = str(guild.permissions_of(user.id))
                resolved.setdefault("members", {})[str(user.id)] = member
            return str(user.id)
        conv: Any = {3: str, 4: int, 5: bool, 10: float}.get(otype, lambda v: v)
        out = conv(value)
        if validate:
            choices = d.get("choices") or []
            if choices and out not in [c["value"] for c in choices]:
                raise ValueError(f"{name}={out!r} is not one of the choices {choices}")
            lo, hi = d.get("min_value"), d.get("max_value")
            if (lo is not None and out < lo) or (hi is not None and out > hi):
                raise ValueError(f"{name}={out!r} outside [{lo}, {hi}] (Discord's client refuses)")
            lo, hi = d.get("min_length"), d.get("max_length")
            if otype == 3 and ((lo and len(out) < lo) or (hi and len(out) > hi)):
                raise ValueError(f"{name} length {len(out)} outside [{lo}, {hi}]")
        return out

    # -- public driving API ------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: UserRef = None,
        guild: FakeGuild | int | str | None = None,
        channel: FakeChannel | int | None = None,
        attachments: list[AttachmentSpec] | None = None,
        validate: bool = True,
    ) -> InteractionResult:
        """Invoke a synced slash command. `guild="dm"` runs it in the user's DMs.

        `attachments` fill the command's attachment options not given in `options`, in order.
        """
        u = self._user(user)
        g, ch = self._where(u, guild, channel)
        cmd = self.find_command(name, 1, g)
        given = dict(options or {})
        defs = cmd.get("options") or []
        free = [d["name"] for d in defs if int(d["type"]) == 11 and d["name"] not in given]
        for spec in attachments or []:
            if not free:
                raise ValueError(f"/{name} has no free attachment option for {spec[0]!r}")
            given[free.pop(0)] = spec
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._options(defs, given, resolved, (g, ch), validate)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        if g is not None:
            data["guild_id"] = str(g.id)
        if resolved:
            data["resolved"] = resolved
        return await self._fire(self._payload(2, data, u, g, ch), "slash")

    async def autocomplete_interaction(
        self,
        name: str,
        option: str,
        value: str,
        *,
        user: UserRef = None,
        options: dict[str, Any] | None = None,
        guild: FakeGuild | int | str | None = None,
        channel: FakeChannel | int | None = None,
    ) -> InteractionResult:
        u = self._user(user)
        g, ch = self._where(u, guild, channel)
        cmd = self.find_command(name, 1, g)
        given = {**(options or {}), option: value}
        opts = self._options(cmd.get("options") or [], given, {}, (g, ch), False, focused=option)
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        return await self._fire(self._payload(4, data, u, g, ch), "autocomplete")

    async def autocomplete(
        self, name: str, option: str, value: str, user: UserRef = None, **kw: Any
    ) -> list[dict[str, Any]]:
        """Type into an autocomplete option; returns the choices the bot answered."""
        timeout = float(kw.pop("timeout", 5.0))
        res = await self.autocomplete_interaction(name, option, value, user=user, **kw)
        return await res.wait_choices(timeout=timeout)

    async def context_menu(
        self, name: str, message: StoredMessage | int, user: UserRef = None
    ) -> InteractionResult:
        """Run a message context-menu command on `message` (attachments included)."""
        fd = self._fd()
        msg = message if isinstance(message, StoredMessage) else fd.message(message)
        u = self._user(user)
        g, ch = self._where(u, None, msg.channel_id)
        cmd = self.find_command(name, 3, g)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": str(msg.id),
            "resolved": {"messages": {str(msg.id): msg.snapshot()}},
        }
        if g is not None:
            data["guild_id"] = str(g.id)
        return await self._fire(self._payload(2, data, u, g, ch), "context_menu")

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        user: UserRef = None,
    ) -> InteractionResult:
        """Click a button of `message` by custom_id or by (substring of) label."""
        fd = self._fd()
        msg = message if isinstance(message, StoredMessage) else fd.message(message)
        if msg.deleted:
            raise ValueError(f"message {msg.id} was deleted")
        buttons = msg.buttons()
        hit = [
            b
            for b in buttons
            if (custom_id is not None and b.get("custom_id") == custom_id)
            or (label is not None and label in (b.get("label") or ""))
        ]
        if not hit:
            raise ValueError(f"no button {custom_id or label!r} in message; buttons: {buttons}")
        button = hit[0]
        if button.get("disabled"):
            raise ValueError(f"button {button} is disabled")
        if "custom_id" not in button:
            raise ValueError(f"button {button} is a link button")
        u = self._user(user)
        g, ch = self._where(u, None, msg.channel_id)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._fire(self._payload(3, data, u, g, ch, msg.snapshot()), "click")

    async def submit_modal(
        self, res: InteractionResult, values: dict[str, Any], *, user: UserRef = None
    ) -> InteractionResult:
        """Fill in and submit the modal the bot answered `res` with (callback type 9).

        `values` are keyed by a text input's custom_id or by (a substring of) its label; inputs
        not given keep their default. Required inputs left empty and values over max_length raise,
        as Discord's client would refuse them. A file upload (in a label) takes a list of
        attachment specs `(name, bytes[, content type])`, sent as resolved attachments. `user`
        (default: who opened it) submits.
        """
        modal = next((c["data"] for c in res.callbacks if c["type"] == 9), None)
        if modal is None:
            raise ValueError(f"the bot did not answer {res!r} with a modal: {res.callbacks}")
        fd = self._fd()
        u = self._user(user) if user is not None else fd.state.users[res.user_id]
        g, ch = self._where(u, None, res.channel_id)
        rows: list[dict[str, Any]] = []
        attachments: dict[str, Any] = {}
        for row in modal.get("components") or []:
            inner = row.get("component") or {}
            if row.get("type") == 18 and inner.get("type") == 19:
                label = str(row.get("label") or "")
                keys = [k for k in values if k == inner["custom_id"] or k in label]
                specs = values[keys[0]] if keys else []
                if inner.get("required", True) and not specs:
                    raise ValueError(f"modal file upload {label!r} is required")
                made = [self.make_attachment(spec, ch.id) for spec in specs]
                attachments.update((a["id"], a) for a in made)
                upload = {
                    "type": 19,
                    "custom_id": inner["custom_id"],
                    "values": [a["id"] for a in made],
                }
                rows.append({"type": 18, "component": upload})
                continue
            inner_list = row.get("components") if row.get("type") == 1 else [inner]
            answered = []
            for comp in inner_list or []:
                if not comp or comp.get("type") != 4:
                    continue
                label = str(comp.get("label") or row.get("label") or "")
                keys = [k for k in values if k == comp["custom_id"] or k in label]
                value = values[keys[0]] if keys else str(comp.get("value") or "")
                if comp.get("required", True) and not value:
                    raise ValueError(f"modal input {label!r} is required")
                if comp.get("max_length") and len(value) > int(comp["max_length"]):
                    raise ValueError(f"modal input {label!r} is over {comp['max_length']} chars")
                answered.append({"type": 4, "custom_id": comp["custom_id"], "value": value})
            rows.append({"type": 1, "components": answered})
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": rows}
        if attachments:
            data["resolved"] = {"attachments": attachments}
        return await self._fire(self._payload(5, data, u, g, ch), "modal")

    async def user_message(
        self,
        channel: FakeChannel | int,
        user: UserRef = None,
        content: str = "",
        attachments: list[AttachmentSpec] | None = None,
    ) -> StoredMessage:
        """A user posts in a channel (e.g. a YAML file to run the context menu on)."""
        fd = self._fd()
        u = self._user(user)
        ch = channel if isinstance(channel, FakeChannel) else fd.state.channels[int(channel)]
        atts = [self.make_attachment(a, ch.id) for a in attachments or []]
        for att in atts:
            att.pop("ephemeral", None)
        data: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(ch.id),
            "type": 0,
            "author": u.payload(),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": atts,
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        stored = StoredMessage(data=data)
        fd.state.messages[stored.id] = stored
        await fd.dispatch_event("MESSAGE_CREATE", stored.snapshot())
        fd.notify()
        return stored
