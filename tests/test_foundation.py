"""Settings, secret redaction, logging, the training record: what every module stands on."""

from __future__ import annotations

import logging

import pytest

from bot.core.errors import InputError, ServiceError
from bot.core.log import get_logger, setup_logging
from bot.core.replicate.training import Training, parse_time
from bot.core.secrets import (
    REDACTED,
    looks_like_secret_key,
    looks_like_secret_value,
    redact,
    redact_obj,
    register_secret,
)
from bot.core.settings import DEFAULT_TRAINER, load_settings

FAKE_TOKEN = "r8_" + "Fake" * 8


def test_settings_defaults_follow_the_contract() -> None:
    s = load_settings()
    assert s.replicate_base_url == "https://api.replicate.com"
    assert s.poll_interval == 30.0
    assert s.max_active_per_user == 2
    assert s.policy_steps == (1000, 2000)
    assert s.policy_batch_size == (1, 4)
    assert s.gpu_price == 0.001525
    assert s.max_dataset_mb == 1024
    assert s.trainer == DEFAULT_TRAINER
    assert s.trainer_model == "lucataco/sd3.5-large-fine-tuner"
    assert s.trainer_version.startswith("64360fd3")
    assert s.token is None
    assert not s.allow_private_urls


def test_settings_parse_lists_ranges_and_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SD35L_GUILD_IDS", "1, 2,,3")
    monkeypatch.setenv("SD35L_ALLOWED_ROLES", "trainers,123")
    monkeypatch.setenv("SD35L_POLICY_STEPS", "500-3000")
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("SD35L_ALLOW_PRIVATE_URLS", "1")
    s = load_settings()
    assert s.guild_ids == [1, 2, 3]
    assert s.allowed_roles == ["trainers", "123"]
    assert s.policy_steps == (500, 3000)
    assert s.replicate_base_url == "http://127.0.0.1:9"
    assert s.allow_private_urls


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("SD35L_POLL_INTERVAL", "soon", "SD35L_POLL_INTERVAL"),
        ("SD35L_POLICY_STEPS", "1-99999", "3-6000"),
        ("SD35L_POLICY_STEPS", "many", "1000-2000"),
        ("SD35L_POLICY_BATCH_SIZE", "0-4", "1-64"),
        ("REPLICATE_BASE_URL", "ftp://x", "http"),
        ("SD35L_TRAINER", "no-version", "owner/name:version"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError) as info:
        load_settings()
    assert name in str(info.value)
    assert needle in str(info.value)
    assert info.value.exit_code == 2


def test_token_is_registered_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "custom-token-value-123")
    s = load_settings()
    assert s.token == "custom-token-value-123"
    assert "custom-token-value-123" not in repr(s)
    assert redact("auth custom-token-value-123 here") == f"auth {REDACTED} here"


def test_redaction_of_token_shapes() -> None:
    text = f"token {FAKE_TOKEN} and hf_{'a' * 30} and {'0123456789abcdef' * 2 + '01234567'}"
    cleaned = redact(text)
    assert FAKE_TOKEN not in cleaned
    assert "hf_" not in cleaned
    assert cleaned.count(REDACTED) == 3
    assert redact("") == ""
    assert redact_obj({"a": [FAKE_TOKEN, 3], "b": ("x",)}) == {"a": [REDACTED, 3], "b": ["x"]}
    register_secret("tiny")  # too short to register: would redact ordinary words
    assert redact("tiny") == "tiny"


def test_secret_key_and_value_detection() -> None:
    assert looks_like_secret_key("hf_token")
    assert looks_like_secret_key("WANDB-API-KEY")
    assert not looks_like_secret_key("trigger_word")
    assert looks_like_secret_value(FAKE_TOKEN)
    assert not looks_like_secret_value("MYTOK")


def test_logger_redacts_messages_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    setup_logging()
    log = get_logger("tests.foundation")
    assert get_logger("tests.foundation") is log
    with caplog.at_level(logging.INFO):
        log.info("using %s", FAKE_TOKEN)
        try:
            raise ValueError(f"bad {FAKE_TOKEN}")
        except ValueError:
            log.exception("failed")
    assert FAKE_TOKEN not in caplog.text
    assert REDACTED in caplog.text


def test_error_messages_carry_hint_and_exit_codes() -> None:
    err = InputError("steps is out of range.", field="training.steps", hint="Use 1000-2000.")
    assert str(err) == "steps is out of range. Use 1000-2000."
    assert err.field == "training.steps"
    assert ServiceError("Replicate is down.", status=503).exit_code == 1


def test_training_record_is_tolerant() -> None:
    raw = {
        "id": "abc",
        "status": "aborted",
        "input": {"trigger_word": "ZXQTOK"},
        "output": {"version": "alice/lora:v1", "weights": "https://x/w.tar"},
        "metrics": {"predict_time": 12.5},
        "created_at": "2026-11-29T05:00:00.123Z",
        "completed_at": "2026-11-29T05:10:00+00:00",
        "webhook_completed": None,
    }
    t = Training.from_json(raw)
    assert t.is_terminal
    assert t.weights_url == "https://x/w.tar"
    assert t.new_version == "alice/lora:v1"
    assert t.predict_time == 12.5
    assert t.trigger_word == "ZXQTOK"
    assert t.web_url == "https://replicate.com/p/abc"
    assert t.created_at is not None and t.created_at.tzinfo is not None
    bare = Training.from_json({"id": "x", "output": "https://x/y.tar", "metrics": None})
    assert bare.status == "starting" and not bare.is_terminal
    assert bare.weights_url == "https://x/y.tar"
    assert bare.new_version is None and bare.predict_time is None and bare.trigger_word is None
    assert Training.from_json({"id": "y", "output": 3}).weights_url is None
    assert parse_time("not a time") is None
    assert parse_time("2026-01-01T00:00:00") is not None


def test_healthcheck_follows_the_heartbeat(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    from pathlib import Path

    from bot import health

    monkeypatch.setenv("SD35L_DATABASE", str(Path(str(tmp_path)) / "d" / "bot.db"))
    settings = load_settings()
    assert health.main() == 1
    assert "no heartbeat" in capsys.readouterr().out
    health.touch_heartbeat(settings)
    assert health.main() == 0
    path = health.heartbeat_path(settings)
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))
    ok, why = health.is_healthy(settings)
    assert not ok and "old" in why
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "-1")
    assert health.main() == 1
