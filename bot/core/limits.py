"""The hard limits on training values, in one place: the config model, the settings' policy
ranges and the front ends' option ranges all derive from these.

Steps and LoRA rank are the trainer's own (its input schema: steps 3-6000, rank 1-128); the
batch size and learning-rate caps are this project's, since the trainer publishes none. The
team's policy (SD35L_POLICY_STEPS, SD35L_POLICY_BATCH_SIZE) narrows steps and batch size
within these.
"""

from __future__ import annotations

from typing import NamedTuple


class Limit(NamedTuple):
    """An inclusive range of whole numbers."""

    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


STEPS = Limit(3, 6000)
BATCH_SIZE = Limit(1, 64)
LORA_RANK = Limit(1, 128)
LEARNING_RATE_MAX = 10.0  # above 0 and at most this
