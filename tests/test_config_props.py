"""Property tests for the config parser/validator: what must hold for every input, not examples."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.config.model import (
    LAYERS,
    OPTIMIZERS,
    config_to_yaml,
    parse_config_text,
    resolve_config,
    to_trainer_input,
)
from bot.core.config.presets import FLAT_TO_PATH, PATHS, SECTIONS, load_presets
from bot.core.errors import InputError
from bot.core.settings import load_settings

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WIDE = load_settings(SD35L_POLICY_STEPS="3-6000", SD35L_POLICY_BATCH_SIZE="1-64")
BASE = {
    "dataset_url": "https://data.test/set.zip",
    "destination": "alice/my-lora",
    "trigger_word": "ZXQTOK",
}
KNOWN = set(PATHS) | set(SECTIONS) | set(FLAT_TO_PATH)

identifiers = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)
unknown_keys = identifiers.filter(lambda k: k not in KNOWN and "token" not in k and "key" not in k)
scalars = st.one_of(st.integers(-5, 5000), st.booleans(), st.text(max_size=8), st.none())


@PROFILE
@given(key=unknown_keys, value=scalars, section=st.sampled_from([None, *SECTIONS]))
def test_any_unknown_key_is_refused_by_name(key: str, value: Any, section: str | None) -> None:
    data: dict[str, Any] = dict(BASE)
    path = key if section is None else f"{section}.{key}"
    if section is None:
        data[key] = value
    else:
        data[section] = {key: value}
    try:
        parse_config_text(json.dumps(data))
    except InputError as err:
        assert err.field == path
        assert path in str(err)
    else:
        raise AssertionError(f"{path} was accepted")


@PROFILE
@given(
    bounds=st.tuples(st.integers(3, 6000), st.integers(3, 6000)).map(sorted),
    data=st.data(),
)
def test_steps_inside_the_policy_are_always_accepted(bounds: list[int], data: Any) -> None:
    lo, hi = bounds
    policy = load_settings(SD35L_POLICY_STEPS=f"{lo}-{hi}")
    steps = data.draw(st.integers(lo, hi))
    resolved = resolve_config(cli={**BASE, "steps": steps}, settings=policy)
    assert resolved.config.training.steps == steps
    outside = data.draw(st.one_of(st.integers(-100, lo - 1), st.integers(hi + 1, 10_000)))
    try:
        resolve_config(cli={**BASE, "steps": outside}, settings=policy)
    except InputError as err:
        assert err.field == "training.steps"
        assert f"{lo}–{hi}" in str(err) and "SD35L_POLICY_STEPS" in str(err)
    else:
        raise AssertionError(f"{outside} outside {lo}-{hi} was accepted")


@PROFILE
@given(
    cli_steps=st.none() | st.integers(3, 6000),
    file_steps=st.none() | st.integers(3, 6000),
    preset=st.none() | st.sampled_from(["beginner", "experienced", "fast"]),
    preset_in_cli=st.booleans(),
    cli_dest=st.none() | st.just("cli/dest"),
    file_dest=st.none() | st.just("file/dest"),
    env_dest=st.none() | st.just("env/dest"),
)
def test_layering_priority(
    cli_steps: int | None,
    file_steps: int | None,
    preset: str | None,
    preset_in_cli: bool,
    cli_dest: str | None,
    file_dest: str | None,
    env_dest: str | None,
) -> None:
    env = load_settings(
        SD35L_POLICY_STEPS="3-6000",
        **({"SD35L_DEFAULT_DESTINATION": env_dest} if env_dest else {}),
    )
    cli: dict[str, Any] = {"steps": cli_steps, "destination": cli_dest}
    file: dict[str, Any] = {"destination": file_dest, "training": {"steps": file_steps}}
    (cli if preset_in_cli else file)["preset"] = preset
    resolved = resolve_config(
        cli={**cli, "dataset_url": BASE["dataset_url"], "trigger_word": "ZXQTOK"},
        file=file,
        settings=env,
        require_all=False,
    )
    preset_steps = load_presets()[preset].values["steps"] if preset else None
    candidates = [("cli", cli_steps), ("file", file_steps), ("preset", preset_steps)]
    expected = next(((o, v) for o, v in candidates if v is not None), ("default", 1500))
    assert (resolved.origins["training.steps"], resolved.config.training.steps) == expected
    dests = [("cli", cli_dest), ("file", file_dest), ("env", env_dest)]
    expected_dest = next(((o, v) for o, v in dests if v is not None), ("default", None))
    assert (resolved.origins["destination"], resolved.config.destination) == expected_dest
    assert set(resolved.origins) == set(PATHS)
    assert set(resolved.origins.values()) <= set(LAYERS)


sizes = st.integers(4, 32).map(lambda n: n * 64)
valid_configs = st.fixed_dictionaries(
    {
        "dataset_url": st.sampled_from(["https://a.test/x.zip", "http://b.test/d/e.zip?dl=1"]),
        "destination": st.from_regex(r"\A[a-z0-9]{1,8}/[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?\Z"),
        "trigger_word": st.from_regex(r"\A[A-Z]{3,8}[0-9]{0,3}\Z"),
        "preset": st.none() | st.sampled_from(["beginner", "experienced", "fast"]),
        "steps": st.integers(3, 6000),
        "batch_size": st.integers(1, 64),
        "optimizer": st.sampled_from(OPTIMIZERS),
        "learning_rate": st.floats(1e-7, 10, allow_nan=False, allow_infinity=False),
        "resolution": st.lists(sizes, min_size=1, max_size=3, unique=True),
        "lora_rank": st.integers(1, 128),
        "wandb_project": st.from_regex(r"\A[A-Za-z0-9_. -]{0,20}[A-Za-z0-9]\Z"),
        "wandb_save_interval": st.integers(1, 1000),
        "wandb_sample_interval": st.integers(1, 1000),
        "caption_dropout_rate": st.floats(0, 1),
        "cache_latents_to_disk": st.booleans(),
    }
)


@PROFILE
@given(values=valid_configs)
def test_yaml_export_round_trips(values: dict[str, Any]) -> None:
    try:
        resolved = resolve_config(cli=values, settings=WIDE)
    except InputError as err:
        # Generated trigger words can be common words or placeholders; nothing else may fail.
        assert err.field == "trigger_word", str(err)
        return
    text = config_to_yaml(resolved.config)
    again = resolve_config(file=parse_config_text(text), settings=WIDE)
    assert again.config == resolved.config
    assert set(to_trainer_input(again.config)) >= {"input_images", "steps", "optimizer"}


@PROFILE
@given(text=st.text(max_size=200))
def test_parser_never_crashes(text: str) -> None:
    try:
        result = parse_config_text(text)
    except InputError as err:
        assert str(err).endswith(".") and "\n" not in str(err)
    else:
        assert isinstance(result, dict)


@PROFILE
@given(word=st.text(max_size=50))
def test_trigger_word_is_accepted_or_refused_by_name(word: str) -> None:
    try:
        resolved = resolve_config(cli={**BASE, "trigger_word": word}, settings=WIDE)
    except InputError as err:
        assert err.field == "trigger_word"
    else:
        accepted = resolved.config.trigger_word
        assert accepted and " " not in accepted and 2 <= len(accepted) <= 40


@PROFILE
@given(resolution=st.lists(st.integers(0, 3000), min_size=1, max_size=4))
def test_resolution_rule(resolution: list[int]) -> None:
    text = ",".join(map(str, resolution))
    valid = all(256 <= n <= 2048 and n % 64 == 0 for n in resolution)
    valid = valid and len(set(resolution)) == len(resolution)
    try:
        resolved = resolve_config(cli={**BASE, "resolution": text}, settings=WIDE)
    except InputError as err:
        assert not valid and err.field == "training.resolution"
    else:
        assert valid and resolved.config.training.resolution == text
