"""The deploy files keep their promises: non-root slim image, restart policy, data volume,
healthcheck that runs the real `bot.health` module, and `.env` for settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_runs_the_bot_with_env_volume_restart_and_healthcheck() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert bot["restart"] in {"unless-stopped", "always"}
    volume, _, mount = bot["volumes"][0].partition(":")
    assert mount == "/app/data"
    assert volume in compose["volumes"]
    assert bot["environment"]["SD35L_DATABASE"].startswith("/app/data/")
    assert bot["healthcheck"]["test"] == ["CMD", "python", "-m", "bot.health"]


def test_dockerfile_is_slim_non_root_and_starts_the_bot() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    images = [line.split()[1] for line in re.findall(r"^FROM .*", text, re.M)]
    assert images and all(image.endswith("-slim") for image in images)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}
    assert 'CMD ["sd35l-trainer", "bot"]' in text
    assert "bot.health" in text


def test_env_example_lists_every_contract_variable_without_values_for_secrets() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", text, re.M))
    for name in (
        "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "DISCORD_TOKEN", "SD35L_DATABASE",
        "SD35L_GUILD_IDS", "SD35L_POLL_INTERVAL", "SD35L_ALLOWED_ROLES", "SD35L_MANAGER_ROLES",
        "SD35L_MAX_ACTIVE_PER_USER", "SD35L_ALLOW_PRIVATE_URLS", "SD35L_DEFAULT_DESTINATION",
        "SD35L_CONFIG_DIR", "SD35L_TRAINER", "WANDB_API_KEY", "SD35L_POLICY_STEPS",
        "SD35L_POLICY_BATCH_SIZE", "SD35L_GPU_PRICE", "SD35L_MAX_DATASET_MB",
    ):  # fmt: skip
        assert name in names, name
    for secret in ("REPLICATE_API_TOKEN", "DISCORD_TOKEN", "WANDB_API_KEY"):
        assert names[secret].strip() == "", secret
