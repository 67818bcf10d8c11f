"""The CLI's lean start: what a dry run imports, and the shortcuts that keep it fast.

No timings here (benchmarks/cli_startup.py measures them); these tests pin what the speed rests
on: modules a dry run must not load, settings read like pydantic-settings reads them, Pillow
without numpy, and a garbage collector that is back on once `main` returns.
"""

from __future__ import annotations

import gc
import json
import os
import string
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.errors import InputError
from bot.core.settings import Settings, environment, load_settings
from tests.cli_support import TRIGGER, DatasetServer, dataset_zip

ROOT = Path(__file__).resolve().parent.parent
# Never needed before the first request to Replicate (and a dry run without a token sends none);
# the dataset check fetches with the standard library (bot/core/http/pinned.py), not aiohttp.
NEVER = (
    "discord", "httpx", "replicate", "matplotlib", "aiosqlite", "pydantic_settings", "numpy",
    "aiohttp",
)  # fmt: skip

_PROBE = """
import json, sys
from bot.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""


def _modules_after(argv: list[str], cwd: Path, **env: str) -> tuple[int, set[str], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SD35L_", "REPLICATE_"))}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return found["code"], set(found["modules"]), proc.stdout + proc.stderr


@pytest.mark.slow
def test_help_and_dry_run_do_not_import_what_they_do_not_use(tmp_path: Path) -> None:
    code, modules, _out = _modules_after(["--help"], tmp_path)
    assert code == 0
    assert not modules & {*NEVER, "pydantic", "rich", "PIL", "yaml"}

    (tmp_path / "good.zip").write_bytes(dataset_zip(count=3))
    with DatasetServer(tmp_path) as server:
        argv = [
            "train", "--dataset-url", f"{server.base_url}/good.zip", "--destination",
            "alice/lora", "--trigger-word", TRIGGER, "--dry-run",
        ]  # fmt: skip
        code, modules, out = _modules_after(
            argv, tmp_path, SD35L_ALLOW_PRIVATE_URLS="1", SD35L_CONFIG_DIR=str(tmp_path)
        )
    assert code == 0, out
    assert "Dataset check: OK" in out and "Dry run: checked the config and the dataset" in out
    assert "PIL" in modules  # the images were judged ...
    assert not modules & set(NEVER), out  # ... without loading any of these
    assert "yaml" not in modules  # no config file, saved defaults or named preset to read
    assert "rich" not in modules  # the listing and the report are styled text
    assert "sqlite3" not in modules  # no bot database to calibrate the estimate from


@pytest.mark.slow
def test_pillow_without_numpy_still_takes_numpy_arrays() -> None:
    code = (
        "import sys\n"
        "from bot.core.pillow import import_pillow\n"
        "import_pillow()\n"
        "assert 'PIL.Image' in sys.modules and 'numpy' not in sys.modules\n"
        "import numpy\n"
        "from PIL import Image\n"
        "image = Image.fromarray(numpy.full((4, 6, 3), 200, dtype=numpy.uint8))\n"
        "back = numpy.asarray(image)\n"
        "print(image.size, image.mode, back.shape, int(back.sum()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == f"(6, 4) RGB (4, 6, 3) {4 * 6 * 3 * 200}"


def test_main_turns_the_garbage_collector_back_on() -> None:
    from bot.cli import _common, main

    assert gc.isenabled()
    with pytest.raises(SystemExit) as info:
        main(["init-config", "--preset", "turbo"])
    assert info.value.code == 2
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    _common.collect_garbage()  # the collector is on: nothing is frozen
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        _common.collect_garbage()  # as after main's start: back on
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()  # give this test process its objects back


# -- settings read as pydantic-settings reads them ----------------------------------------------


class _Reference(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=False
    )


# Every setting as plain text, read by pydantic-settings itself: what reached each validator.
_RAW: Any = create_model(  # type: ignore[call-overload]
    "RawSettings",
    __base__=_Reference,
    **{
        name: (str | None, Field(None, validation_alias=field.validation_alias))
        for name, field in Settings.model_fields.items()
    },
)
_NAMES = [field.validation_alias.choices[0] for field in Settings.model_fields.values()]  # type: ignore[union-attr]


def _reference(env_file: Path | None) -> dict[str, str]:
    raw = _RAW(_env_file=env_file)
    by_field = {name: getattr(raw, name) for name in Settings.model_fields}
    variables = {
        field.validation_alias.choices[0]: by_field[name]  # type: ignore[union-attr]
        for name, field in Settings.model_fields.items()
    }
    return {k: v for k, v in variables.items() if v is not None}


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.title()])


_value = st.text(alphabet=string.ascii_letters + string.digits + " ,.-_/:$'\"#=", max_size=12)
_names = st.sampled_from([*_NAMES, "SD35L_UNKNOWN", "PATH_LIKE", "OTHER"]).flatmap(_cased)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dotenv=st.lists(
        st.tuples(_names, _value, st.sampled_from(["=", " = ", "", "export "])), max_size=8
    ),
    env=st.dictionaries(_names, _value, max_size=5),
)
def test_settings_read_the_environment_and_dotenv_like_pydantic_settings(
    dotenv: list[tuple[str, str, str]], env: dict[str, str]
) -> None:
    lines = []
    for name, value, how in dotenv:
        if how == "export ":
            lines.append(f"export {name}={value}")
        elif how:
            lines.append(f"{name}{how}{value}")
        else:
            lines.append(name)  # a name alone sets nothing
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith(("sd35l_", "replicate_", "discord_", "wandb_"))
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ".env"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
            assert environment(path) == _reference(path)
            assert environment(None) == _reference(None)


def test_settings_layers_and_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "SD35L_MAX_DATASET_MB=5\nsd35l_poll_interval=7\nSD35L_GUILD_IDS=1, 2\nREPLICATE_API_TOKEN\n"
    )
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "9")
    s = load_settings()
    assert (s.max_dataset_mb, s.poll_interval, s.guild_ids) == (5, 9.0, [1, 2])
    assert s.replicate_api_token is None  # a name without `=` sets nothing
    assert load_settings(SD35L_MAX_DATASET_MB=3).max_dataset_mb == 3  # arguments win
    assert Settings(_env_file=None).max_dataset_mb == 1024  # the environment only
    one, two = Settings(_env_file=None), Settings(_env_file=None)
    one.allowed_roles.append("trainers")  # list defaults are not shared between instances
    assert two.allowed_roles == [] and Settings(_env_file=None).allowed_roles == []
    monkeypatch.setenv("sd35l_max_dataset_mb", "0")
    with pytest.raises(InputError, match=r"SD35L_MAX_DATASET_MB is invalid: .*greater than 0"):
        load_settings()
