"""`sd35l-trainer doctor` and the bot's start-up checks: is this deployment right?

One implementation for both front ends: each check returns `Finding`s (✔ or ✘ with the fix);
the CLI prints them, the bot logs the failures. Discord is read over its REST API with aiohttp
(`discord_rest`), Replicate through the gateway, the database and data folder locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "Finding": "report",
    "failed": "report",
    "run_doctor": "run",
    "DoctorOptions": "run",
    "invite_url": "permissions",
    "NEEDED_PERMISSIONS": "permissions",
}
__all__ = [
    "NEEDED_PERMISSIONS",
    "DoctorOptions",
    "Finding",
    "failed",
    "invite_url",
    "run_doctor",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.doctor.permissions import NEEDED_PERMISSIONS, invite_url
    from bot.core.doctor.report import Finding, failed
    from bot.core.doctor.run import DoctorOptions, run_doctor
