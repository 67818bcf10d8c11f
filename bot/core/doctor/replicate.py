"""Replicate's side of a deployment: the token and its account, the destination model and its
owner, and the trainer version's schema against every input each preset sends.

The schema check is the one `preflight` uses before every submission
(`ReplicateGateway.check_inputs`), run here on each preset's inputs with a stand-in dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.doctor.local import check_clock
from bot.core.doctor.report import ChecklistLine, bad, good
from bot.core.errors import InputError, SD35LError
from bot.core.replicate.errors import CREATE_MODEL_URL, TOKEN_URL, split_destination
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.models import get_model
from bot.core.settings import DEFAULT_TRAINER, Settings

AREA = "Replicate"
STAND_IN_DATASET = "https://example.com/dataset.zip"  # checked for shape only, never fetched
STAND_IN_DESTINATION = "owner/model"  # the destination has its own check
STAND_IN_TRIGGER = "ZXQDOC"  # a rare word, as the config rules want
MSG_NO_TOKEN = "REPLICATE_API_TOKEN is not set, so nothing can be submitted."  # noqa: S105
FIX_NO_TOKEN = (
    f"create a token on your Replicate account's API tokens page ({TOKEN_URL}) and set "
    "REPLICATE_API_TOKEN in .env or the environment."
)


@dataclass
class ReplicateResult:
    findings: list[ChecklistLine]
    clock: ChecklistLine | None = None  # the local clock against Replicate's `Date`


async def check_replicate(
    settings: Settings, gateway: ReplicateGateway, destination: str | None
) -> ReplicateResult:
    """Token, destination, trainer; a refused or missing token stops the rest."""
    if not settings.token:
        return ReplicateResult([bad(AREA, MSG_NO_TOKEN, FIX_NO_TOKEN)])
    try:
        account = await gateway.check_token()
    except InputError:
        return ReplicateResult(
            [
                bad(
                    AREA,
                    "Replicate refused REPLICATE_API_TOKEN (401): it is wrong or was revoked.",
                    f"copy a token again from {TOKEN_URL} into REPLICATE_API_TOKEN.",
                )
            ]
        )
    except SD35LError as exc:
        return ReplicateResult(
            [bad(AREA, str(exc), "check the network and REPLICATE_BASE_URL, then run it again.")]
        )
    clock = check_clock("Replicate", gateway.server_date, datetime.now(UTC))
    found = [good(AREA, f"REPLICATE_API_TOKEN works: account {account or '(unnamed)'}.")]
    found.append(await _destination(gateway, destination, account))
    found.append(await _trainer(settings, gateway))
    return ReplicateResult(found, clock)


async def _destination(
    gateway: ReplicateGateway, destination: str | None, account: str
) -> ChecklistLine:
    if not destination or not destination.strip():
        return good(
            AREA,
            "no default destination (SD35L_DEFAULT_DESTINATION) to check; each training names "
            "its own.",
        )
    try:
        owner, name = split_destination(destination)
        model = await get_model(gateway, destination)
    except InputError as exc:
        return bad(AREA, str(exc), "set SD35L_DEFAULT_DESTINATION to owner/model-name.")
    except SD35LError as exc:
        return bad(AREA, str(exc), "run it again; if it persists, check status.replicate.com.")
    full = f"{owner}/{name}"
    if model is None:
        return bad(
            AREA,
            f"the destination model {full} does not exist, so trainings would be refused.",
            f"create it at {CREATE_MODEL_URL} (owner {account or owner}, private), or let the "
            "first training create it (`sd35l-trainer train ... --create-destination`).",
        )
    real_owner = str(model.get("owner") or owner)
    if account and real_owner.lower() != account.lower():
        return bad(
            AREA,
            f"the destination {full} belongs to {real_owner}, not to {account} (the account of "
            "REPLICATE_API_TOKEN), so trainings cannot push their weights there.",
            f"use a destination under {account}/ (e.g. SD35L_DEFAULT_DESTINATION="
            f"{account}/{name}), or the API token of {real_owner}.",
        )
    return good(AREA, f"the destination {full} exists and belongs to {real_owner}.")


async def _trainer(settings: Settings, gateway: ReplicateGateway) -> ChecklistLine:
    from bot.core.config.inputs import secret_inputs, to_trainer_input
    from bot.core.config.model import resolve_config
    from bot.core.config.presets import load_presets

    try:
        await gateway.trainer_input_schema()
    except SD35LError as exc:
        return bad(
            AREA,
            str(exc),
            f"set SD35L_TRAINER to the trainer's owner/name:version (default {DEFAULT_TRAINER}).",
        )
    problems: list[str] = []
    names: set[str] = set()
    presets = list(load_presets())
    for preset in presets:
        cli: dict[str, Any] = {
            "preset": preset,
            "dataset_url": STAND_IN_DATASET,
            "destination": STAND_IN_DESTINATION,
            "trigger_word": STAND_IN_TRIGGER,
        }
        if settings.wandb_api_key is not None:  # sample prompts are sent only with a W&B key
            cli["wandb_sample_prompts"] = [f"a photo of {STAND_IN_TRIGGER}"]
        try:
            config = resolve_config(cli=cli, settings=settings).config
            inputs = to_trainer_input(config)
        except InputError as exc:
            problems.append(f"preset {preset}: {exc}")
            continue
        # Secret inputs are sent beside the others: only their names matter here.
        inputs.update(dict.fromkeys(secret_inputs(settings), "x"))
        names.update(inputs)
        problems += [f"preset {preset}: {p}" for p in await gateway.check_inputs(inputs)]
    trainer = settings.trainer_model
    if problems:
        return bad(
            AREA,
            f"the trainer {trainer} does not take what sd35l-trainer sends: "
            + " ".join(dict.fromkeys(problems)),
            "set SD35L_TRAINER to the version this release supports "
            f"({DEFAULT_TRAINER.split(':')[1][:12]}…), or upgrade sd35l-trainer.",
        )
    version = settings.trainer_version[:12]
    return good(
        AREA,
        f"the trainer {trainer}:{version}… is reachable and takes every input sent "
        f"({len(names)} inputs, presets {', '.join(presets)}).",
    )
