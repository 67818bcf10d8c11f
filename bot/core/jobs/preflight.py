"""Every check before a training is submitted, written once for both front ends.

The order saves the most money first: the token must be set unless this is a dry run; then the
dataset ZIP (what would make the trainer fail or learn nothing); then, with a token, the token
itself, the destination model and the trainer's live input schema; finally the estimate. The
bot's preview and the CLI's `train` call these and only render what they return (each front end
words its own remedy: "run /train again", "rerun with --create-destination").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.config.model import TrainingConfig, to_trainer_input
from bot.core.dataset.check import inspect_dataset
from bot.core.dataset.collect import UPLOAD_STAND_IN
from bot.core.dataset.report import DatasetReport
from bot.core.money.estimate import calibrate, estimate_training, format_estimate
from bot.core.settings import Settings

if TYPE_CHECKING:
    from bot.core.dataset.local import LocalDataset
    from bot.core.replicate.gateway import ReplicateGateway


@dataclass
class AccountCheck:
    """What Replicate said about the token, the destination model and the inputs."""

    account: str | None  # the token's username, None when Replicate did not name one
    destination_exists: bool
    input_problems: list[str] = field(default_factory=list)  # one sentence each


@dataclass
class Preflight:
    """Everything the checks found; `account` is None when there is no token to check with."""

    dataset: DatasetReport
    account: AccountCheck | None
    token_missing: bool  # no token, and this is not a dry run: nothing can be submitted
    estimate: str

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way of submitting."""
        account_ok = self.account is None or (
            self.account.destination_exists and not self.account.input_problems
        )
        return self.dataset.ok and account_ok and not self.token_missing


def image_count(report: DatasetReport | None) -> int | None:
    """The usable images a dataset check counted, None when it counted none: the image count
    that goes with a Start into the estimate and the ledger."""
    found = report.counts.get("usable_images") if report is not None else None
    return found if isinstance(found, int) and found >= 0 else None


def token_missing(settings: Settings, *, dry_run: bool) -> bool:
    """A submit needs REPLICATE_API_TOKEN; a dry run checks what it can without one."""
    return not dry_run and not settings.token


async def check_dataset(
    config: TrainingConfig, settings: Settings, local: LocalDataset | None = None
) -> DatasetReport:
    """The URL's ZIP inspected remotely, or the report of a local dataset judged in full."""
    if local is not None:
        return local.report
    return await inspect_dataset(
        str(config.dataset_url),
        settings=settings,
        trigger_word=config.trigger_word,
        resolution=config.training.resolution,
    )


async def check_account(config: TrainingConfig, gateway: ReplicateGateway) -> AccountCheck:
    """The token (a bad one raises the token sentence), the destination, the input schema."""
    account = await gateway.check_token() or None
    exists = await gateway.destination_exists(str(config.destination))
    stand_in = UPLOAD_STAND_IN if config.dataset_path else None  # uploaded only at Start
    problems = await gateway.check_inputs(to_trainer_input(config, input_images=stand_in))
    return AccountCheck(account=account, destination_exists=exists, input_problems=problems)


def estimate_text(
    config: TrainingConfig,
    settings: Settings,
    *,
    images: int | None = None,
    history: bool = True,
) -> str:
    """Duration and cost from the steps, batch size, resolution and image count, as one line
    saying what it is based on.

    With `history`, the team's finished trainings in the bot's database (`SD35L_DATABASE`), when
    that file is there and readable, calibrate it exactly as the bot's preview does, so the CLI
    shows the same estimate and basis ("from 7 of the team's trainings"). The read is read-only
    and anything unreadable means the community figures (see `bot.core.store.history`).
    `preflight()` (the bot's preview) passes `history=False`: the bot computes the same estimate
    through its store (`budget.Budget.estimate`), without a blocking read on its event loop.
    """
    calibration = None
    if history:
        from bot.core.store.history import read_samples  # stdlib sqlite3 only

        calibration = calibrate(read_samples(settings.database))
    t = config.training
    estimate = estimate_training(
        steps=t.steps,
        batch_size=t.batch_size,
        resolution=t.resolution,
        gpu_price=settings.gpu_price,
        calibration=calibration,
        images=images,
    )
    return f"{format_estimate(estimate)} ({estimate.basis})"


async def preflight(
    config: TrainingConfig,
    settings: Settings,
    gateway: ReplicateGateway,
    *,
    dry_run: bool,
    local: LocalDataset | None = None,
) -> Preflight:
    """Every check in order, for a front end that shows all findings at once."""
    dataset = await check_dataset(config, settings, local)
    account = await check_account(config, gateway) if settings.token else None
    return Preflight(
        dataset=dataset,
        account=account,
        token_missing=token_missing(settings, dry_run=dry_run),
        estimate=estimate_text(config, settings, images=image_count(dataset), history=False),
    )
