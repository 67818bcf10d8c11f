"""Replicate's Files API for local datasets: upload at Start, reuse on a retry, delete after.

Why here: a local dataset reaches the trainer as a file uploaded with the official client's
`files.create`, whose `urls.get` becomes `input_images`. Files expire 24 h after upload, so an
upload younger than `REUSE_FOR` (20 h, leaving the trainer time to fetch it) is reused when the
same bytes (same SHA-256, see `bot.core.dataset.pack`) are started again — a retried Start never
pays for a second upload. Reads and the delete go through the gateway's retry policy; the upload
itself is one POST (never retried blindly) with a deadline scaled to its size.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from replicate.exceptions import ReplicateError

from bot.core.dataset.collect import human_size, too_big_message
from bot.core.errors import InputError, ServiceError
from bot.core.log import get_logger
from bot.core.replicate import errors
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import parse_time
from bot.core.secrets import redact
from bot.core.store.rows import utcnow

log = get_logger(__name__)

REUSE_FOR = timedelta(hours=20)
PURPOSE = "sd35l-trainer dataset"
# Deadline: a fixed allowance plus the size at a slow 256 KiB/s uplink.
UPLOAD_BASE_SECONDS, UPLOAD_BYTES_PER_SECOND = 60.0, 256 * 1024


@dataclass(frozen=True)
class Upload:
    """One uploaded dataset file; `url` is what the training gets as `input_images`."""

    id: str
    url: str
    sha256: str | None
    size: int
    created_at: datetime | None
    expires_at: datetime | None

    def reusable(self, now: datetime | None = None) -> bool:
        """Young enough that the trainer can still fetch it after a long queue."""
        return self.created_at is not None and (now or utcnow()) - self.created_at < REUSE_FOR

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upload:
        urls = data.get("urls") if isinstance(data.get("urls"), dict) else {}
        sums = data.get("checksums") if isinstance(data.get("checksums"), dict) else {}
        url = (urls or {}).get("get")
        if not isinstance(data.get("id"), str) or not isinstance(url, str):
            raise ServiceError("Replicate answered the upload without a file id or URL; try again.")
        return cls(
            id=data["id"],
            url=url,
            sha256=(sums or {}).get("sha256"),
            size=int(data.get("size") or 0),
            created_at=parse_time(data.get("created_at")),
            expires_at=parse_time(data.get("expires_at")),
        )


def upload_deadline(size: int) -> float:
    return UPLOAD_BASE_SECONDS + size / UPLOAD_BYTES_PER_SECOND


def _upload_error(exc: ReplicateError, size: int, field: str, url_option: str) -> Exception:
    status = getattr(exc, "status", None)
    if status == 413:
        return InputError(too_big_message(size, "The packed dataset", url_option), field=field)
    if status == 401:
        return ServiceError(errors.MSG_401, status=401)
    if status == 402:
        return ServiceError(errors.MSG_402, status=402)
    detail = redact(str(getattr(exc, "detail", "") or getattr(exc, "title", "") or exc))[:200]
    return ServiceError(
        f"Replicate refused the dataset upload (HTTP {status}: {detail}); nothing was started, "
        "so try again later.",
        status=status,
    )


async def upload_dataset(
    gw: ReplicateGateway,
    data: bytes,
    *,
    filename: str,
    sha256: str,
    field: str,
    url_option: str,
    deadline: float | None = None,
    start: str | None = None,
) -> Upload:
    """Upload the packed ZIP once; every failure is one sentence and leaves no training.

    `start` names the Start this upload belongs to (the bot's preview key), so only a retry of
    that same Start reuses it; the CLI's runs have none and match on the bytes alone.
    """
    if not gw.settings.token:
        raise InputError(errors.MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")
    metadata = {"purpose": PURPOSE, "sha256": sha256, **({"start": start} if start else {})}
    limit = upload_deadline(len(data)) if deadline is None else deadline
    try:
        made = await asyncio.wait_for(
            gw._client.files.async_create(
                io.BytesIO(data), filename=filename, content_type="application/zip",
                metadata=metadata,
            ),
            timeout=limit,
        )  # fmt: skip
    except ReplicateError as exc:
        raise _upload_error(exc, len(data), field, url_option) from None
    except (TimeoutError, httpx.TimeoutException):
        raise ServiceError(
            f"Uploading the dataset ({human_size(len(data))}) to Replicate did not finish "
            f"within {limit:.0f} s; check the connection and try again (nothing was started)."
        ) from None
    except httpx.TransportError as exc:
        raise errors.network_error(gw.base_url, exc) from None
    upload = Upload.from_json(made.dict() if hasattr(made, "dict") else dict(made))
    log.info("dataset uploaded as file %s (%d bytes)", upload.id, len(data))
    return upload


async def find_upload(gw: ReplicateGateway, sha256: str, start: str | None = None) -> Upload | None:
    """A reusable upload of exactly these bytes (for this Start) among the newest files."""
    page = await gw._json("GET", "/v1/files", action="list uploaded files")
    results = page.get("results")
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict):
            continue
        sums, meta = item.get("checksums"), item.get("metadata")
        ours = (
            isinstance(meta, dict) and meta.get("purpose") == PURPOSE and meta.get("start") == start
        )
        if ours and isinstance(sums, dict) and sums.get("sha256") == sha256:
            try:
                upload = Upload.from_json(item)
            except ServiceError:
                continue
            if upload.reusable():
                return upload
    return None


async def delete_upload(gw: ReplicateGateway, file_id: str) -> bool:
    """Delete a dataset file; True when it is gone (also when it already was)."""
    resp = await gw._read("DELETE", f"/v1/files/{quote(file_id, safe='')}")
    if resp.status_code in (200, 204, 404):
        log.info("dataset file %s deleted", file_id)
        return True
    raise errors.error_for(resp, action=f"delete the uploaded dataset file {file_id}")


async def ensure_upload(
    gw: ReplicateGateway,
    data: bytes,
    *,
    filename: str,
    sha256: str,
    field: str,
    url_option: str,
    start: str | None = None,
) -> tuple[Upload, bool]:
    """The upload for these bytes: a reusable earlier one, else a new one; (upload, is_new)."""
    try:
        found = await find_upload(gw, sha256, start)
    except ServiceError as exc:
        log.warning("could not look for an earlier upload (%s); uploading", exc)
        found = None
    if found is not None:
        log.info("reusing dataset file %s uploaded at %s", found.id, found.created_at)
        return found, False
    made = await upload_dataset(
        gw, data, filename=filename, sha256=sha256, field=field, url_option=url_option, start=start
    )
    return made, True
