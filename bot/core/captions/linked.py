"""A linked dataset ZIP read in full so it can be captioned, then packed and uploaded.

Why a cap: the captioned dataset reaches the trainer through Replicate's Files API, which takes
at most 100 MiB, so a ZIP bigger than that could never be uploaded after captioning; it is
refused before anything is paid for (captions can still be added to it by hand).
"""

from __future__ import annotations

import io

from bot.core.dataset.collect import Member, collect_zip
from bot.core.errors import InputError
from bot.core.http.fetcher import SafeFetcher, describe_status
from bot.core.limits import MIB, UPLOAD_LIMIT
from bot.core.settings import Settings

FIELD = "dataset_url"


async def linked_members(url: str, settings: Settings) -> list[Member]:
    """Download the ZIP at `url` (at most the upload limit) and read it as members."""
    async with SafeFetcher(settings, max_body_bytes=UPLOAD_LIMIT + 1) as fetcher:
        got = await fetcher.fetch(url)
    if got.status != 200:
        raise InputError(
            f"The dataset URL {describe_status(got.status)}; give a direct link to the .zip.",
            field=FIELD,
        )
    if got.truncated or len(got.body) > UPLOAD_LIMIT:
        raise InputError(
            f"The linked ZIP is over {UPLOAD_LIMIT // MIB} MiB, the most Replicate takes as an "
            "upload, so it cannot be captioned and uploaded again; caption it locally "
            "(`sd35l-trainer caption FOLDER`) or use fewer or smaller images.",
            field=FIELD,
        )
    members, _entries = collect_zip(
        io.BytesIO(got.body), url.rsplit("/", 1)[-1] or "dataset.zip", field=FIELD,
        url_option="--dataset-url",
    )  # fmt: skip
    return members
