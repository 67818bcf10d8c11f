"""The weights tar the simulator serves, written once to disk in chunks.

The real output is an uncompressed tar with `output/sd3.5_train_replicate/lora.safetensors`,
`config.yaml` and `captions/*.txt`. The LoRA here is deterministic pseudo-random bytes behind a
valid safetensors header, streamed into the tar so a 1 GB file never sits in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import tarfile
import time
from pathlib import Path

MEMBER_DIR = "output/sd3.5_train_replicate"
LORA_MEMBER = f"{MEMBER_DIR}/lora.safetensors"
CONFIG_YAML = """job: extension
config:
  name: sd3.5_train_replicate
  process:
    - type: sd_trainer
      network: {type: lora, linear: 16, linear_alpha: 16}
      train: {steps: 700, batch_size: 1, lr: 0.0004, optimizer: adamw8bit}
      model: {name_or_path: stabilityai/stable-diffusion-3.5-large, is_v3: true}
"""
CHUNK = 1024 * 1024


def safetensors_header(total_size: int) -> bytes:
    """The 8-byte length plus JSON header of a one-tensor file of `total_size` bytes.

    The header is padded with spaces to a multiple of 8, as safetensors writes it; a file too
    small for a header gets the smallest valid one (an empty tensor).
    """
    data_len = 0
    for _ in range(4):  # the header's length depends on the digits of data_len: settle it
        dtype, shape = ("F16", [data_len // 2]) if data_len % 2 == 0 else ("U8", [data_len])
        meta = {
            "__metadata__": {"format": "pt"},
            "transformer.lora_A.weight": {
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [0, data_len],
            },
        }
        raw = json.dumps(meta, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        data_len = max(0, total_size - 8 - len(raw))
    return struct.pack("<Q", len(raw)) + raw


class _LoraReader:
    """A read-only stream of the LoRA bytes that hashes what it hands out."""

    def __init__(self, size: int, seed: int) -> None:
        self._header = safetensors_header(size)
        self.size = max(size, len(self._header))
        self._rng = random.Random(seed)
        self._pos = 0
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        left = self.size - self._pos
        want = left if size is None or size < 0 else min(size, left)
        out = b""
        if self._pos < len(self._header) and want > 0:
            out = self._header[self._pos : self._pos + want]
        if len(out) < want:
            out += self._rng.randbytes(want - len(out))
        self._pos += len(out)
        self.sha256.update(out)
        return out


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


def write_weights_tar(path: Path, lora_size: int, seed: int = 0) -> str:
    """Write the tar to `path`; returns the LoRA member's sha256 hex digest."""
    now = time.time()
    reader = _LoraReader(lora_size, seed)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(LORA_MEMBER)
        info.size = reader.size
        info.mtime = int(now)
        tar.addfile(info, reader)  # type: ignore[arg-type]
        _add_bytes(tar, f"{MEMBER_DIR}/config.yaml", CONFIG_YAML.encode(), now)
        _add_bytes(tar, f"{MEMBER_DIR}/captions/a.txt", b"a photo of TOK\n", now)
    return reader.sha256.hexdigest()


def read_lora(path: Path) -> bytes:
    """The LoRA member's bytes, read back from the tar (only sensible for small files)."""
    with tarfile.open(path, "r") as tar:
        member = tar.extractfile(LORA_MEMBER)
        if member is None:  # pragma: no cover - the member is always written
            raise FileNotFoundError(LORA_MEMBER)
        return member.read()
