"""Trigger words and resolutions, CLI and bot alike: every input either passes and round-trips,
or is refused with a sentence naming the field; never an exception's own text."""

from __future__ import annotations

import string
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.config.fields import script_of
from bot.core.config.model import config_to_yaml, parse_config_text, resolve_config
from bot.core.errors import InputError
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.bot_support import World, train_options
from tests.bot_support import make_bot as make_bot
from tests.cli_support import invoke

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WIDE = load_settings(SD35L_POLICY_STEPS="3-6000", SD35L_POLICY_BATCH_SIZE="1-64")
BASE = {
    "dataset_url": "https://data.test/set.zip",
    "destination": "alice/my-lora",
    "trigger_word": "ZXQTOK",
}
# Words of Python's own exceptions that must never reach a user.
LEAKS = ("invalid literal", "Traceback", "ValueError", "object has no attribute", "int()")

lookalikes = st.sampled_from(list("АВСЕНКМОРТХаеорсхΑΒΕΗΚΜΝΟΡΤΧ"))
fullwidth = st.characters(min_codepoint=0xFF10, max_codepoint=0xFF5A)
odd_digits = st.sampled_from(list("²³¹⁰₂٣۴߅०১੨૩୪௫౬೭൮๙໑༢၃႔៥᠖"))
trigger_chars = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + "-_."), lookalikes, fullwidth
)
trigger_words = st.one_of(
    st.text(trigger_chars, min_size=1, max_size=12),
    st.text(max_size=45),
)
resolution_texts = st.one_of(
    st.lists(st.integers(0, 3000).map(str) | odd_digits, min_size=1, max_size=12).map(",".join),
    st.text(st.sampled_from(string.digits + ", ²٣"), max_size=40),
    st.lists(st.sampled_from(["512", "768", "1024"]), min_size=1, max_size=40).map(",".join),
)


def _refused_cleanly(err: InputError, field: str) -> None:
    text = str(err)
    assert err.field == field, text
    assert field in text
    assert not any(leak in text for leak in LEAKS), text


@PROFILE
@given(word=trigger_words)
def test_trigger_word_passes_and_round_trips_or_is_refused_by_name(word: str) -> None:
    try:
        resolved = resolve_config(cli={**BASE, "trigger_word": word}, settings=WIDE)
    except InputError as err:
        _refused_cleanly(err, "trigger_word")
        return
    accepted = resolved.config.trigger_word
    assert accepted == word.strip()
    assert unicodedata.normalize("NFKC", accepted) == accepted  # no full-width/styled forms
    assert len({script_of(ch) for ch in accepted if ch.isalpha()}) <= 1  # one script
    again = resolve_config(file=parse_config_text(config_to_yaml(resolved.config)), settings=WIDE)
    assert again.config.trigger_word == accepted


@PROFILE
@given(text=resolution_texts)
def test_resolution_passes_and_round_trips_or_is_refused_by_name(text: str) -> None:
    try:
        resolved = resolve_config(cli={**BASE, "resolution": text}, settings=WIDE)
    except InputError as err:
        _refused_cleanly(err, "training.resolution")
        return
    sizes = [int(p) for p in resolved.config.training.resolution.split(",")]
    assert sizes == [int(p) for p in text.split(",")]
    assert len(sizes) == len(set(sizes)) <= 8
    assert all(256 <= s <= 2048 and s % 64 == 0 for s in sizes)
    again = resolve_config(file=parse_config_text(config_to_yaml(resolved.config)), settings=WIDE)
    assert again.config.training.resolution == resolved.config.training.resolution


@pytest.mark.parametrize(
    ("word", "plain"),
    [
        ("FZ\u0422OK", "FZTOK"),
        ("\uff3a\uff38\uff31\uff34\uff2f\uff2b", "ZXQTOK"),
        ("\u0422\u041e\u041a\u0425", "TOKX"),  # all Cyrillic, every letter a Latin look-alike
    ],
)
def test_lookalike_trigger_words_are_refused_with_the_ascii_form(word: str, plain: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_config(cli={**BASE, "trigger_word": word}, settings=WIDE)
    _refused_cleanly(caught.value, "trigger_word")
    assert repr(plain) in str(caught.value) and "U+" in str(caught.value)


@pytest.mark.parametrize("word", ["\u00dcn\u00efc\u00f8d\u00e9", "\u0436\u0443\u043a\u0438"])
def test_plain_words_of_one_script_pass(word: str) -> None:
    assert resolve_config(cli={**BASE, "trigger_word": word}, settings=WIDE).config.trigger_word


def test_mixed_scripts_without_an_ascii_form_are_refused() -> None:
    with pytest.raises(InputError) as caught:
        resolve_config(cli={**BASE, "trigger_word": "Z\u0436OK"}, settings=WIDE)
    _refused_cleanly(caught.value, "trigger_word")
    assert "cyrillic, latin" in str(caught.value)


def test_resolution_count_and_duplicates_are_bounded() -> None:
    for text, words in (
        (",".join(["512"] * 1500), "at most 8"),
        ("768,1024,768", "768 more than once"),
        ("9" * 5000, "whole numbers"),
    ):
        with pytest.raises(InputError) as caught:
            resolve_config(cli={**BASE, "resolution": text}, settings=WIDE)
        _refused_cleanly(caught.value, "training.resolution")
        assert words in str(caught.value)


@pytest.mark.parametrize(
    "option",
    [
        ("--resolution", "\u00b2"),
        ("--resolution", ",".join(["512"] * 1500)),
        ("--trigger-word", "FZ\u0422OK"),
        ("--trigger-word", "\uff3a\uff38\uff31\uff34\uff2f\uff2b"),
    ],
)
def test_cli_refuses_with_exit_2_and_creates_nothing(
    cli_env: ReplicateSimulator, dataset_url: str, option: tuple[str, str]
) -> None:
    args = ["train", "--dataset-url", dataset_url, "--destination", "alice/lora"]
    args += ["--trigger-word", "ZXQTOK", *option, "--yes"]
    result = invoke(args)
    assert result.exit_code == 2, result.output
    field = "resolution" if option[0] == "--resolution" else "trigger_word"
    assert field in result.output
    assert not any(leak in result.output for leak in LEAKS), result.output
    assert cli_env.trainings == {}


@pytest.mark.parametrize(
    "options", [{"trigger_word": "FZ\u0422OK"}, {"resolution": "\u00b2"}, {"resolution": "768,768"}]
)
async def test_bot_refuses_in_an_ephemeral_message_naming_the_field(
    world: World, options: dict[str, Any]
) -> None:
    async with world.fd.running(make_bot(world)):
        res = await world.fd.slash("train", train_options(world, **options), user=world.alice)
        field = next(iter(options))
        answer = await res.wait_text(field, timeout=10)
        assert answer.ephemeral
        assert not any(leak in answer.text() for leak in LEAKS)
    assert world.sim.trainings == {}
    world.assert_clean()
