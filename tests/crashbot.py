"""The bot as a separate process for the crash tests and the soak: `python -m tests.crashbot`.

Reads SD35L_* settings from the environment like the real bot, and one JSON object from
SD35L_CRASHBOT: where the fake Discord listens (`api`, `gateway`), the named point to die at
(`crash_at`, see bot.core.jobs.crash; `crash_after` skips that many passes first), and
shortened waits (`card_grace`, `nonce_trust`, `settle`, in seconds). At the crash point the
process kills itself with SIGKILL: no cleanup, no flushing, exactly like a power cut.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import timedelta
from typing import Any


def _install_crash(plan: dict[str, Any]) -> None:
    from bot.core.jobs import crash

    target = plan.get("crash_at")
    if not target:
        return
    passes = {"left": int(plan.get("crash_after", 0))}

    def hook(name: str) -> None:
        if name != target:
            return
        if passes["left"] > 0:
            passes["left"] -= 1
            return
        print(f"crashbot: SIGKILL at {name}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    crash.set_hook(hook)


def _shorten(plan: dict[str, Any]) -> None:
    from bot import notifier
    from bot.core.jobs import pending

    if "card_grace" in plan:
        notifier.CARD_GRACE = timedelta(seconds=float(plan["card_grace"]))
    if "nonce_trust" in plan:
        notifier.NONCE_TRUST = timedelta(seconds=float(plan["nonce_trust"]))
    if "settle" in plan:
        pending.SETTLE = timedelta(seconds=float(plan["settle"]))


async def _run(plan: dict[str, Any]) -> None:
    import discord.gateway
    import discord.http
    import yarl

    from bot.app import create_bot
    from bot.core.settings import load_settings

    discord.http.Route.BASE = plan["api"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(plan["gateway"])
    settings = load_settings()
    bot = create_bot(
        settings,
        tracker_options={"card_edit_interval": 0.0, "card_wait": 2.0},
        gateway_options={
            "read_attempts": 3,
            "backoff_base": 0.001,
            "max_backoff": 0.01,
            "lookup_interval": 0.01,
            "timeout": 5.0,
        },
    )
    bot._connection.guild_ready_timeout = 0.05
    assert settings.discord_token is not None
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())


def main() -> None:
    from bot.core.log import setup_logging

    setup_logging()
    plan = json.loads(os.environ["SD35L_CRASHBOT"])
    _install_crash(plan)
    _shorten(plan)
    asyncio.run(_run(plan))


if __name__ == "__main__":
    main()
