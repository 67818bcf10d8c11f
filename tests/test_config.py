"""The training config: layering, every field's refusal sentence, secrets, presets, template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.config.model import (
    OPTIMIZERS,
    TrainingConfig,
    config_to_yaml,
    describe_parameters,
    flat_values,
    load_config,
    load_config_file,
    load_presets,
    parse_config_text,
    render_template,
    resolve_config,
    secret_inputs,
    to_trainer_input,
)
from bot.core.config.presets import FLAT_TO_PATH, get_preset, presets_dir
from bot.core.config.template import TEMPLATE_VALUES
from bot.core.errors import InputError, SD35LError
from bot.core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "dataset_url": "https://data.test/set.zip",
    "destination": "alice/my-lora",
    "trigger_word": "ZXQTOK",
}
TRAINER_KEYS = {
    "input_images",
    "trigger_word",
    "steps",
    "learning_rate",
    "batch_size",
    "resolution",
    "lora_rank",
    "caption_dropout_rate",
    "optimizer",
    "cache_latents_to_disk",
    "wandb_project",
    "wandb_save_interval",
    "wandb_sample_interval",
}


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def refused(settings: Settings, **kwargs: Any) -> InputError:
    cli = kwargs.pop("cli", None)
    file = kwargs.pop("file", None)
    with pytest.raises(InputError) as info:
        resolve_config(cli=cli, file=file, settings=settings, **kwargs)
    assert info.value.exit_code == 2
    return info.value


# --- defaults, presets, layering --------------------------------------------------------------


def test_defaults_are_the_beginner_preset(settings: Settings) -> None:
    """No preset costs what `interactive` (which proposes beginner) estimates: batch 1."""
    resolved = resolve_config(cli=BASE, settings=settings)
    beginner = resolve_config(cli={**BASE, "preset": "beginner"}, settings=settings)
    assert resolved.config.training == beginner.config.training
    t, w, a = resolved.config.training, resolved.config.wandb, resolved.config.advanced
    assert (t.steps, t.lora_rank, t.optimizer, t.batch_size) == (1500, 16, "prodigy", 1)
    assert (t.resolution, t.learning_rate) == ("768,1024", 1.0)
    assert (w.project, w.save_interval, w.sample_interval) == ("sd3.5_train_replicate", 100, 100)
    assert (a.caption_dropout_rate, a.cache_latents_to_disk) == (0.05, False)
    assert resolved.origins["training.steps"] == "default"
    assert resolved.origins["dataset_url"] == "cli"
    assert resolved.warnings == []
    assert resolved.config.preset is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("beginner", ("prodigy", 1.0, 1500, 1, "768,1024")),
        ("experienced", ("prodigy", 1.0, 1500, 4, "768,1024")),
        ("fast", ("adamw8bit", 0.0004, 1000, 4, "512,768")),
    ],
)
def test_presets(settings: Settings, name: str, expected: tuple[Any, ...]) -> None:
    resolved = resolve_config(cli={**BASE, "preset": name.upper()}, settings=settings)
    t = resolved.config.training
    assert (t.optimizer, t.learning_rate, t.steps, t.batch_size, t.resolution) == expected
    assert resolved.config.preset == name
    assert resolved.origins["training.optimizer"] == "preset"
    assert resolved.origins["training.lora_rank"] == "default"
    preset = load_presets()[name]
    assert preset.description and "\n" not in preset.description


def test_preset_descriptions_match_their_estimates(settings: Settings) -> None:
    """A preset called quicker and cheaper than another is estimated so, at both ends, and no
    preset claims to beat one it does not beat."""
    from bot.core.money.estimate import estimate_training

    def estimate(name: str) -> Any:
        t = resolve_config(cli={**BASE, "preset": name}, settings=settings).config.training
        return estimate_training(
            steps=t.steps, batch_size=t.batch_size, resolution=t.resolution, gpu_price=1.0
        )

    presets = load_presets()
    beginner = estimate("beginner")
    for name in presets:
        text = presets[name].description.lower()
        mine = estimate(name)
        for other in presets:
            theirs = estimate(other)
            cheaper = mine.high_cents < theirs.high_cents and mine.low_cents < theirs.low_cents
            quicker = mine.seconds_high < theirs.seconds_high
            assert (f"cheaper than {other}" in text) <= (cheaper and quicker), (name, other)
        if "3x the cost of beginner" in text:
            ratio = mine.low_cents / beginner.low_cents
            assert 2.5 <= ratio <= 3.5, (name, ratio)
    fast = presets["fast"]
    assert "quicker and cheaper than experienced" in fast.description.lower()
    assert fast.values["batch_size"] == presets["experienced"].values["batch_size"] == 4


def test_every_field_problem_is_reported_at_once(settings: Settings) -> None:
    file = {"training": {"steps": 99999, "lora_rank": 0, "optimizer": "sgd"}}
    with pytest.raises(InputError) as info:
        resolve_config(cli={"dataset_url": BASE["dataset_url"]}, file=file, settings=settings)
    text = str(info.value)
    for name in ("destination", "trigger_word", "training.steps", "training.lora_rank",
                 "training.optimizer"):  # fmt: skip
        assert name in text, (name, text)
    assert text.startswith("The config has 5 problems:")
    assert info.value.field == "destination"


def test_preset_files_layout() -> None:
    assert list(load_presets()) == ["beginner", "experienced", "fast"]
    assert presets_dir() == REPO / "config" / "presets"
    for path in presets_dir().glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert set(data) == {"description", "training"}


def test_unknown_preset_lists_allowed(settings: Settings) -> None:
    err = refused(settings, cli={**BASE, "preset": "pro"})
    assert err.field == "preset"
    assert "beginner, experienced, fast" in str(err)
    err = refused(settings, file={**BASE, "preset": 3})
    assert err.field == "preset"


def test_layering_cli_over_file_over_preset_over_env(settings: Settings) -> None:
    env = load_settings(SD35L_DEFAULT_DESTINATION="team/default-lora")
    file = {
        "dataset_url": "https://file.test/a.zip",
        "trigger_word": "FILETOK",
        "preset": "beginner",
        "training": {"steps": 1200, "batch_size": 2},
    }
    resolved = resolve_config(cli={"steps": 1800, "batch_size": None}, file=file, settings=env)
    c, o = resolved.config, resolved.origins
    assert (c.training.steps, o["training.steps"]) == (1800, "cli")
    assert (c.training.batch_size, o["training.batch_size"]) == (2, "file")
    assert (c.training.optimizer, o["training.optimizer"]) == ("prodigy", "preset")
    assert (c.destination, o["destination"]) == ("team/default-lora", "env")
    assert o["preset"] == "file"
    cli_dest = resolve_config(cli={"destination": "bob/x"}, file=file, settings=env)
    assert cli_dest.config.destination == "bob/x"
    assert cli_dest.origins["destination"] == "cli"


def test_dotted_cli_keys_and_flat_values(settings: Settings) -> None:
    resolved = resolve_config(cli={**BASE, "training.steps": 1100}, settings=settings)
    flat = flat_values(resolved.config)
    assert flat["steps"] == 1100
    assert set(flat) == set(FLAT_TO_PATH)


def test_adamw8bit_without_learning_rate_uses_0_0004(settings: Settings) -> None:
    resolved = resolve_config(cli={**BASE, "optimizer": "adamw8bit"}, settings=settings)
    assert resolved.config.training.learning_rate == 0.0004
    assert resolved.origins["training.learning_rate"] == "default"
    assert resolved.warnings == []
    # A preset's rate belongs to the preset's optimizer; switching the optimizer switches it.
    switched = resolve_config(
        cli={**BASE, "preset": "fast", "optimizer": "prodigy"}, settings=settings
    )
    assert switched.config.training.learning_rate == 1.0
    # A rate someone wrote stays, with a warning when it does not fit.
    kept = resolve_config(
        cli={**BASE, "optimizer": "adamw8bit"},
        file={"training": {"learning_rate": 0.5}},
        settings=settings,
    )
    assert kept.config.training.learning_rate == 0.5
    assert kept.warnings and "adamw8bit" in kept.warnings[0]


@pytest.mark.parametrize(
    ("optimizer", "rate", "word"),
    [("prodigy", 0.0004, "prodigy"), ("adamw8bit", 1e-8, "barely"), ("prodigy", 5.0, "1.0")],
)
def test_learning_rate_mismatch_warns(
    settings: Settings, optimizer: str, rate: float, word: str
) -> None:
    resolved = resolve_config(
        cli={**BASE, "optimizer": optimizer, "learning_rate": rate}, settings=settings
    )
    assert any(word in w and "training.learning_rate" in w for w in resolved.warnings)


def test_policy_from_settings(settings: Settings) -> None:
    err = refused(settings, cli={**BASE, "steps": 99999})
    assert str(err) == (
        "training.steps: 99999 is not allowed; this team allows 1000–2000 "
        "(SD35L_POLICY_STEPS; the trainer accepts 3–6000)."
    )
    assert err.field == "training.steps"
    wide = load_settings(SD35L_POLICY_STEPS="3-6000", SD35L_POLICY_BATCH_SIZE="1-8")
    ok = resolve_config(cli={**BASE, "steps": 300, "batch_size": 8}, settings=wide)
    assert ok.config.training.steps == 300
    assert any("1000–2000" in w for w in ok.warnings)
    err = refused(settings, cli={**BASE, "batch_size": 8})
    assert "SD35L_POLICY_BATCH_SIZE" in str(err) and "1–4" in str(err)
    assert TrainingConfig.model_validate({"training": {"steps": 3000}}).training.steps == 3000
    with pytest.raises(ValueError, match="3–6000"):
        TrainingConfig.model_validate({"training": {"steps": 7000}})


def test_policy_narrower_than_defaults_clamps_unchosen_values() -> None:
    narrow = load_settings(SD35L_POLICY_STEPS="500-800", SD35L_POLICY_BATCH_SIZE="2-2")
    resolved = resolve_config(cli={**BASE, "preset": "beginner"}, settings=narrow)
    assert resolved.config.training.steps == 800
    assert resolved.config.training.batch_size == 2
    assert any("SD35L_POLICY_STEPS" in w for w in resolved.warnings)
    err = refused(narrow, cli={**BASE, "steps": 1500})
    assert "500–800" in str(err)


def test_required_fields(settings: Settings) -> None:
    for field in ("dataset_url", "destination", "trigger_word"):
        cli = {k: v for k, v in BASE.items() if k != field}
        err = refused(settings, cli=cli)
        assert err.field == field and field in str(err)
    draft = resolve_config(cli={"steps": 1200}, settings=settings, require_all=False)
    assert draft.config.dataset_url is None
    with pytest.raises(InputError, match="dataset_url"):
        to_trainer_input(draft.config)


# --- field rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"steps": True}, "training.steps", "whole number"),
        ({"steps": 1500.5}, "training.steps", "whole number"),
        ({"steps": "abc"}, "training.steps", "whole number"),
        ({"lora_rank": 0}, "training.lora_rank", "1–128"),
        ({"lora_rank": 129}, "training.lora_rank", "1–128"),
        ({"learning_rate": True}, "training.learning_rate", "number"),
        ({"learning_rate": 0}, "training.learning_rate", "above 0"),
        ({"learning_rate": "fast"}, "training.learning_rate", "not a number"),
        ({"resolution": "768,1000"}, "training.resolution", "multiple of 64"),
        ({"resolution": "128"}, "training.resolution", "256–2048"),
        ({"resolution": "big"}, "training.resolution", "comma-separated"),
        ({"resolution": True}, "training.resolution", "768,1024"),
        ({"resolution": 1.5}, "training.resolution", "768,1024"),
        ({"optimizer": "lion"}, "training.optimizer", "prodigy or adamw8bit"),
        ({"caption_dropout_rate": 2}, "advanced.caption_dropout_rate", "0 to 1"),
        ({"cache_latents_to_disk": "maybe"}, "advanced.cache_latents_to_disk", "true or false"),
        ({"wandb_project": "a/b"}, "wandb.project", "1–128"),
        ({"wandb_save_interval": 0}, "wandb.save_interval", "1–100000"),
        ({"trigger_word": "TOK"}, "trigger_word", "placeholder"),
        ({"trigger_word": "change_me"}, "trigger_word", "placeholder"),
        ({"trigger_word": "dog"}, "trigger_word", "common English word"),
        ({"trigger_word": "The"}, "trigger_word", "common English word"),
        ({"trigger_word": "<@1234>"}, "trigger_word", "Discord mention"),
        ({"trigger_word": "@everyone"}, "trigger_word", "Discord mention"),
        ({"trigger_word": "my token"}, "trigger_word", "without spaces"),
        ({"trigger_word": "x"}, "trigger_word", "2–40"),
        ({"trigger_word": "a,b"}, "trigger_word", "letters and digits"),
        ({"trigger_word": "1234"}, "trigger_word", "one letter"),
        ({"trigger_word": 1234}, "trigger_word", "quotes"),
        ({"trigger_word": "  "}, "trigger_word", "empty"),
        ({"destination": "alice"}, "destination", "owner/model-name"),
        ({"destination": "a/b/c"}, "destination", "owner/model-name"),
        ({"destination": "Alice/My-Lora"}, "destination", "'alice/my-lora'"),
        ({"destination": "alice/-lora"}, "destination", "lowercase letters"),
        ({"destination": "al ice/lora"}, "destination", "username"),
        ({"destination": "-alice/lora"}, "destination", "username"),
        ({"destination": "https://replicate.com/alice/lora"}, "destination", "'alice/lora'"),
        ({"destination": "your-username/CHANGE_ME"}, "destination", "placeholder"),
        ({"dataset_url": "ftp://x.test/a.zip"}, "dataset_url", "web link"),
        ({"dataset_url": "not a url"}, "dataset_url", "web link"),
        ({"dataset_url": "https://[::1/a.zip"}, "dataset_url", "web link"),
        ({"dataset_url": "https://u:pw@x.test/a.zip"}, "dataset_url", "password"),
        ({"dataset_url": "https://x.test/" + "a" * 2100}, "dataset_url", "2048"),
        ({"dataset_url": TEMPLATE_VALUES["dataset_url"]}, "dataset_url", "placeholder"),
    ],
)
def test_field_refusals(settings: Settings, extra: dict[str, Any], field: str, words: str) -> None:
    err = refused(settings, cli={**BASE, **extra})
    assert err.field == field
    message = str(err)
    assert message.startswith(field) and words in message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("word", ["sks", "MYTOK", "zxq_tok", "ohwx-man", "Ünïcødé", "v1.2a"])
def test_trigger_words_allowed(settings: Settings, word: str) -> None:
    assert resolve_config(cli={**BASE, "trigger_word": word}, settings=settings)


def test_normalisation(settings: Settings) -> None:
    resolved = resolve_config(
        cli={
            **BASE,
            "optimizer": " AdamW8bit ",
            "resolution": " 512 , 768 ",
            "trigger_word": " ZXQTOK ",
        },
        settings=settings,
    )
    assert resolved.config.training.optimizer == "adamw8bit"
    assert resolved.config.training.resolution == "512,768"
    assert resolved.config.trigger_word == "ZXQTOK"
    listed = resolve_config(cli={**BASE, "resolution": [1024]}, settings=settings)
    assert listed.config.training.resolution == "1024"
    assert resolve_config(cli={**BASE, "resolution": 768}, settings=settings)


def test_env_destination_error_says_where_it_came_from() -> None:
    bad = load_settings(SD35L_DEFAULT_DESTINATION="Nope")
    cli = {k: v for k, v in BASE.items() if k != "destination"}
    err = refused(bad, cli=cli)
    assert "SD35L_DEFAULT_DESTINATION" in str(err)


def test_example_host_warns(settings: Settings) -> None:
    resolved = resolve_config(
        cli={**BASE, "dataset_url": "https://example.com/my-dataset.zip"}, settings=settings
    )
    assert any("example" in w and w.startswith("dataset_url") for w in resolved.warnings)


def test_unknown_cli_option(settings: Settings) -> None:
    err = refused(settings, cli={**BASE, "stesp": 1})
    assert err.field == "stesp" and "did you mean steps?" in str(err)


# --- parsing files ----------------------------------------------------------------------------


HANDOFF = """
dataset_url: "https://example.com/my-dataset.zip"
destination: "username/my-lora-model"
trigger_word: "MYTOK"
preset: "beginner"            # optional
training: {steps: 1500, batch_size: 4, optimizer: prodigy, learning_rate: 1.0,
           resolution: "768,1024", lora_rank: 16}
wandb: {project: "sd3.5_train_replicate", save_interval: 100, sample_interval: 100}
advanced: {caption_dropout_rate: 0.05, cache_latents_to_disk: false}
"""


def test_handoff_example_parses(settings: Settings) -> None:
    data = parse_config_text(HANDOFF)
    resolved = resolve_config(file=data, settings=settings)
    assert resolved.config.training.batch_size == 4
    assert resolved.origins["training.batch_size"] == "file"
    as_json = parse_config_text(json.dumps(data))
    assert as_json == data


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("trainig:\n  steps: 1500\n", "trainig", "did you mean training?"),
        ("training:\n  stesp: 1500\n", "training.stesp", "did you mean steps?"),
        ("steps: 1500\n", "steps", "belongs under training: as steps"),
        ("wandb_project: x\n", "wandb_project", "belongs under wandb: as project"),
        ("training: 5\n", "training", "not a section"),
        ("- a\n- b\n", "config", "mapping"),
        ("", "config", "empty"),
        ("a: [\n", "config", "line"),
        ("training:\n\tsteps: 1\n", "config", "tabs"),
        ('{"steps": 1,}', "config", "JSON"),
        ("steps: 1\nsteps: 2\n", "steps", "twice (line 2)"),
        ('{"preset": "a", "preset": "b"}', "preset", "twice"),
        ("[[[[" * 300 + "]]]]" * 300, "config", "config"),
    ],
)
def test_parse_refusals(text: str, field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_config_text(text)
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "hf_token: abc\n",
        "wandb_api_key: abcdef\n",
        "wandb:\n  api_key: abcdef\n",
        "api_token: x\n",
        "training:\n  steps: {password: hunter2}\n",
        "trigger_word: r8_" + "sim" * 10 + "\n",
        "wandb:\n  project: " + "0123456789abcdef" * 2 + "01234567\n",
        "destination: hf_" + "x" * 30 + "\n",
        "r8_" + "sim" * 10 + ": 1\n",
        "training:\n  r8_" + "sim" * 10 + ": 1\n",
        "training:\n  resolution: [r8_" + "sim" * 10 + "]\n",
    ],
)
def test_secrets_refused_without_echo(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_config_text(text)
    message = str(info.value)
    assert "WANDB_API_KEY" in message and "environment" in message
    for secret in ("hunter2", "abcdef", "sim" * 10, "x" * 30, "0123456789abcdef"):
        assert secret not in message


def test_secret_cli_value_refused(settings: Settings) -> None:
    err = refused(settings, cli={**BASE, "wandb_project": "r8_" + "sim" * 10})
    assert "sim" * 10 not in str(err)


def test_commit_hash_in_dataset_url_is_not_a_secret(settings: Settings) -> None:
    url = "https://huggingface.co/datasets/a/b/resolve/" + "0123456789" * 4 + "/set.zip"
    data = parse_config_text(f"dataset_url: {url}\n")
    assert data["dataset_url"] == url


def test_alias_bomb_is_bounded() -> None:
    items = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        items.append(f"&a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]")
    with pytest.raises(InputError, match="too deeply nested or repetitive"):
        parse_config_text("trigger_word: [" + ", ".join(items) + "]\n")


def test_size_limit() -> None:
    with pytest.raises(InputError, match="KB"):
        parse_config_text("# " + "x" * 70_000)


def test_yaml_null_means_not_given(settings: Settings) -> None:
    data = parse_config_text(
        "training:\n  steps:\nwandb:\n" + "".join(f"{k}: {v}\n" for k, v in BASE.items())
    )
    resolved = resolve_config(file=data, settings=settings)
    assert resolved.origins["training.steps"] == "default"


def test_stored_config_dump_resolves_again(settings: Settings) -> None:
    first = resolve_config(cli=BASE, settings=settings)
    again = resolve_config(file=first.config.model_dump(mode="json"), settings=settings)
    assert again.config == first.config


def test_load_config_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HANDOFF)
    assert load_config_file(path)["preset"] == "beginner"
    assert load_config(path, settings=settings).config.trigger_word == "MYTOK"
    with pytest.raises(InputError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="folder"):
        load_config_file(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="UTF-8"):
        load_config_file(binary)
    big = tmp_path / "big.yaml"
    big.write_text("#" * 70_000)
    with pytest.raises(InputError, match="KB"):
        load_config_file(big)
    err = tmp_path / "c.yaml"
    err.write_text("trigger_word: [\n")
    with pytest.raises(InputError, match=r"c\.yaml: not valid YAML"):
        load_config_file(err)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1")

    def deny(*args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(InputError, match="cannot be read"):
        load_config_file(path)


# --- trainer input, secrets ---------------------------------------------------------------------


def test_to_trainer_input_exact_names(settings: Settings) -> None:
    resolved = resolve_config(cli={**BASE, "preset": "fast"}, settings=settings)
    inputs = to_trainer_input(resolved.config)
    assert set(inputs) == TRAINER_KEYS
    assert inputs["input_images"] == BASE["dataset_url"]
    assert inputs["optimizer"] == "adamw8bit" and inputs["learning_rate"] == 0.0004
    for banned in ("destination", "autocaption", "seed", "gradient_checkpointing", "wandb_api_key"):
        assert banned not in inputs
    json.dumps(inputs)


def test_secret_inputs() -> None:
    assert secret_inputs(load_settings()) == {}
    assert secret_inputs(load_settings(WANDB_API_KEY="  ")) == {}
    key = "f" * 40
    assert secret_inputs(load_settings(WANDB_API_KEY=key)) == {"wandb_api_key": key}


# --- template, export, catalog -------------------------------------------------------------------


def fill(template: str) -> str:
    return (
        template.replace(TEMPLATE_VALUES["dataset_url"], BASE["dataset_url"])
        .replace(TEMPLATE_VALUES["destination"], BASE["destination"])
        .replace('"CHANGE_ME"', '"ZXQTOK"')
    )


@pytest.mark.parametrize("preset", [None, "beginner", "experienced", "fast"])
def test_template_round_trip(settings: Settings, preset: str | None) -> None:
    template = render_template(preset)
    assert template.count("CHANGE_ME") >= 3 and "# " in template
    unchanged = parse_config_text(template)
    err = refused(settings, file=unchanged)
    assert err.field == "dataset_url" and "placeholder" in str(err)
    resolved = resolve_config(file=parse_config_text(fill(template)), settings=settings)
    assert resolved.config.preset == preset
    expected = get_preset(preset).values["steps"] if preset else 1500
    assert resolved.config.training.steps == expected
    assert resolved.warnings == []


def test_template_unknown_preset() -> None:
    with pytest.raises(InputError, match="preset"):
        render_template("nope")


def test_config_to_yaml_round_trips(settings: Settings) -> None:
    resolved = resolve_config(
        cli={**BASE, "preset": "fast", "learning_rate": 1e-5, "trigger_word": "yes_tok"},
        settings=settings,
    )
    text = config_to_yaml(resolved.config)
    again = resolve_config(file=parse_config_text(text), settings=settings)
    assert again.config == resolved.config
    assert "token" not in text.lower().replace("yes_tok", "")
    draft = resolve_config(settings=settings, require_all=False)
    assert "dataset_url" not in config_to_yaml(draft.config)


def test_describe_parameters_covers_every_flat_key() -> None:
    described = describe_parameters()
    assert set(described) == set(FLAT_TO_PATH)
    assert all(line and "\n" not in line for line in described.values())
    assert OPTIMIZERS == ("prodigy", "adamw8bit")


def test_examples_are_valid_and_complete(settings: Settings) -> None:
    advanced = load_config_file(REPO / "config" / "examples" / "advanced.yaml")
    resolved = resolve_config(file=advanced, settings=settings)
    # dataset_path is the commented-out alternative to dataset_url (exactly one is given).
    assert {k for k, v in resolved.origins.items() if v != "file"} == {"dataset_path"}
    assert "# dataset_path:" in (REPO / "config" / "examples" / "advanced.yaml").read_text()
    basic = resolve_config(
        file=load_config_file(REPO / "config" / "examples" / "basic.yaml"), settings=settings
    )
    assert basic.config.preset == "beginner"


def test_env_example_lists_every_contract_variable() -> None:
    text = (REPO / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and line[0] != "#"}
    contract = {
        "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "DISCORD_TOKEN", "SD35L_DATABASE",
        "SD35L_GUILD_IDS", "SD35L_POLL_INTERVAL", "SD35L_ALLOWED_ROLES", "SD35L_MANAGER_ROLES",
        "SD35L_MAX_ACTIVE_PER_USER", "SD35L_ALLOW_PRIVATE_URLS", "SD35L_DEFAULT_DESTINATION",
        "SD35L_CONFIG_DIR", "SD35L_TRAINER", "WANDB_API_KEY", "SD35L_POLICY_STEPS",
        "SD35L_POLICY_BATCH_SIZE", "SD35L_GPU_PRICE", "SD35L_MAX_DATASET_MB",
        "SD35L_BUDGET_USER_MONTHLY", "SD35L_BUDGET_TEAM_MONTHLY", "SD35L_APPROVAL_ABOVE",
        "SD35L_CAPTION_MODEL", "SD35L_CAPTION_PROMPT", "SD35L_CAPTION_PRICE", "SD35L_MAX_CHECKS",
    }  # fmt: skip
    team_policies = {  # documented, not in contract
        "SD35L_POLICY_MIN_IMAGES", "SD35L_USAGE_OPEN", "SD35L_CAPTION_FORBIDDEN",
    }  # fmt: skip
    assert names == contract | team_policies
    for secret in ("REPLICATE_API_TOKEN", "DISCORD_TOKEN", "WANDB_API_KEY"):
        assert f"\n{secret}=\n" in text
    assert Settings(_env_file=REPO / ".env.example")


# --- broken shipped presets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("training: {}\n", "description"),
        ("description: x\nextra: 1\n", "unknown keys"),
        ("description: x\ntraining: 5\n", "mapping"),
        ("description: x\ntraining: {stesp: 1}\n", "unknown setting"),
        ("description: x\ntraining: [\n", "cannot be read"),
    ],
)
def test_broken_preset_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, words: str
) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    monkeypatch.setattr("bot.core.config.presets.presets_dir", lambda: tmp_path)
    with pytest.raises(SD35LError, match=words):
        load_presets()


def test_no_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.config.presets.presets_dir", lambda: tmp_path)
    with pytest.raises(SD35LError, match="No presets"):
        load_presets()


def test_packaged_presets_dir_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_config = tmp_path / "bot" / "core" / "config"
    fake_config.mkdir(parents=True)
    (tmp_path / "bot" / "_data" / "presets").mkdir(parents=True)
    monkeypatch.setattr("bot.core.config.presets.__file__", str(fake_config / "presets.py"))
    assert presets_dir() == tmp_path / "bot" / "_data" / "presets"


def test_bad_value_from_a_preset_names_the_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    (tmp_path / "odd.yaml").write_text('description: odd\ntraining: {resolution: "100"}\n')
    monkeypatch.setattr("bot.core.config.presets.presets_dir", lambda: tmp_path)
    err = refused(settings, cli={**BASE, "preset": "odd"})
    assert err.field == "training.resolution" and "(from preset odd)" in str(err)


def test_model_direct_use_and_error_words() -> None:
    from bot.core.config.fields import describe_error

    config = TrainingConfig(dataset_url=None, destination=None, trigger_word=None)
    assert config.training.steps == 1500
    assert describe_error({"type": "missing", "loc": ("x",), "msg": "", "input": None}) == (
        "is missing"
    )
    extra = {"type": "extra_forbidden", "loc": ("x",), "msg": "", "input": 1}
    assert describe_error(extra) == "is not a known setting"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mapping"):
        resolve_config(file=["a"], settings=load_settings())  # type: ignore[arg-type]


def test_unhashable_yaml_key_is_refused() -> None:
    with pytest.raises(InputError):
        parse_config_text("? [a, b]\n: 1\n")


def test_token_shaped_key_with_secret_value_is_not_echoed() -> None:
    token = "r8_" + "abc" * 10
    with pytest.raises(InputError) as info:
        parse_config_text(f"training:\n  {token}: {token}\n")
    assert "abc" * 10 not in str(info.value)


def test_user_defaults_file_sits_below_everything_given(tmp_path: Path) -> None:
    """`$SD35L_CONFIG_DIR/defaults.yaml` replaces built-in defaults, never what the user gave."""
    from bot.core.config.model import load_user_defaults

    settings = load_settings(SD35L_CONFIG_DIR=str(tmp_path))
    assert load_user_defaults(settings) == {}
    (tmp_path / "defaults.yaml").write_text(
        "destination: alice/lora\ntraining: {lora_rank: 32, steps: 1200}\n", encoding="utf-8"
    )
    user = load_user_defaults(settings)
    cli = {"dataset_url": "https://files.example.org/d.zip", "trigger_word": "ZXQTOK"}
    resolved = resolve_config(cli=cli, settings=settings, user=user)
    assert resolved.config.destination == "alice/lora"
    assert resolved.origins["destination"] == "user"
    assert resolved.config.training.lora_rank == 32
    assert resolved.origins["training.lora_rank"] == "user"
    # A preset and the command line still win over the user's defaults.
    resolved = resolve_config(
        cli={**cli, "preset": "fast", "lora_rank": 8}, settings=settings, user=user
    )
    assert resolved.config.training.steps == 1000 and resolved.origins["training.steps"] == "preset"
    assert resolved.config.training.lora_rank == 8
    (tmp_path / "defaults.yaml").write_text("training: {lora_rank: 500}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        resolve_config(
            cli={**cli, "destination": "a/b"}, settings=settings, user=load_user_defaults(settings)
        )
    assert "training.lora_rank" in str(info.value) and "defaults.yaml" in str(info.value)
    (tmp_path / "defaults.yaml").write_text("hf_token: abcdef\n", encoding="utf-8")
    with pytest.raises(InputError, match="secret"):
        load_user_defaults(settings)


def test_yaml_export_round_trips_characters_beyond_the_basic_plane(settings: Settings) -> None:
    """JSON would write U+10E60 as a surrogate pair that YAML reads back as two characters."""
    word = "A\U00010e60"
    resolved = resolve_config(cli={**BASE, "trigger_word": word}, settings=settings)
    text = config_to_yaml(resolved.config)
    assert parse_config_text(text)["trigger_word"] == word
