"""Settings from the environment (and `.env`), named as .env.example lists them.

One class for both front ends. Secrets are `SecretStr` and registered with the redactor as soon
as they are read, so no later print or log can show them.

`Settings` is a plain pydantic model that reads its variables itself (`environment`), the way
pydantic-settings' `BaseSettings` did: names match whatever their case, the process environment
wins over `.env`, `.env` is parsed by python-dotenv, unknown names are ignored, and keyword
arguments win over both. Importing pydantic-settings cost a CLI run more than the rest of the
config stack together (it loads every settings source it ships); this module needs only these
few lines of it.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from bot.core.errors import InputError
from bot.core.limits import BATCH_SIZE, DEFAULT_MAX_DATASET_MB, DEFAULT_MIN_IMAGES, STEPS
from bot.core.secrets import register_secret

DEFAULT_TRAINER = (
    "lucataco/sd3.5-large-fine-tuner:"
    "64360fd3c38f47e8132564044b67b1ed1d45b450f008b896d354c4d0d65973d0"
)
DEFAULT_CAPTION_MODEL = (
    "lucataco/florence-2-large:da53547e17d45b9cfb48174b2f18af8b83ca020fa76db62136bf9c6616762595"
)
MAX_USD = Decimal(10**9)  # a budget beyond this is a typo, and would not fit a cent count
ENV_FILE = ".env"  # read from the working directory, below the process environment


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _digits(text: str) -> bool:
    """ASCII digits only, and few: `str.isdigit()` also accepts '²', which `int()` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 9


def _in_order(value: tuple[int, int], name: str) -> tuple[int, int]:
    """A range written high-low is a slip, not an out-of-bounds value: say which it is."""
    lo, hi = value
    if lo > hi:
        raise ValueError(f"{name} {lo}-{hi} is reversed; write the smaller number first: {hi}-{lo}")
    return value


def _parse_range(value: Any, name: str) -> Any:
    if isinstance(value, str):
        parts = value.replace("–", "-").split("-")
        if len(parts) != 2 or not all(_digits(p.strip()) for p in parts):
            raise ValueError(f"{name} must look like 1000-2000 (two whole numbers)")
        return (int(parts[0]), int(parts[1]))
    return value


class Settings(BaseModel):
    """Everything configurable from the environment. Build with `load_settings()`.

    `Settings()` reads the environment and `.env` like `BaseSettings` did; `_env_file` names
    another file (None: the environment only); keyword arguments, by variable name, win.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=False, validate_default=True)

    def __init__(self, _env_file: str | os.PathLike[str] | None = ENV_FILE, **values: Any) -> None:
        super().__init__(**{**environment(_env_file), **values})

    replicate_api_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("REPLICATE_API_TOKEN")
    )
    replicate_base_url: str = Field(
        "https://api.replicate.com", validation_alias=AliasChoices("REPLICATE_BASE_URL")
    )
    discord_token: SecretStr | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN"))
    database: Path = Field(Path("./data/sd35l.db"), validation_alias=AliasChoices("SD35L_DATABASE"))
    # `[]` rather than `default_factory=list`: pydantic copies an empty list default per instance,
    # while a builtin factory makes it parse `list`'s text signature with `tokenize`, whose
    # first use compiles a large regex on every CLI start (benchmarks/README.md).
    guild_ids: list[int] = Field([], validation_alias=AliasChoices("SD35L_GUILD_IDS"))
    poll_interval: float = Field(30.0, gt=0, validation_alias=AliasChoices("SD35L_POLL_INTERVAL"))
    allowed_roles: list[str] = Field([], validation_alias=AliasChoices("SD35L_ALLOWED_ROLES"))
    manager_roles: list[str] = Field([], validation_alias=AliasChoices("SD35L_MANAGER_ROLES"))
    max_active_per_user: int = Field(
        2, ge=0, validation_alias=AliasChoices("SD35L_MAX_ACTIVE_PER_USER")
    )
    allow_private_urls: bool = Field(
        False, validation_alias=AliasChoices("SD35L_ALLOW_PRIVATE_URLS")
    )
    default_destination: str | None = Field(
        None, validation_alias=AliasChoices("SD35L_DEFAULT_DESTINATION")
    )
    config_dir: Path = Field(
        Path("~/.config/sd35l-trainer"), validation_alias=AliasChoices("SD35L_CONFIG_DIR")
    )
    trainer: str = Field(DEFAULT_TRAINER, validation_alias=AliasChoices("SD35L_TRAINER"))
    wandb_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("WANDB_API_KEY"))
    policy_steps: tuple[int, int] = Field(
        (1000, 2000), validation_alias=AliasChoices("SD35L_POLICY_STEPS")
    )
    policy_batch_size: tuple[int, int] = Field(
        (1, 4), validation_alias=AliasChoices("SD35L_POLICY_BATCH_SIZE")
    )
    gpu_price: float = Field(0.001525, gt=0, validation_alias=AliasChoices("SD35L_GPU_PRICE"))
    max_dataset_mb: int = Field(
        DEFAULT_MAX_DATASET_MB, gt=0, validation_alias=AliasChoices("SD35L_MAX_DATASET_MB")
    )
    # Team policy, not a trainer rule: the trainer trains on a single image.
    policy_min_images: int = Field(
        DEFAULT_MIN_IMAGES, ge=0, validation_alias=AliasChoices("SD35L_POLICY_MIN_IMAGES")
    )
    # USD amounts; empty means no cap (budgets) or never (approval).
    budget_user_monthly: Decimal | None = Field(
        None, ge=0, validation_alias=AliasChoices("SD35L_BUDGET_USER_MONTHLY")
    )
    budget_team_monthly: Decimal | None = Field(
        None, ge=0, validation_alias=AliasChoices("SD35L_BUDGET_TEAM_MONTHLY")
    )
    approval_above: Decimal | None = Field(
        None, ge=0, validation_alias=AliasChoices("SD35L_APPROVAL_ABOVE")
    )
    usage_open: bool = Field(False, validation_alias=AliasChoices("SD35L_USAGE_OPEN"))
    caption_model: str = Field(
        DEFAULT_CAPTION_MODEL, validation_alias=AliasChoices("SD35L_CAPTION_MODEL")
    )
    caption_prompt: str | None = Field(None, validation_alias=AliasChoices("SD35L_CAPTION_PROMPT"))
    caption_price: Decimal | None = Field(
        None, ge=0, le=1, validation_alias=AliasChoices("SD35L_CAPTION_PRICE")
    )
    # Comma-separated words or phrases removed from every written caption.
    caption_forbidden: str | None = Field(
        None, validation_alias=AliasChoices("SD35L_CAPTION_FORBIDDEN")
    )
    # Empty: from the machine (`check_slots`); each check in flight holds its sample (~15 MB).
    max_checks: int | None = Field(
        None, ge=1, le=64, validation_alias=AliasChoices("SD35L_MAX_CHECKS")
    )

    @field_validator("replicate_api_token", "discord_token", "wandb_api_key", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        """A pasted token often carries a trailing newline or space; HTTP libraries then refuse
        the header and the failure looks like a network problem. Strip it; refuse inner space."""
        if not isinstance(value, str):
            return value
        value = value.strip()
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("the token contains spaces or control characters; paste it again")
        return value or None

    @field_validator("guild_ids", "allowed_roles", "manager_roles", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("caption_prompt", "caption_forbidden", "max_checks", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "budget_user_monthly",
        "budget_team_monthly",
        "approval_above",
        "caption_price",
        mode="before",
    )
    @classmethod
    def _usd(cls, value: Any) -> Any:
        """Empty means unset; `$20` and `20.00` both mean twenty dollars."""
        if isinstance(value, str):
            value = value.strip().removeprefix("$").strip()
            if not value:
                return None
            try:
                amount = Decimal(value)
            except ArithmeticError:
                raise ValueError("must be an amount in USD such as 20 or 12.50, or empty") from None
            if not amount.is_finite() or abs(amount) > MAX_USD:
                raise ValueError("must be an amount in USD such as 20 or 12.50, or empty")
            return amount
        return value

    @field_validator("policy_steps", mode="before")
    @classmethod
    def _steps_range(cls, value: Any) -> Any:
        return _parse_range(value, "SD35L_POLICY_STEPS")

    @field_validator("policy_batch_size", mode="before")
    @classmethod
    def _batch_range(cls, value: Any) -> Any:
        return _parse_range(value, "SD35L_POLICY_BATCH_SIZE")

    @field_validator("policy_steps")
    @classmethod
    def _steps_within_trainer(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = _in_order(value, "SD35L_POLICY_STEPS")
        if not (STEPS.low <= lo <= hi <= STEPS.high):
            raise ValueError(f"SD35L_POLICY_STEPS must be a range within the trainer's {STEPS}")
        return value

    @field_validator("policy_batch_size")
    @classmethod
    def _batch_within_trainer(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = _in_order(value, "SD35L_POLICY_BATCH_SIZE")
        if not (BATCH_SIZE.low <= lo <= hi <= BATCH_SIZE.high):
            raise ValueError(f"SD35L_POLICY_BATCH_SIZE must be a range within {BATCH_SIZE}")
        return value

    @field_validator("replicate_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if value.endswith("/v1"):
            value = value[: -len("/v1")]
        if not value.startswith(("http://", "https://")):
            raise ValueError("REPLICATE_BASE_URL must start with http:// or https://")
        return value

    @property
    def trainer_model(self) -> str:
        """`owner/name` of the trainer."""
        return self.trainer.split(":", 1)[0]

    @property
    def trainer_version(self) -> str:
        """The trainer's version id."""
        parts = self.trainer.split(":", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def token(self) -> str | None:
        """The Replicate token as a plain string, for the one module that sends it."""
        return self.replicate_api_token.get_secret_value() if self.replicate_api_token else None

    @property
    def check_slots(self) -> int:
        """Dataset checks (and captioning runs) at once: `SD35L_MAX_CHECKS`, else two per usable
        core, at most one per 512 MB of memory and at most 4 (each holds a ~12 MB sample, twice
        while it is handed to the worker process; the link is shared anyway, so more at once
        only lengthens every member's wait)."""
        if self.max_checks is not None:
            return self.max_checks
        return default_check_slots()

    def config_path(self) -> Path:
        return self.config_dir.expanduser()


def default_check_slots() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        memory = 2 * 1024**3
    return max(1, min(2 * cores, memory // (512 * 1024**2), 4))


def _variable(field: Any) -> str:
    """The environment variable a field reads (its first alias)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    raise TypeError(f"settings field without a variable name: {field!r}")


def environment(env_file: str | os.PathLike[str] | None = ENV_FILE) -> dict[str, str]:
    """Each setting's raw text, keyed by its variable: the environment over `env_file`.

    Names match whatever their case and values stay text for the validators, as in
    pydantic-settings (no JSON decoding: the list and range settings are comma- and
    dash-separated). A `.env` line without `=` sets nothing. python-dotenv is imported only when
    the file exists.
    """
    found: dict[str, str | None] = {}
    if env_file is not None:
        path = Path(env_file).expanduser()
        if path.is_file() or path.is_fifo():
            from dotenv import dotenv_values

            found.update((k.lower(), v) for k, v in dotenv_values(path, encoding="utf-8").items())
    found.update((k.lower(), v) for k, v in os.environ.items())
    values: dict[str, str] = {}
    for field in Settings.model_fields.values():
        name = _variable(field)
        value = found.get(name.lower())
        if value is not None:
            values[name] = value
    return values


def _env_name(name: str) -> str:
    """The environment variable behind a settings field, for error messages."""
    field = Settings.model_fields.get(name)
    return _variable(field) if field else name


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad variable becomes an `InputError` naming it and what is allowed."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        env = _env_name(field)
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise InputError(f"Environment variable {env} is invalid: {msg}.", field=env) from None
    for secret in (settings.replicate_api_token, settings.discord_token, settings.wandb_api_key):
        if secret is not None:
            register_secret(secret.get_secret_value())
    if ":" not in settings.trainer:
        raise InputError(
            "Environment variable SD35L_TRAINER must be owner/name:version.", field="SD35L_TRAINER"
        )
    return settings
