"""REST routes tied to an interaction token: the callback, `@original`, and followups.

Models the Discord rules that bite bots: one callback per interaction, only within the
deadline (else 10062 Unknown interaction), callback types must fit the interaction type, an
expired token answers 401 50027, and the first followup after a "thinking" defer fills in the
deferred message instead of posting a new one. The callback answers with a JSON
InteractionCallbackResponse (discord.py 2.7 sends `with_response=1` and parses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import messages as msgs
from .interactions import InteractionResult
from .server import _Call, error, json_response, unknown_message
from .state import LOADING, StoredMessage

if TYPE_CHECKING:
    from .core import FakeDiscord
    from .server import Handler

# Which callback types each interaction type may use (2 command, 3 component, 4 autocomplete).
_ALLOWED = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
# Message type of the response message: 20 CHAT_INPUT_COMMAND, 23 CONTEXT_MENU_COMMAND.
_MSG_TYPE = {"slash": 20, "context_menu": 23}


def interaction_routes(fd: FakeDiscord) -> list[tuple[str, str, Handler, bool]]:
    h = _Handlers(fd)
    orig = "/webhooks/{app}/{token}/messages/@original"
    one = "/webhooks/{app}/{token}/messages/{message}"
    return [
        ("POST", "/interactions/{iid}/{token}/callback", h.callback, False),
        ("GET", orig, h.get_original, False),
        ("PATCH", orig, h.edit_original, False),
        ("DELETE", orig, h.delete_original, False),
        ("POST", "/webhooks/{app}/{token}", h.followup, False),
        ("GET", one, h.get_one, False),
        ("PATCH", one, h.edit_one, False),
        ("DELETE", one, h.delete_one, False),
    ]


class _Handlers:
    def __init__(self, fd: FakeDiscord) -> None:
        self.fd = fd

    def _meta(self, res: InteractionResult) -> dict[str, Any]:
        user = self.fd.state.users[res.user_id].payload()
        return {
            "id": str(res.id),
            "type": res.payload["type"],
            "user": user,
            "authorizing_integration_owners": res.payload["authorizing_integration_owners"],
        }

    def _body(self, call: _Call) -> dict[str, Any]:
        return call.json if isinstance(call.json, dict) else {}

    async def _publish(self, stored: StoredMessage) -> None:
        if not stored.ephemeral:
            await self.fd.dispatch_event("MESSAGE_CREATE", stored.snapshot())

    # -- callback ----------------------------------------------------------------------------

    async def callback(self, call: _Call) -> web.Response:
        res = self.fd.interactions_by_id.get(call.id("iid"))
        body = self._body(call)
        cb_type = int(body.get("type", 0))
        if res is None or res.token != call.match["token"]:
            return error(404, 10062, "Unknown interaction")
        elapsed = self.fd.loop_time() - res.created_at
        reason = None
        if res.expired or elapsed > self.fd.interaction_deadline:
            reason, resp = "too late", error(404, 10062, "Unknown interaction")
        elif res.callbacks:
            reason = "already acknowledged"
            resp = error(400, 40060, "Interaction has already been acknowledged.")
        elif cb_type not in _ALLOWED.get(res.payload["type"], set()):
            reason = (
                f"callback type {cb_type} not allowed for interaction type {res.payload['type']}"
            )
            resp = error(400, 50035, "Invalid Form Body: " + reason)
        if reason is not None:
            res.rejected.append({"type": cb_type, "reason": reason, "elapsed": elapsed})
            self.fd.notify()
            return resp
        data: dict[str, Any] = body.get("data") or {}
        res.callbacks.append({"type": cb_type, "data": data, "files": [f[0] for f in call.files]})
        res.response_latency = elapsed
        info: dict[str, Any] = {"id": str(res.id), "type": res.payload["type"]}
        out: dict[str, Any] = {"interaction": info}
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        if cb_type in (4, 5):
            stored = msgs.new_message(
                self.fd,
                res.channel_id,
                data if cb_type == 4 else {"flags": data.get("flags", 0)},
                call.files,
                msg_type=_MSG_TYPE.get(res.kind, 0),
                flags=LOADING if cb_type == 5 else 0,
                interaction=self._meta(res),
            )
            res.original_id = stored.id
            res.original_touched = True
            info.update(
                response_message_id=str(stored.id),
                response_message_loading=cb_type == 5,
                response_message_ephemeral=ephemeral,
            )
            if cb_type == 4:
                out["resource"] = {"type": 4, "message": stored.data}
                await self._publish(stored)
        elif cb_type == 7 and res.original_id is not None:
            stored = self.fd.state.messages[res.original_id]
            msgs.edit_message(self.fd, stored, data, call.files)
            res.original_touched = True
            out["resource"] = {"type": 7, "message": stored.data}
        self.fd.notify()
        return json_response(out)

    # -- webhook (token) routes --------------------------------------------------------------

    def _res(self, call: _Call) -> tuple[InteractionResult | None, web.Response | None]:
        res = self.fd.interactions_by_token.get(call.match["token"])
        if res is None or call.id("app") != self.fd.app_id:
            return None, error(404, 10015, "Unknown Webhook")
        if res.expired:
            return None, error(401, 50027, "Invalid Webhook Token")
        return res, None

    def _owned(self, res: InteractionResult, mid: int | None) -> StoredMessage | None:
        if mid is None or (mid != res.original_id and mid not in res.followup_ids):
            return None
        stored = self.fd.state.messages.get(mid)
        return None if stored is None or stored.deleted else stored

    async def get_original(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, res.original_id)
        return unknown_message() if stored is None else json_response(stored.data)

    async def edit_original(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, res.original_id)
        if stored is None or not res.callbacks:
            return unknown_message()
        msgs.edit_message(self.fd, stored, self._body(call), call.files)
        res.original_touched = True
        if len(stored.history) == 1 and stored.history[0]["flags"] & LOADING:
            await self._publish(stored)
        return json_response(stored.data)

    async def delete_original(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, res.original_id)
        if stored is None:
            return unknown_message()
        self.fd.delete_message(stored.channel_id, stored.id)
        return web.Response(status=204)

    async def followup(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        if not res.callbacks:
            return error(404, 10015, "Unknown Webhook")
        body = self._body(call)
        orig = res.original()
        if orig is not None and orig.loading and res.response_type == 5:
            # Discord: the first followup after a thinking defer *is* the deferred message.
            msgs.edit_message(self.fd, orig, body, call.files)
            stored = orig
        else:
            stored = msgs.new_message(
                self.fd, res.channel_id, body, call.files, interaction=self._meta(res)
            )
        res.followup_ids.append(stored.id)
        await self._publish(stored)
        self.fd.notify()
        return json_response(stored.data)

    async def get_one(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, call.id("message"))
        return unknown_message() if stored is None else json_response(stored.data)

    async def edit_one(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, call.id("message"))
        if stored is None:
            return unknown_message()
        msgs.edit_message(self.fd, stored, self._body(call), call.files)
        if stored.id == res.original_id:
            res.original_touched = True
        return json_response(stored.data)

    async def delete_one(self, call: _Call) -> web.Response:
        res, err = self._res(call)
        if res is None:
            return err  # type: ignore[return-value]
        stored = self._owned(res, call.id("message"))
        if stored is None:
            return unknown_message()
        self.fd.delete_message(stored.channel_id, stored.id)
        return web.Response(status=204)
