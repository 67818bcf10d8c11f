"""`caption FOLDER` and `train --caption`: captions written by a vision model, price first.

The order keeps money and files safe: the folder is read and every image looked up in the
cache before any question; the price of the rest is shown and confirmed (with nobody to ask,
only --yes spends: exit 2 otherwise); an existing NAME.txt is never replaced without
--overwrite; images the model could not caption are named and left as they were (exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli import _common
from bot.cli._common import echo, warn
from bot.core.errors import InputError
from bot.core.pillow import import_pillow

if TYPE_CHECKING:
    from bot.core.captions.run import CaptionPlan, CaptionResult, Picture
    from bot.core.dataset.collect import Member
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.settings import Settings

FIELD = "folder"

caption_option = click.option(
    "--caption", is_flag=True, help="Caption the images that have no caption first (costs money)."
)
sample_prompt_option = click.option(
    "--sample-prompt",
    "wandb_sample_prompts",
    multiple=True,
    help="A prompt rendered as a W&B sample image while it trains (repeatable; WANDB_API_KEY).",
)


@dataclass
class CaptionAsk:
    """What the user asked for; `prompting` says whether a terminal can answer."""

    every: bool = False
    overwrite: bool = False
    prefix: str | None = None
    suffix: str | None = None
    yes: bool = False
    prompting: bool = False


def _targets(root: Path, members: list[Member], ask: CaptionAsk) -> list[Picture]:
    """The images to caption: uncaptioned ones (all with --all), minus those whose NAME.txt
    exists when --overwrite is not given (a caption never paid for only to be thrown away)."""
    from bot.core.captions.run import caption_name, needs_caption

    pictures = needs_caption(members, every=ask.every)
    if ask.overwrite:
        return pictures
    kept = [p for p in pictures if (root / caption_name(p.name)).exists()]
    if kept:
        echo(
            f"{len(kept)} image(s) already have a caption file, kept as it is (add --overwrite "
            "to replace them): "
            + ", ".join(caption_name(p.name) for p in kept[:5])
            + (" …" if len(kept) > 5 else "")
        )
    return [p for p in pictures if p not in kept]


def describe_plan(planned: CaptionPlan, trigger_word: str | None = None) -> str:
    """The lines shown before paying: model, how many, the price and the trigger-word rule."""
    from bot.core.captions.clean import trigger_rule
    from bot.core.captions.cost import format_price
    from bot.core.money.cents import format_cents

    c = planned.captioner
    asked = f"task {c.prompt!r}" if c.kind == "task" else "a prompt"
    lines = [
        f"Captioning model: {c.model} ({asked}).",
        f"{len(planned.todo)} image(s) to caption: {format_cents(planned.cost_cents)} "
        f"({format_price(planned.price.per_image)} each, {planned.price.basis}).",
    ]
    if planned.cached:
        lines.append(f"{len(planned.cached)} caption(s) already paid for, from the cache: free.")
    lines.append(trigger_rule(trigger_word))
    return "\n".join(lines)


def report(result: CaptionResult) -> None:
    from bot.core.money.cents import format_cents

    for name, text in sorted(result.captions.items()):
        echo(f"  {name}: {text}")
    echo(
        f"Captioned {len(result.captions)} image(s) ({result.requests} model run(s), "
        f"{result.cached} from the cache; charged {format_cents(result.charged_cents)})."
    )
    if result.failed:
        warn(
            "not captioned, left without a caption: "
            + "; ".join(f"{name} ({why})" for name, why in sorted(result.failed.items()))
        )


async def caption_members(
    gw: ReplicateGateway,
    settings: Settings,
    pictures: list[Picture],
    ask: CaptionAsk,
    trigger_word: str | None = None,
) -> CaptionResult | None:
    """Plan, show the price, ask, run; None when the user said no."""
    from bot.core.captions.clean import forbidden_words
    from bot.core.captions.run import CaptionOptions, plan, run

    planned = await plan(gw, settings, pictures, history=True)
    echo(describe_plan(planned, trigger_word))
    if planned.todo and not ask.yes:
        if not ask.prompting:
            raise InputError(
                "captioning spends money on Replicate and there is no terminal to confirm on; "
                "add --yes to caption without asking. Nothing was captioned.",
                field="yes",
            )
        if not _common.confirm(
            f"Caption {len(planned.todo)} image(s) for the price above?", default=False
        ):
            echo("Nothing was captioned.")
            return None
    options = CaptionOptions(
        prefix=ask.prefix,
        suffix=ask.suffix,
        forbidden=tuple(forbidden_words(settings.caption_forbidden)),
    )
    return await run(gw, settings, planned, options)


async def caption_folder(root: Path, ask: CaptionAsk, trigger_word: str | None = None) -> int:
    """Caption a folder in place; the exit status (1 when some image was not captioned)."""
    from bot.core.captions.run import write_folder
    from bot.core.dataset.collect import collect_folder
    from bot.core.replicate.errors import MSG_NO_TOKEN

    if not root.is_dir():  # noqa: ASYNC240 - one stat before any await
        raise InputError(f"{FIELD}: {root} is not a folder; give the folder of your images.")
    settings = _common.settings()
    if not settings.token:
        raise InputError(MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")
    members = collect_folder(root, field=FIELD, url_option="--dataset-url")
    pictures = _targets(root, members, ask)
    if not pictures:
        echo("Every image already has a caption; nothing to do (--all captions them all).")
        return 0
    async with _common.gateway(settings) as gw:
        result = await caption_members(gw, settings, pictures, ask, trigger_word)
    if result is None:
        return 0
    written = write_folder(root, result.captions, overwrite=ask.overwrite)
    report(result)
    echo(f"Wrote {len(written)} caption file(s) in {root}.")
    return 1 if result.failed else 0


@click.command("caption")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--all", "every", is_flag=True, help="Caption every image, not only uncaptioned ones."
)
@click.option("--overwrite", is_flag=True, help="Replace existing NAME.txt caption files.")
@click.option("--prefix", help="Put this before every caption (e.g. 'photo of TOK').")
@click.option("--suffix", help="Put this after every caption.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending.")
def caption_cmd(
    folder: Path, every: bool, overwrite: bool, prefix: str | None, suffix: str | None, yes: bool
) -> None:
    """Write NAME.txt captions next to the images of FOLDER with a vision model on Replicate."""
    import_pillow()
    ask = CaptionAsk(every, overwrite, prefix, suffix, yes, prompting=_common.stdin_is_tty())
    code = _common.run(lambda: caption_folder(Path(folder).expanduser(), ask))
    if code:
        raise click.exceptions.Exit(code)


async def caption_before_training(
    source: str, trigger_word: str | None, *, dry_run: bool, yes: bool, prompting: bool,
    linked: bool = False,
) -> list[Member]:  # fmt: skip
    """`train --caption`: caption the uncaptioned images first, then return the members to
    judge — so the report and the contact sheet show the captions before the training is
    confirmed. A folder gets NAME.txt files (never replacing one); a .zip's captions, or a
    linked ZIP's (`linked`: `source` is the dataset URL), stay in memory and go into the packed
    upload."""
    from bot.core.captions.run import needs_caption, with_captions, write_folder
    from bot.core.dataset.collect import collect_path
    from bot.core.replicate.errors import MSG_NO_TOKEN

    settings = _common.settings()
    if not settings.token:
        raise InputError(MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")
    if linked:
        from bot.core.captions.linked import linked_members

        echo("Reading the linked ZIP to caption it (it is then packed and uploaded)...")
        members = await linked_members(source, settings)
    else:
        members, _entries = collect_path(
            Path(source), field="dataset_path", url_option="--dataset-url"
        )
    pictures = needs_caption(members)
    if not pictures:
        echo("--caption: every image already has a caption.")
        return members
    ask = CaptionAsk(yes=yes, prompting=prompting)
    async with _common.gateway(settings) as gw:
        if dry_run:
            from bot.core.captions.run import plan

            echo(describe_plan(await plan(gw, settings, pictures, history=True), trigger_word))
            echo("Dry run: nothing was captioned.")
            return members
        result = await caption_members(gw, settings, pictures, ask, trigger_word)
    if result is None:
        return members
    report(result)
    if not linked and Path(source).is_dir():  # noqa: ASYNC240 - one stat
        written = write_folder(Path(source), result.captions, overwrite=False)
        echo(f"Wrote {len(written)} caption file(s) in {source}.")
    return with_captions(members, result.captions)


def default_sheet(source: str) -> Path:
    """Where `train --caption` draws the contact sheet when --contact-sheet is not given."""
    import hashlib
    import tempfile

    tag = hashlib.sha256(source.encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"sd35l-captions-{tag}.png"
