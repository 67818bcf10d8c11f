"""Local datasets between a preview and the end of their training (the bot's side).

Why: Discord's attachment links expire and a preview must survive a restart until Start, so the
packed ZIP of a preview is kept in the bot's data folder (`<SD35L_DATABASE folder>/datasets`);
the preview's stored config names it as `dataset_path`. Start uploads it (reusing an upload of the
same bytes made for the same Start, see `bot.core.replicate.files`), and the kept ZIP is removed
once the training exists. When the training ends, its uploaded file is deleted from Replicate.
Packs of previews nobody started are swept after the preview's lifetime.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.dataset.pack import Packed
from bot.core.errors import InputError, SD35LError
from bot.core.log import get_logger
from bot.core.replicate.files import Upload, delete_upload, ensure_upload
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.settings import Settings

log = get_logger(__name__)

FIELD = "dataset"
URL_OPTION = "dataset_url"
KEEP_SECONDS = 2 * 15 * 60  # twice a preview's lifetime: Start is claimed within it
HOLD_SECONDS = 26 * 3600  # a pack waiting for a manager's approval (a day, and some margin)
HELD = ".held"
EXPIRED = (
    "The images of this preview are no longer kept (it expired or the bot's data folder was "
    "cleaned); run Train on these images or /train dataset: again."
)


class LocalDatasets:
    """Packed datasets waiting for Start, their uploads, and their clean-up."""

    def __init__(self, settings: Settings, gateway: ReplicateGateway) -> None:
        self.root = Path(settings.database).expanduser().resolve().parent / "datasets"
        self.gateway = gateway

    def keep(self, packed: Packed) -> Path:
        """Write the pack where a restarted bot finds it; the name carries its SHA-256."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{packed.sha256}-{secrets.token_hex(4)}.zip"
        partial = target.with_suffix(".part")
        partial.write_bytes(packed.data)
        os.replace(partial, target)
        self.sweep()
        return target

    def pack_at(self, dataset_path: str) -> Path:
        """Only packs this bot wrote are ever read: a stored path elsewhere is refused."""
        path = Path(dataset_path).resolve()
        if path.parent != self.root or path.suffix != ".zip":
            raise InputError(
                "dataset_path is a command-line setting; in Discord attach the .zip as /train's "
                "dataset option or use Apps → Train on these images.",
                field=FIELD,
            )
        if not path.is_file():
            raise InputError(EXPIRED, field=FIELD)
        return path

    async def upload(self, dataset_path: str, start_key: str | None) -> tuple[Upload, bool]:
        """At Start: the kept pack uploaded (or the upload this Start already made)."""
        path = self.pack_at(dataset_path)
        data = path.read_bytes()
        sha256 = path.name.split("-", 1)[0]
        return await ensure_upload(
            self.gateway,
            data,
            filename=f"dataset-{sha256[:16]}.zip",
            sha256=sha256,
            field=FIELD,
            url_option=URL_OPTION,
            start=start_key,
        )

    def hold(self, dataset_path: str) -> str:
        """Keep a pack for as long as an approval request may wait (the sweep spares it)."""
        path = self.pack_at(dataset_path)
        if path.stem.endswith(HELD):
            return str(path)
        held = path.with_name(f"{path.stem}{HELD}.zip")
        os.replace(path, held)
        return str(held)

    def started(self, dataset_path: str) -> None:
        """The training exists: the kept pack is no longer needed."""
        Path(dataset_path).unlink(missing_ok=True)

    async def discard_upload(self, upload: Upload) -> None:
        await self._delete(upload.id, "no training was started")

    async def forget(self, training: Training) -> None:
        """After the ending: delete the training's dataset file if it is one of our uploads."""
        file_id = self.file_id(training.input.get("input_images"))
        if file_id is not None:
            await self._delete(file_id, f"training {training.id} ended")

    def file_id(self, url: object) -> str | None:
        """The file id of a Files API URL on our Replicate base, else None (a user's link)."""
        if not isinstance(url, str):
            return None
        base, target = urlsplit(self.gateway.base_url), urlsplit(url)
        parts = target.path.strip("/").split("/")
        same = (target.scheme, target.netloc) == (base.scheme, base.netloc)
        return parts[2] if same and len(parts) == 3 and parts[:2] == ["v1", "files"] else None

    async def _delete(self, file_id: str, why: str) -> None:
        try:
            await delete_upload(self.gateway, file_id)
            log.info("dataset file %s deleted (%s)", file_id, why)
        except SD35LError as exc:
            log.warning("dataset file %s not deleted (%s); it expires in 24 h", file_id, exc)

    def sweep(self, now: float | None = None) -> int:
        """Remove packs older than a preview can live; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        now = now or time.time()
        removed = 0
        for path in self.root.iterdir():
            keep = HOLD_SECONDS if path.stem.endswith(HELD) else KEEP_SECONDS
            try:
                if path.stat().st_mtime < now - keep:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed
