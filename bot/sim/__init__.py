"""A local Replicate simulator (tests and `sd35l-trainer simulate`)."""

from __future__ import annotations

from bot.sim.runner import SimulatorThread, main_sync, serve_forever
from bot.sim.server import ReplicateSimulator
from bot.sim.state import Faults, RecordedRequest

__all__ = [
    "Faults",
    "RecordedRequest",
    "ReplicateSimulator",
    "SimulatorThread",
    "main_sync",
    "serve_forever",
]
