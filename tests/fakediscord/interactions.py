"""The handle a test gets back for every interaction it fires at the bot.

`InteractionResult` watches what the bot did with the interaction token: the initial
callback (type + data), the `@original` message through all its edits, and the followups.
All waits are event driven (no polling sleeps) and raise `TimeoutError` with a description of
what *did* happen, so a failing e2e test says why.
"""

# ruff: noqa: ASYNC109  (a `timeout` argument is the point of a test-waiting API)

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .state import StoredMessage

if TYPE_CHECKING:
    from .core import FakeDiscord

CALLBACK_NAMES = {
    1: "PONG",
    4: "CHANNEL_MESSAGE_WITH_SOURCE",
    5: "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE",
    6: "DEFERRED_UPDATE_MESSAGE",
    7: "UPDATE_MESSAGE",
    8: "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT",
    9: "MODAL",
}


class InteractionResult:
    """What the bot answered to one INTERACTION_CREATE."""

    def __init__(self, fd: FakeDiscord, payload: dict[str, Any], kind: str) -> None:
        self.fd = fd
        self.payload = payload  # exactly what was dispatched over the gateway
        self.kind = kind  # "slash" | "autocomplete" | "context_menu" | "click"
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.guild_id = int(payload["guild_id"]) if payload.get("guild_id") else None
        self.channel_id = int(payload["channel_id"])
        who = payload.get("member", {}).get("user") or payload.get("user") or {}
        self.user_id = int(who["id"])
        self.created_at = fd.loop_time()
        self.callbacks: list[dict[str, Any]] = []  # accepted: {"type", "data", "files"}
        self.rejected: list[dict[str, Any]] = []  # refused callbacks: {"type", "reason"}
        self.response_latency: float | None = None  # seconds from dispatch to callback
        self.original_id: int | None = None
        self.followup_ids: list[int] = []
        self.expired = False
        # For a click, @original is the clicked message; it counts as an answer once edited.
        self.original_touched = kind != "click"
        if kind == "click":
            self.original_id = int(payload["message"]["id"])

    def __repr__(self) -> str:
        return f"<InteractionResult {self.kind} id={self.id} {self.describe()}>"

    # -- state ---------------------------------------------------------------------------

    @property
    def response(self) -> dict[str, Any] | None:
        """The initial callback `{"type": int, "data": dict, "files": [names]}` or None yet."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response (message or defer) was ephemeral."""
        if not self.callbacks:
            return False
        return bool(int((self.callbacks[0].get("data") or {}).get("flags") or 0) & 64)

    def original(self) -> StoredMessage | None:
        """The `@original` message as it is now (None before a message response)."""
        if self.original_id is None:
            return None
        return self.fd.state.messages.get(self.original_id)

    def followups(self) -> list[StoredMessage]:
        return [self.fd.state.messages[i] for i in self.followup_ids]

    def messages(self) -> list[StoredMessage]:
        """Original (if any) then followups, without duplicates."""
        out: list[StoredMessage] = []
        orig = self.original()
        if orig is not None and self.original_touched:
            out.append(orig)
        out += [m for m in self.followups() if m not in out]
        return out

    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices the bot returned (callback type 8)."""
        if self.response_type != 8:
            return []
        return list((self.callbacks[0].get("data") or {}).get("choices") or [])

    def expire(self) -> None:
        """Make the interaction token dead, like after 15 minutes (webhooks answer 401 50027)."""
        self.expired = True

    def describe(self) -> str:
        if not self.callbacks:
            txt = "no response"
        else:
            t = self.response_type or 0
            txt = f"response {t} {CALLBACK_NAMES.get(t, '?')}"
        if self.rejected:
            txt += f", rejected {self.rejected}"
        orig = self.original()
        if orig is not None:
            txt += f", original={orig.text()[:200]!r} (edits {orig.edits}, loading {orig.loading})"
        if self.followup_ids:
            txt += f", followups={[m.text()[:100] for m in self.followups()]!r}"
        return txt

    # -- waiting ---------------------------------------------------------------------------

    async def wait_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the initial callback and return it."""
        await self.fd.wait_until(lambda: bool(self.callbacks), timeout, lambda: repr(self))
        assert self.response is not None
        return self.response

    async def wait_choices(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.wait_response(timeout)
        return self.choices()

    async def wait_followups(self, n: int = 1, timeout: float = 5.0) -> list[StoredMessage]:
        """Wait until at least `n` followups exist; return them all."""
        await self.fd.wait_until(lambda: len(self.followup_ids) >= n, timeout, lambda: repr(self))
        return self.followups()

    async def wait_original(
        self,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """Wait for a non-loading `@original` (after a defer: its first edit) that matches."""

        def ready() -> bool:
            orig = self.original()
            if orig is None or orig.loading or orig.deleted:
                return False
            return predicate is None or predicate(orig)

        await self.fd.wait_until(ready, timeout, lambda: repr(self))
        orig = self.original()
        assert orig is not None
        return orig

    async def wait_text(self, needle: str, timeout: float = 5.0) -> StoredMessage:
        """Wait until the original or a followup contains `needle` (content or embed text)."""

        def find() -> StoredMessage | None:
            for m in self.messages():
                if not m.loading and needle in m.text():
                    return m
            return None

        await self.fd.wait_until(lambda: find() is not None, timeout, lambda: repr(self))
        found = find()
        assert found is not None
        return found
