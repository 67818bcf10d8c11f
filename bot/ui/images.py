"""Datasets from Discord attachments: what may be read, read at once, with size caps.

Why at once: Discord's attachment links expire, so the bytes are fetched as soon as the
interaction arrives (for the context menu, while its modal is open). Type and size are checked
from the attachment object before a byte is downloaded; every refusal names the field and what
is allowed.
"""

from __future__ import annotations

import asyncio
import io
import posixpath

import discord

from bot.core.counted import count
from bot.core.dataset.collect import (
    ARCHIVE_SUFFIXES,
    IMAGE_SUFFIXES,
    Member,
    human_size,
    too_big_message,
)
from bot.core.errors import InputError, ServiceError
from bot.core.limits import MAX_ATTACHMENT_IMAGE, READ_CAP, UPLOAD_LIMIT
from bot.ui.format import clip

TRAINABLE = (".jpg", ".jpeg", ".png", ".webp")
URL_OPTION = "dataset_url"


def _name(attachment: discord.Attachment) -> str:
    return clip(attachment.filename, 80)


def check_zip(attachment: discord.Attachment, field: str = "dataset") -> None:
    """/train's `dataset` option: one .zip of images and captions, at most READ_CAP."""
    lower = attachment.filename.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        raise InputError(
            f"{field}: {_name(attachment)} is not a .zip; the trainer reads only ZIP archives, "
            "so re-pack the images (and .txt captions) as a .zip.",
            field=field,
        )
    if lower.endswith(IMAGE_SUFFIXES):
        raise InputError(
            f"{field}: {_name(attachment)} is a single image; attach a .zip of your images, or "
            "post the images in a message and use Apps → Train on these images.",
            field=field,
        )
    if not lower.endswith(".zip"):
        raise InputError(
            f"{field}: {_name(attachment)} is not a .zip; attach a .zip of images (.jpg .jpeg "
            ".png .webp) with optional same-name .txt captions.",
            field=field,
        )
    if attachment.size > READ_CAP:
        raise InputError(
            too_big_message(attachment.size, f"{field}: {_name(attachment)}", URL_OPTION),
            field=field,
        )


async def read(attachment: discord.Attachment) -> bytes:
    try:
        return await attachment.read()
    except (discord.HTTPException, discord.NotFound) as exc:
        raise ServiceError(
            f"Could not download the attachment {_name(attachment)} from Discord "
            f"({getattr(exc, 'status', '?')}); try again."
        ) from None


def message_dataset(message: discord.Message) -> list[discord.Attachment]:
    """The message's one .zip, or its images with their same-stem .txt captions."""
    zips = [a for a in message.attachments if a.filename.lower().endswith(".zip")]
    images = [a for a in message.attachments if a.filename.lower().endswith(TRAINABLE)]
    if len(zips) == 1 and not images:
        check_zip(zips[0], field="message")
        return zips
    if len(zips) > 1:
        raise InputError(
            f"message: it has {len(zips)} .zip attachments; use a message with one .zip, or with "
            "the images themselves.",
            field="message",
        )
    if not images:
        raise InputError(
            "message: it has no images (.jpg .jpeg .png .webp) and no .zip; use this on a "
            "message that carries your training images (with optional same-name .txt captions).",
            field="message",
        )
    stems = {posixpath.splitext(a.filename)[0] for a in images}
    captions = [
        a
        for a in message.attachments
        if a.filename.endswith(".txt") and posixpath.splitext(a.filename)[0] in stems
    ]
    for item in images + captions:
        if item.size > MAX_ATTACHMENT_IMAGE:
            raise InputError(
                f"message: {_name(item)} is {human_size(item.size)}; one attachment may be at "
                f"most {human_size(MAX_ATTACHMENT_IMAGE)}.",
                field="message",
            )
    total = sum(a.size for a in images + captions)
    if total > READ_CAP:
        raise InputError(too_big_message(total, "message: the images", URL_OPTION), field="message")
    return images + captions


async def read_message_dataset(attachments: list[discord.Attachment]) -> bytes | list[Member]:
    """The bytes of the one .zip, or the images and captions as members (fetched together)."""
    if len(attachments) == 1 and attachments[0].filename.lower().endswith(".zip"):
        return await read(attachments[0])
    datas = await asyncio.gather(*(read(a) for a in attachments))
    return [Member(a.filename, len(d), d) for a, d in zip(attachments, datas, strict=True)]


def sheet_file(sheet: bytes | None, limit: int) -> discord.File | None:
    """The contact sheet as an attachment, when it fits the upload limit of this channel."""
    if sheet is None or len(sheet) > min(limit, UPLOAD_LIMIT):
        return None
    return discord.File(io.BytesIO(sheet), filename=SHEET_NAME)


SHEET_NAME = "contact-sheet.png"


def label_of(attachments: list[discord.Attachment]) -> str:
    """How the preview names the dataset: the .zip's name, or how many images were posted."""
    if len(attachments) == 1 and attachments[0].filename.lower().endswith(".zip"):
        return attachments[0].filename
    images = sum(1 for a in attachments if a.filename.lower().endswith(TRAINABLE))
    return f"{count(images, 'image')} from the message"
