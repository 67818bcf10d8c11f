"""Sample images while it trains: `wandb.sample_prompts` / `--sample-prompt` / /train's
`sample_prompts`, the trigger word added, refused without WANDB_API_KEY, and the card and the CLI
saying where the samples appear and how often."""

from __future__ import annotations

import pytest

from bot.core.config.inputs import secret_inputs, to_trainer_input
from bot.core.config.model import resolve_config
from bot.core.config.samples import with_trigger
from bot.core.errors import InputError
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.bot_support import World, has_button, make_bot, train_options
from tests.cli_support import TRIGGER, invoke

WANDB = "wandb-" + "k" * 30
BASE = {"dataset_url": "https://example.com/d.zip", "destination": "a/b", "trigger_word": "ZQX"}


def test_the_trigger_word_is_added_where_missing() -> None:
    assert with_trigger("a photo on a beach", "ZQX") == "ZQX, a photo on a beach"
    assert with_trigger("zqx in the rain", "ZQX") == "zqx in the rain"
    assert with_trigger("[trigger] at night", "ZQX") == "ZQX at night"
    assert with_trigger("ZQXY on a bike", "ZQX") == "ZQX, ZQXY on a bike"


def test_prompts_reach_the_trainer_newline_separated_only_with_a_key() -> None:
    settings = load_settings(WANDB_API_KEY=WANDB)
    file = {**BASE, "wandb": {"sample_prompts": ["on a beach", "ZQX at night"]}}
    config = resolve_config(file=file, settings=settings).config
    inputs = to_trainer_input(config)
    assert inputs["wandb_sample_prompts"] == "ZQX, on a beach\nZQX at night"
    assert secret_inputs(settings) == {"wandb_api_key": WANDB}
    assert "wandb_sample_prompts" not in to_trainer_input(
        resolve_config(file=BASE, settings=settings).config
    )
    with pytest.raises(InputError) as err:
        resolve_config(file=file, settings=load_settings())
    assert err.value.field == "wandb.sample_prompts" and "WANDB_API_KEY" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_config(file={**BASE, "wandb": {"sample_prompts": "x" * 600}}, settings=settings)
    assert "500 characters" in str(err.value)


def test_cli_sample_prompt_refused_without_key_then_sent_and_explained(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [
        "train", "--dataset-url", dataset_url, "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--sample-prompt", "a photo on a beach", "--yes",
    ]  # fmt: skip
    refused = invoke(args)
    assert refused.exit_code == 2 and "WANDB_API_KEY" in refused.output
    assert not cli_env.trainings
    monkeypatch.setenv("WANDB_API_KEY", WANDB)
    result = invoke([*args, "--sample-prompt", f"{TRIGGER} in the snow"])
    assert result.exit_code == 0, result.output
    assert WANDB not in result.output
    assert (
        "Sample images: 2 prompt(s) rendered every 100 steps into the W&B project "
        "sd3.5_train_replicate" in result.output
    )
    (training,) = cli_env.trainings.values()
    assert training["input"]["wandb_sample_prompts"] == (
        f"{TRIGGER}, a photo on a beach\n{TRIGGER} in the snow"
    )


async def test_train_option_and_the_card_say_where_samples_appear(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, WANDB_API_KEY=WANDB)):
        options = train_options(world, sample_prompts="on a beach | at night")
        res = await fd.slash("train", options, user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=15)
        await fd.wait_until(lambda: bool(world.cards()), timeout=10)
        card = world.cards()[0].text()
        assert "Sample images" in card and "2 prompt(s) every 100 steps" in card
        assert "sd3.5_train_replicate" in card and WANDB not in card
    (training,) = world.sim.trainings.values()
    assert (
        training["input"]["wandb_sample_prompts"] == f"{TRIGGER}, on a beach\n{TRIGGER}, at night"
    )
    world.assert_clean()
