"""The fake's aiohttp application: Discord's REST routes the bot uses, plus the gateway socket.

Every request is recorded (body, uploaded file names/sizes, headers minus Authorization) so
tests can check leaks afterwards. Every body is checked before it is handled, against Discord's
OpenAPI request schema for its route plus the rules in limits.py: a bad one is refused like
Discord refuses it (400, code 50035, the failing paths in `errors`) and kept in
`fd.refused_requests`; a file over the size limit gets 413 (code 40005). Unknown routes answer
404 JSON and are listed in `fd.unknown_requests` so a test notices the bot calling something
the fake doesn't model.
Responses use `Content-Type: application/json` exactly: discord.py only parses JSON then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import messages as msgs
from .gateway import gateway_handler
from .limits import MAX_FILE, request_problems
from .spec import Problem, body_required, file_fields, invalid_form_body, template_for
from .state import FakeChannel, FakeGuild, StoredMessage, snowflake

if TYPE_CHECKING:
    from .core import FakeDiscord

API = "/api/v10"
Files = list[tuple[str, bytes, str | None]]
Parts = list[str]
Handler = Callable[["_Call"], Awaitable[web.Response]]


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any  # parsed JSON body, or the payload_json of a multipart body
    files: list[tuple[str, int]]  # (filename, size)
    headers: dict[str, str]  # Authorization removed
    authorized: bool  # carried "Bot <token>"
    token_in_body: bool
    status: int = 0
    route: str = ""
    file_fields: list[str] = field(default_factory=list)  # multipart part names of the files
    problems: list[Problem] = field(default_factory=list)  # why the fake refused the body


@dataclass
class _Call:
    request: web.Request
    match: dict[str, str]
    json: Any
    files: Files = field(default_factory=list)

    def id(self, key: str) -> int:
        return int(self.match[key])


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with the exact Content-Type discord.py checks for (no charset parameter)."""
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status)


def unknown_message() -> web.Response:
    return error(404, 10008, "Unknown Message")


class RestApi:
    """Route table + handlers. Interaction-specific handlers live in `interaction_routes`."""

    def __init__(self, fd: FakeDiscord) -> None:
        from .doctor_routes import doctor_routes
        from .interaction_routes import interaction_routes

        self.fd = fd
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        r = self.add
        r("GET", "/gateway/bot", self.gateway_bot)
        r("GET", "/gateway", self.gateway_bot, auth=False)
        r("GET", "/users/@me", self.me)
        r("GET", "/oauth2/applications/@me", self.application)
        r("GET", "/applications/@me", self.application)
        r("GET", "/users/{user}", self.get_user)
        r("POST", "/users/@me/channels", self.create_dm)
        cmds = "/applications/{app}/commands"
        gcmds = "/applications/{app}/guilds/{guild}/commands"
        r("PUT", cmds, self.put_commands)
        r("GET", cmds, self.get_commands)
        r("PUT", gcmds, self.put_commands)
        r("GET", gcmds, self.get_commands)
        r("GET", "/channels/{channel}", self.get_channel)
        r("POST", "/channels/{channel}/messages", self.create_message)
        r("GET", "/channels/{channel}/messages", self.list_messages)
        r("GET", "/channels/{channel}/messages/{message}", self.get_message)
        r("PATCH", "/channels/{channel}/messages/{message}", self.edit_message)
        r("DELETE", "/channels/{channel}/messages/{message}", self.delete_message)
        r("GET", "/guilds/{guild}", self.get_guild)
        r("GET", "/guilds/{guild}/channels", self.guild_channels)
        r("GET", "/guilds/{guild}/roles", self.guild_roles)
        r("GET", "/guilds/{guild}/members/{user}", self.get_member)
        for method, path, handler, auth in (*interaction_routes(fd), *doctor_routes(fd)):
            r(method, path, handler, auth=auth)

    def add(self, method: str, path: str, handler: Handler, *, auth: bool = True) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        self.routes.append((method, re.compile(pattern + "$"), handler, auth))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway)
        app.router.add_get("/attachments/{channel}/{id}/{name}", self.serve_attachment)
        app.router.add_route("*", API + "/{tail:.*}", self.dispatch)
        from .doctor_routes import install_date

        install_date(app, self.fd)
        return app

    async def gateway(self, request: web.Request) -> web.StreamResponse:
        return await gateway_handler(self.fd, request)

    # -- plumbing -------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[Any, Files, bytes, Parts]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: Files = []
            names: Parts = []
            raw = b""
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                raw += bytes(data)
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data)
                else:
                    ctype = part.headers.get("Content-Type")  # type: ignore[union-attr]
                    files.append((part.filename or "file", bytes(data), ctype))  # type: ignore[union-attr]
                    names.append(part.name or "")  # type: ignore[union-attr]
            return payload, files, raw, names
        raw = await request.read()
        if not raw:
            return None, [], raw, []
        try:
            return json.loads(raw), [], raw, []
        except ValueError:
            return raw.decode("utf-8", "replace"), [], raw, []

    async def dispatch(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, files, raw, names = await self._read(request)
        auth = request.headers.get("Authorization")
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=[(name, len(content)) for name, content, _ in files],
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            authorized=auth == f"Bot {self.fd.token}",
            token_in_body=self.fd.token.encode() in raw,
            file_fields=names,
        )
        self.fd.requests.append(rec)
        response = await self._route(request, path, body, files, rec)
        rec.status = response.status
        if response.status == 404 and rec.route == "":
            self.fd.unknown_requests.append(rec)
        self.fd.notify()
        return response

    async def _route(
        self, request: web.Request, path: str, body: Any, files: Files, rec: RecordedRequest
    ) -> web.Response:
        for method, pattern, handler, needs_auth in self.routes:
            m = pattern.match(path)
            if m is None or method != request.method:
                continue
            rec.route = f"{method} {pattern.pattern}"
            if needs_auth and not rec.authorized:
                return error(401, 0, "401: Unauthorized")
            refused = self._refuse(request.method, path, body, files, rec)
            if refused is not None:
                return refused
            return await handler(_Call(request, m.groupdict(), body, files))
        return error(
            404, 0, f"404: Not Found ({request.method} {path} is not modelled by the fake)"
        )

    def _refuse(
        self, method: str, path: str, body: Any, files: Files, rec: RecordedRequest
    ) -> web.Response | None:
        """Discord's answer to a body its rules refuse (None: the body is fine)."""
        template = template_for(path)
        if template is None or method in ("GET", "DELETE"):
            return None
        if any(len(content) > MAX_FILE for _, content, _ in files):
            rec.problems = [Problem(("files",), "FILE_TOO_LARGE", "Request entity too large")]
            self.fd.refused_requests.append(rec)
            return error(413, 40005, "Request entity too large")
        if body is None and body_required(method, template):
            rec.problems = [Problem((), "BASE_TYPE_REQUIRED", "This field is required")]
        else:
            rec.problems = request_problems(method, template, body)
        allowed = file_fields(method, template)
        rec.problems += [
            Problem((name,), "BASE_TYPE_INVALID", "Unknown file field.")
            for name in rec.file_fields
            if name not in allowed
        ]
        if not rec.problems:
            return None
        self.fd.refused_requests.append(rec)
        self.fd.body_refused(rec)
        return json_response(invalid_form_body(rec.problems), 400)

    async def serve_attachment(self, request: web.Request) -> web.Response:
        att = self.fd.state.attachments.get(int(request.match_info["id"]))
        if att is None:
            return web.Response(status=404, text="not found")
        return web.Response(
            body=att.content, content_type=att.content_type or "application/octet-stream"
        )

    def _channel(self, call: _Call) -> FakeChannel | None:
        return self.fd.state.channels.get(call.id("channel"))

    def _message(self, call: _Call) -> StoredMessage | None:
        stored = self.fd.state.messages.get(call.id("message"))
        if stored is None or stored.deleted or stored.channel_id != call.id("channel"):
            return None
        if stored.ephemeral:  # ephemeral messages only exist for the interaction token
            return None
        return stored

    # -- handlers -------------------------------------------------------------------------

    async def gateway_bot(self, call: _Call) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response(
            {"url": self.fd.gateway_url, "shards": 1, "session_start_limit": limit}
        )

    async def me(self, call: _Call) -> web.Response:
        data = self.fd.bot_user.payload()
        data.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
        return json_response(data)

    async def application(self, call: _Call) -> web.Response:
        owner = self.fd.state.users[self.fd.owner_id].payload()
        return json_response(
            {
                "id": str(self.fd.app_id),
                "name": self.fd.bot_user.name,
                "description": "",
                "icon": None,
                "bot_public": getattr(self.fd, "bot_public", False),
                "bot_require_code_grant": False,
                "owner": owner,
                "team": None,
                "verify_key": "0" * 64,
                "flags": self.fd.application_flags,
                "summary": "",
                "bot": self.fd.bot_user.payload(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "approximate_guild_count": len(self.fd.state.guilds),
            }
        )

    async def get_user(self, call: _Call) -> web.Response:
        user = self.fd.state.users.get(call.id("user"))
        if user is None:
            return error(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def create_dm(self, call: _Call) -> web.Response:
        user_id = int((call.json or {}).get("recipient_id", 0))
        if user_id not in self.fd.state.users:
            return error(400, 50035, "Invalid Form Body: recipient_id")
        channel = self.fd.state.dm_channel_for(user_id)
        return json_response(channel.payload(self.fd.state))

    async def put_commands(self, call: _Call) -> web.Response:
        if call.id("app") != self.fd.app_id:
            return error(403, 50001, "Missing Access")
        guild_id = call.id("guild") if "guild" in call.match else None
        if guild_id is not None and guild_id not in self.fd.state.guilds:
            return error(403, 50001, "Missing Access")
        problems = self.fd.command_problems(call.json)
        if problems:
            return error(400, 50035, "Invalid Form Body: " + "; ".join(problems))
        stored = [self.fd.register_command(c, guild_id) for c in call.json or []]
        if guild_id is None:
            self.fd.state.global_commands = stored
        else:
            self.fd.state.guild_commands[guild_id] = stored
        counts = self.fd.state.sync_counts
        counts[guild_id] = counts.get(guild_id, 0) + 1
        return json_response(stored)

    async def get_commands(self, call: _Call) -> web.Response:
        if "guild" in call.match:
            return json_response(self.fd.state.guild_commands.get(call.id("guild"), []))
        return json_response(self.fd.state.global_commands)

    async def get_channel(self, call: _Call) -> web.Response:
        channel = self._channel(call)
        if channel is None:
            return error(404, 10003, "Unknown Channel")
        return json_response(channel.payload(self.fd.state))

    async def create_message(self, call: _Call) -> web.Response:
        channel = self._channel(call)
        if channel is None:
            return error(404, 10003, "Unknown Channel")
        if channel.type == 1:
            user = self.fd.state.users.get(channel.recipient_id or 0)
            if user is None or user.dms_closed:
                return error(403, 50007, "Cannot send messages to this user")
        body = call.json if isinstance(call.json, dict) else {}
        nonce = body.get("nonce")  # its type and length (25) were checked with the spec
        key = (self.fd.app_id, str(nonce))
        earlier = self.fd.state.nonces.get(key) if body.get("enforce_nonce") else None
        if earlier is not None and self.fd.loop_time() - earlier[1] < self.fd.nonce_window:
            self.fd.nonce_hits += 1  # Discord: the earlier message, no second one
            return json_response(self.fd.state.messages[earlier[0]].data)
        stored = msgs.new_message(self.fd, channel.id, body, call.files)
        if nonce is not None:
            self.fd.state.nonces[key] = (stored.id, self.fd.loop_time())
        await self.fd.dispatch_event("MESSAGE_CREATE", stored.snapshot())
        return json_response(stored.data)

    async def list_messages(self, call: _Call) -> web.Response:
        if self._channel(call) is None:
            return error(404, 10003, "Unknown Channel")
        found = [
            m.data
            for m in self.fd.state.channel_messages(call.id("channel"))
            if not m.deleted and not m.ephemeral
        ]
        return json_response(list(reversed(found))[: int(call.request.query.get("limit", 50))])

    async def get_message(self, call: _Call) -> web.Response:
        stored = self._message(call)
        return unknown_message() if stored is None else json_response(stored.data)

    async def edit_message(self, call: _Call) -> web.Response:
        stored = self._message(call)
        if stored is None:
            return unknown_message()
        if stored.author_id != self.fd.app_id:
            return error(403, 50005, "Cannot edit a message authored by another user")
        body = call.json if isinstance(call.json, dict) else {}
        msgs.edit_message(self.fd, stored, body, call.files)
        return json_response(stored.data)

    async def delete_message(self, call: _Call) -> web.Response:
        stored = self._message(call)
        if stored is None:
            return unknown_message()
        self.fd.delete_message(stored.channel_id, stored.id)
        return web.Response(status=204)

    def _guild(self, call: _Call) -> FakeGuild | None:
        return self.fd.state.guilds.get(call.id("guild"))

    async def get_guild(self, call: _Call) -> web.Response:
        guild = self._guild(call)
        if guild is None:
            return error(404, 10004, "Unknown Guild")
        data = guild.payload()
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def guild_channels(self, call: _Call) -> web.Response:
        guild = self._guild(call)
        if guild is None:
            return error(404, 10004, "Unknown Guild")
        return json_response([c.payload() for c in guild.channels.values()])

    async def guild_roles(self, call: _Call) -> web.Response:
        guild = self._guild(call)
        if guild is None:
            return error(404, 10004, "Unknown Guild")
        return json_response([r.payload() for r in guild.roles.values()])

    async def get_member(self, call: _Call) -> web.Response:
        guild = self._guild(call)
        if guild is None:
            return error(404, 10004, "Unknown Guild")
        member = guild.members.get(call.id("user"))
        if member is None:
            return error(404, 10007, "Unknown Member")
        return json_response(member.payload())


__all__ = ["RecordedRequest", "RestApi", "error", "json_response", "snowflake"]
