"""`train`: every check that can save a wasted run, then submit (and optionally follow).

Order: resolve the config (CLI > file > preset > default) -> check the dataset -> check the
token, the destination model and the trainer's input schema -> show the estimate -> confirm
(only when someone can answer) -> submit -> with `--wait`, follow, download, report the cost.
`interactive` reuses `run_train` with its own answers. The checks themselves are
`bot.core.jobs.preflight`'s, the same the bot's preview runs; this module renders them and asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli import _common, dataset
from bot.cli._common import EXIT_INTERRUPTED, echo, warn
from bot.cli.caption import caption_option, sample_prompt_option
from bot.cli.dataset import (
    check_linked,
    check_local,
    config_relative,
    contact_sheet_option,
    dataset_option,
)
from bot.cli.follow import follow_to_end, stopped_following
from bot.core.errors import InputError, SD35LError
from bot.core.limits import LORA_RANK
from bot.core.pillow import import_pillow

if TYPE_CHECKING:
    from bot.core.config.model import ResolvedConfig
    from bot.core.dataset.local import LocalDataset
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.replicate.training import Training
    from bot.core.settings import Settings

CLI_KEYS = (
    "dataset_url", "dataset_path", "destination", "trigger_word", "preset", "steps", "batch_size",
    "optimizer", "learning_rate", "resolution", "lora_rank", "wandb_project",
    "wandb_sample_prompts",
)  # fmt: skip


@dataclass
class TrainRequest:
    """What the user asked for; `ask` None means "prompt only when stdin is a terminal"."""

    cli: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    config_data: dict[str, Any] | None = None
    dry_run: bool = False
    wait: bool = False
    output_dir: Path = Path(".")
    yes: bool = False
    create_destination: bool = False
    skip_dataset_check: bool = False
    ask: bool | None = None
    show_config: bool = True
    contact_sheet: Path | None = None
    caption: bool = False

    @property
    def prompting(self) -> bool:
        return not self.yes and (_common.stdin_is_tty() if self.ask is None else self.ask)


@dataclass
class _State:
    """Shared with the Ctrl-C handler: what was submitted before the interrupt."""

    training_id: str | None = None
    submitting: bool = False
    images: int | None = None  # usable images the dataset check counted (for the estimate)
    dataset_checked: bool = True  # False after --skip-dataset-check on a dataset_url


def identity(resolved: ResolvedConfig) -> tuple[str, str, str]:
    """The dataset (URL or local path), destination and trigger word of a complete config."""

    config = resolved.config
    values = (config.dataset_url or config.dataset_path, config.destination, config.trigger_word)
    for name, value in zip(("dataset_url", "destination", "trigger_word"), values, strict=True):
        if not value:
            raise InputError(
                f"{name} is required; give it as --{name.replace('_', '-')}.", field=name
            )
    return values  # type: ignore[return-value]


def resolve(req: TrainRequest, settings: Settings) -> ResolvedConfig:
    from bot.core.config.model import load_config_file, load_user_defaults, resolve_config

    data = req.config_data
    if data is None and req.config_path is not None:
        if not req.config_path.is_file():
            raise InputError(
                f"Config file {req.config_path} does not exist or is not a file; give the path "
                "of a .yaml, .yml or .json file.",
                field="config",
            )
        data = load_config_file(req.config_path, check_keys=False)  # listed with the rest
        data = config_relative(data, req.config_path)
    user = load_user_defaults(settings)
    named = req.config_path.name if req.config_path else "config file"
    return resolve_config(cli=req.cli, file=data, settings=settings, user=user, file_source=named)


async def _check_dataset(
    req: TrainRequest, resolved: ResolvedConfig, settings: Settings, state: _State
) -> LocalDataset | None:
    """The dataset check; the usable images it counted go into `state` for the estimate."""
    from bot.cli import render
    from bot.core.jobs.preflight import check_dataset, image_count

    dataset, _destination, trigger = identity(resolved)
    if resolved.config.dataset_path:
        local = await check_local(
            dataset, trigger, contact_sheet=req.contact_sheet, dry_run=req.dry_run,
            skip_check=req.skip_dataset_check, resolution=resolved.config.training.resolution,
            min_images=settings.policy_min_images, caption=req.caption, yes=req.yes,
            prompting=req.prompting,
        )  # fmt: skip
        state.images = image_count(local.report) if local is not None else None
        return local
    if req.caption:  # a linked ZIP is read, captioned, packed and uploaded like a local one
        training, policy = resolved.config.training, settings.policy_min_images
        local = await check_linked(dataset, trigger, req, training.resolution, policy)
        state.images = image_count(local.report)
        return local
    if req.contact_sheet is not None:
        warn("--contact-sheet is drawn only for a local --dataset.")
    if req.skip_dataset_check:
        warn("the dataset check was skipped (--skip-dataset-check); a bad ZIP fails after billing.")
        state.dataset_checked = False
        return None
    report = await check_dataset(resolved.config, settings)
    state.images = image_count(report)
    echo(render.dataset_report(report))
    if not report.ok:
        n = len(report.errors)
        raise InputError(
            f"The dataset at dataset_url has {n} problem{'s' if n != 1 else ''} that would make "
            "the training fail or learn nothing (listed above); fix the ZIP and try again.",
            field="dataset_url",
        )
    return None


def check_dataset_step(resolved: ResolvedConfig, settings: Settings) -> None:
    """`train`'s dataset step alone, for `interactive`'s check: the same code, so the same full
    report (warnings included) and the same refusal (an `InputError`) for the same dataset."""
    import_pillow()
    _common.run(lambda: _check_dataset(TrainRequest(), resolved, settings, _State()))


async def _check_account(
    req: TrainRequest, resolved: ResolvedConfig, gw: ReplicateGateway, settings: Settings
) -> None:
    """Token, destination model, and the trainer's live input schema; a missing destination
    can be created here (with --create-destination, or when the user says yes)."""
    from bot.core.jobs.preflight import check_account

    destination = identity(resolved)[1]
    found = await check_account(resolved.config, gw)
    echo(f"Replicate token OK (account {found.account or 'unknown'}).")
    if not found.destination_exists:
        if req.create_destination and not req.dry_run:
            await gw.create_destination(destination)
            echo(f"Created the destination model {destination} (private).")
        elif req.create_destination:
            from bot.cli.render import would_create

            would_create(destination, found.account or "")
        elif (
            req.prompting
            and not req.dry_run
            and _common.confirm(
                f"Destination model {destination} does not exist on Replicate. Create it now "
                "(private)?",
                default=True,
            )
        ):
            await gw.create_destination(destination)
            echo(f"Created the destination model {destination} (private).")
        else:
            raise InputError(
                f"The destination model {destination} does not exist on Replicate; create it at "
                "https://replicate.com/create or rerun with --create-destination.",
                field="destination",
            )
    else:
        echo(f"Destination model {destination} exists.")
    if found.input_problems:
        raise InputError(
            "The trainer would reject these inputs: " + "; ".join(found.input_problems) + ".",
            field="input",
        )


def _show_estimate(resolved: ResolvedConfig, settings: Settings, images: int | None) -> str:
    from bot.core.config.samples import samples_line
    from bot.core.jobs.preflight import estimate_text

    text = estimate_text(resolved.config, settings, images=images)
    echo(f"Estimate: {text}" + (f"\n{line}" if (line := samples_line(resolved.config)) else ""))
    return text


def _target_note(req: TrainRequest, resolved: ResolvedConfig) -> None:
    """With --wait, say before paying that a taken file name will not be overwritten."""
    if not req.wait:
        return
    from bot.core.artifacts.weights import weights_filename

    _url, destination, trigger = identity(resolved)
    target = req.output_dir / weights_filename(destination, trigger)
    if target.exists():
        echo(
            f"Note: {target} already exists; it is kept, and the new weights will be saved "
            "with the training id in the file name."
        )


async def _submit_and_follow(
    req: TrainRequest, resolved: ResolvedConfig, settings: Settings, state: _State,
    local: LocalDataset | None = None,
) -> None:  # fmt: skip
    from bot.cli import render
    from bot.core.config.model import secret_inputs, to_trainer_input

    config = resolved.config
    if not settings.token:  # a dry run without a token: no Replicate client is even loaded
        _show_estimate(resolved, settings, state.images)
        echo(render.dry_run_summary(dataset_checked=state.dataset_checked, account=False))
        return
    async with _common.gateway(settings) as gw:
        await _check_account(req, resolved, gw, settings)
        estimate = _show_estimate(resolved, settings, state.images)
        if req.dry_run:
            echo(render.dry_run_summary(dataset_checked=state.dataset_checked, account=True))
            return
        if req.prompting and not _common.confirm(
            f"Start this training on Replicate ({estimate})?", default=False
        ):
            echo("Nothing was submitted.")
            return
        made = await dataset.upload(gw, local) if local is not None else None
        state.submitting = True
        try:
            training = await gw.create_training(
                identity(resolved)[1],
                to_trainer_input(config, input_images=made[0].url if made else None),
                secret_inputs(settings),
            )
        except SD35LError as exc:
            from bot.core.replicate.errors import OutcomeUnknownError

            if made is not None and made[1] and not isinstance(exc, OutcomeUnknownError):
                await dataset.forget(gw, made[0], "no training was started")
            raise
        state.training_id = training.id
        echo(f"Started training {training.id}")
        echo(f"Follow it at {training.web_url}")
        if not req.wait:
            echo(f"Check it with `sd35l-trainer status {training.id}`.")
            if made is not None:
                echo(f"The uploaded dataset file {made[0].id} expires 24 h after its upload.")
            return
        echo(
            f"Following training {training.id}; Ctrl-C stops following (the training keeps "
            "running)."
        )

        async def forget_upload(ended: Training) -> None:
            if made is not None:
                await dataset.forget(gw, made[0], f"the training {ended.status}")

        await follow_to_end(
            gw, training, settings, req.output_dir, force=False, on_end=forget_upload
        )


def run_train(req: TrainRequest) -> None:
    """The whole `train` path; raises `SD35LError` subclasses for the group to report."""
    from bot.cli import render

    import_pillow()  # before the dataset checks import it
    from bot.core.jobs.preflight import token_missing

    settings = _common.settings()
    resolved = resolve(req, settings)
    dataset.require_present(resolved.config.dataset_path)
    for message in resolved.warnings:
        warn(message)
    if req.show_config:
        echo(render.config_listing(resolved.config.model_dump(mode="json"), resolved.origins))
    if token_missing(settings, dry_run=req.dry_run):
        from bot.core.replicate.errors import MSG_NO_TOKEN

        raise InputError(MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")
    _common.require_yes(dry_run=req.dry_run, yes=req.yes, prompting=req.prompting)
    _target_note(req, resolved)
    state = _State()

    async def checks_then_submit() -> None:
        local = await _check_dataset(req, resolved, settings, state)
        await _submit_and_follow(req, resolved, settings, state, local)

    try:
        _common.run(checks_then_submit)
    except KeyboardInterrupt:
        _interrupted(state)


def _interrupted(state: _State) -> None:
    """One Ctrl-C ends the run at once (exit 130) with the truth about what was submitted."""
    if state.training_id:
        stopped_following(state.training_id)
    if state.submitting:
        echo(
            "\nInterrupted while submitting; the training may have been created. Check with "
            "`sd35l-trainer list` before trying again."
        )
    else:
        echo("\nInterrupted; nothing was submitted.")
    raise click.exceptions.Exit(EXIT_INTERRUPTED)


@click.command()
@dataset_option
@click.option("--dataset-url", help="Direct download URL of the dataset ZIP (images + captions).")
@click.option("--destination", help="Replicate model OWNER/NAME that receives the LoRA.")
@click.option("--trigger-word", help="Word that calls up the trained concept in prompts.")
@click.option("--preset", help="Preset: beginner (the default), experienced or fast.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (.yaml/.yml/.json); its layout is in docs/configuration.md.",
)
@click.option("--steps", type=int, help="Training steps.")
@click.option("--batch-size", type=int, help="Images per step.")
@click.option("--optimizer", help="prodigy or adamw8bit.")
@click.option("--learning-rate", type=float, help="Learning rate (prodigy wants 1.0).")
@click.option("--resolution", help='Comma-separated bucket sizes, e.g. "768,1024".')
@click.option("--lora-rank", type=int, help=f"LoRA rank ({LORA_RANK}).")
@click.option("--wandb-project", help="Weights & Biases project (needs WANDB_API_KEY).")
@click.option("--dry-run", is_flag=True, help="Run every check and submit nothing.")
@click.option("--wait", is_flag=True, help="Follow the training until it ends, then download.")
@_common.output_dir_option("Where --wait saves the .safetensors file.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--create-destination",
    is_flag=True,
    help="Create the destination model (private) if it does not exist.",
)
@click.option("--skip-dataset-check", is_flag=True, help="Do not inspect the dataset ZIP first.")
@contact_sheet_option
@caption_option
@sample_prompt_option
def train(
    config_path: Path | None,
    contact_sheet: Path | None,
    caption: bool,
    dry_run: bool,
    wait: bool,
    output_dir: Path,
    yes: bool,
    create_destination: bool,
    skip_dataset_check: bool,
    **values: Any,
) -> None:
    """Check everything, show the estimate, and start a LoRA training on Replicate."""
    req = TrainRequest(
        cli={key: None if values.get(key) == () else values.get(key) for key in CLI_KEYS},
        config_path=config_path,
        dry_run=dry_run,
        wait=wait,
        output_dir=output_dir,
        yes=yes,
        create_destination=create_destination,
        skip_dataset_check=skip_dataset_check,
        contact_sheet=contact_sheet,
        caption=caption,
    )
    run_train(req)
