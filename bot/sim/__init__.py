"""A local Replicate simulator (tests and `sd35l-trainer simulate`)."""

from __future__ import annotations

from bot.sim.runner import SimulatorThread, main_sync, serve_forever
from bot.sim.server import ReplicateSimulator
from bot.sim.state import Faults, RecordedRequest

# The token the docs suggest for rehearsals: token-shaped, so it can never be a word of prose
# that the redactor would then blank out of ordinary messages.
SAMPLE_TOKEN = "r8_rehearsal"  # noqa: S105 - a rehearsal token for the simulator, not a secret

__all__ = [
    "SAMPLE_TOKEN",
    "Faults",
    "RecordedRequest",
    "ReplicateSimulator",
    "SimulatorThread",
    "main_sync",
    "serve_forever",
]
