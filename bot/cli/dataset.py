"""`train --dataset PATH`: judge and pack a local folder or .zip, upload it at Start, clean up.

The order keeps money and files safe: the dataset is judged and packed before any question is
asked (a trainer-fatal dataset is refused with exit 2 and nothing uploaded); the upload happens
only after the confirmation, right before the create; a create that certainly made nothing
deletes the new upload again, and `--wait` deletes it once the training has ended.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from bot.cli._common import echo, warn
from bot.cli.caption import caption_before_training, default_sheet
from bot.core.errors import InputError, SD35LError

if TYPE_CHECKING:
    from bot.core.dataset.local import LocalDataset
    from bot.core.replicate.files import Upload
    from bot.core.replicate.gateway import ReplicateGateway

FIELD = "dataset_path"
URL_OPTION = "--dataset-url"

dataset_option = click.option(
    "--dataset",
    "dataset_path",
    type=click.Path(path_type=str),
    help="Local folder of images (+ same-name .txt captions) or a local .zip; uploaded at Start.",
)
contact_sheet_option = click.option(
    "--contact-sheet",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a PNG of the local --dataset's thumbnails, names and captions here.",
)


def require_present(path: str | None) -> None:
    """A local dataset that is not there is one line, before the settings table is printed."""
    if path:
        from bot.core.dataset.collect import require_exists

        require_exists(Path(path), field=FIELD)


def config_relative(data: dict[str, object], config_path: Path) -> dict[str, object]:
    """A config file's `dataset_path` is relative to the file's folder, not to the shell's."""
    value = data.get("dataset_path")
    if isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
        return {**data, "dataset_path": str(config_path.parent / value.strip())}
    return data


async def check_local(
    path: str,
    trigger_word: str | None,
    *,
    contact_sheet: Path | None,
    dry_run: bool,
    skip_check: bool,
    resolution: str | None = None,
    min_images: int = 2,
    caption: bool = False,
    yes: bool = False,
    prompting: bool = False,
    linked: bool = False,
) -> LocalDataset:
    """Judge and pack; show the report; write the sheet; refuse what the trainer cannot use.
    With `caption`, the uncaptioned images are captioned first (`bot.cli.caption`) and the
    sheet is always drawn, so the captions are seen before the training is confirmed."""
    from bot.cli import render
    from bot.core.dataset.local import prepare_path, prepare_upload

    if skip_check:
        warn(
            "--skip-dataset-check does not apply to --dataset: a local dataset is always "
            "judged, because only the files the trainer uses are uploaded."
        )
    options = {
        "trigger_word": trigger_word,
        "field": FIELD,
        "url_option": URL_OPTION,
        "with_sheet": contact_sheet is not None or caption,
        "resolution": resolution,
        "min_images": min_images,
    }
    if caption:
        members = await caption_before_training(
            path, trigger_word, dry_run=dry_run, yes=yes, prompting=prompting, linked=linked
        )
        contact_sheet = contact_sheet or default_sheet(path)
        label = path.rsplit("/", 1)[-1] if linked else Path(path).name
        local = await prepare_upload(members, label or "dataset.zip", **options)
    else:
        local = await prepare_path(Path(path), **options)
    echo(render.dataset_report(local.report))
    if contact_sheet is not None and local.sheet is not None:
        _write_sheet(contact_sheet, local.sheet)
        where = f"Contact sheet written to {contact_sheet}"
        echo(f"{where} (dry run: look at it before you start)." if dry_run else f"{where}.")
    elif dry_run:
        echo("No contact sheet was drawn; add --contact-sheet sheet.png to see every image first.")
    if not local.ok:
        n = len(local.report.errors)
        raise InputError(
            f"The dataset at dataset_path has {n} problem{'s' if n != 1 else ''} that would make "
            "the training fail or learn nothing (listed above); nothing was uploaded.",
            field=FIELD,
        )
    return local


class Asked(Protocol):
    """What `train` was asked that the dataset step needs (a `TrainRequest`)."""

    contact_sheet: Path | None
    dry_run: bool
    yes: bool

    @property
    def prompting(self) -> bool: ...


async def check_linked(
    url: str, trigger_word: str, req: Asked, resolution: str | None, min_images: int
) -> LocalDataset:
    """`train --dataset-url URL --caption`: the linked ZIP judged like a local one after its
    captions are written (it is then packed and uploaded at Start)."""
    return await check_local(
        url, trigger_word, contact_sheet=req.contact_sheet, dry_run=req.dry_run,
        skip_check=False, resolution=resolution, min_images=min_images, caption=True,
        yes=req.yes, prompting=req.prompting, linked=True,
    )  # fmt: skip


def _write_sheet(target: Path, png: bytes) -> None:

    if target.suffix.lower() != ".png":
        raise InputError(
            f"contact_sheet: {target.name} must end in .png (the sheet is a PNG image).",
            field="contact_sheet",
        )
    try:
        target.write_bytes(png)
    except OSError as exc:
        raise InputError(
            f"contact_sheet: cannot write {target} ({exc.strerror or exc}); choose another path.",
            field="contact_sheet",
        ) from None


async def upload(gw: ReplicateGateway, local: LocalDataset) -> tuple[Upload, bool]:
    """At Start: reuse a fresh upload of the same bytes, or upload now; (upload, is_new)."""
    from bot.core.dataset.collect import human_size
    from bot.core.replicate.files import ensure_upload

    packed = local.packed
    assert packed is not None  # check_local refused the dataset otherwise
    echo(f"Uploading the dataset ({human_size(packed.size)}) to Replicate...")
    made, new = await ensure_upload(
        gw,
        packed.data,
        filename=packed.filename,
        sha256=packed.sha256,
        field=FIELD,
        url_option=URL_OPTION,
    )
    echo(f"{'Uploaded' if new else 'Reusing the earlier upload of'} the dataset as file {made.id}.")
    return made, new


async def forget(gw: ReplicateGateway, made: Upload, why: str) -> None:
    """Delete the uploaded file; a failure is a warning (the file expires in 24 h anyway)."""
    from bot.core.replicate.files import delete_upload

    try:
        await delete_upload(gw, made.id)
        echo(f"Deleted the uploaded dataset file {made.id} ({why}).")
    except SD35LError as exc:
        warn(f"the uploaded dataset file {made.id} was not deleted ({exc}); it expires in 24 h.")
