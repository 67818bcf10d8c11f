"""Every hard limit and cap in one place: the config model, the settings' policy ranges, the
dataset readers and both front ends' option ranges all take theirs from here.

Training values: steps and LoRA rank are the trainer's own (its input schema: steps 3-6000, rank
1-128); the batch size and learning-rate caps are this project's, since the trainer publishes
none. The team's policy (SD35L_POLICY_STEPS, SD35L_POLICY_BATCH_SIZE) narrows steps and batch
size within these.

Caps that are a budget of one algorithm rather than a limit a user meets stay beside it and are
named here: the dataset check's reads (`dataset/check.py`: WHOLE_MAX, SAMPLE_BUDGET,
MAX_REQUESTS), Discord's own message limits (`bot/ui/format.py`), the trainer log's parsing
bounds (`trainer_log/`) and the download's retries (`artifacts/`).
"""

from __future__ import annotations

from typing import NamedTuple


class Limit(NamedTuple):
    """An inclusive range of whole numbers."""

    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


KIB = 1024
MIB = 1024 * KIB

# Training values.
STEPS = Limit(3, 6000)
BATCH_SIZE = Limit(1, 64)
LORA_RANK = Limit(1, 128)
LEARNING_RATE_MAX = 10.0  # above 0 and at most this
MAX_RESOLUTIONS = 8  # different sizes in `training.resolution`: each is one more pass over the data

# A config file (an upload, an attachment or a path): a config is a few lines.
MAX_CONFIG_BYTES = 64 * KIB

# Datasets. The upload is Replicate's Files API limit (it refuses bigger ones with 413); a local
# folder or ZIP, or Discord attachments, are read up to twice that, since only what the trainer
# uses is packed.
UPLOAD_LIMIT = 100 * MIB
READ_CAP = 2 * UPLOAD_LIMIT
MAX_ATTACHMENT_IMAGE = 50 * MIB  # one photo attached in Discord; bigger is not a training image
DEFAULT_MIN_IMAGES = 2  # the team policy's default (SD35L_POLICY_MIN_IMAGES)
DEFAULT_MAX_DATASET_MB = 1024  # a URL's ZIP, unless SD35L_MAX_DATASET_MB says otherwise
# A ZIP is not unpacked when it unpacks to more than this, or an entry of at least BOMB_MIN_SIZE
# to more than BOMB_RATIO times its packed size (team policy: a compression bomb).
MAX_TOTAL_UNCOMPRESSED = 20 * 1024 * MIB
BOMB_RATIO, BOMB_MIN_SIZE = 100, 50 * MIB
# The trainer's file system (ext4) when it extracts the ZIP.
NAME_MAX = 255  # bytes per path component
PATH_MAX = 4096  # bytes per path, including the NUL, relative to the trainer's working folder

# Captions written by a vision model (bot/core/captions). The data URI cap is Replicate's
# "about 1 MB" for files sent inline; the copy the model sees is at most CAPTION_IMAGE_SIDE px.
CAPTION_IMAGE_SIDE = 1024
CAPTION_DATA_URI_BYTES = 1_000_000
MAX_CAPTION_CHARS = 400  # a written caption is cut at a word before this
MAX_MODEL_ANSWER = 20_000  # a model answer longer than this is not read as a literal
