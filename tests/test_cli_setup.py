"""CLI `init-config`, `interactive`, `simulate`, `bot`, `--help` and the error plumbing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import _common
from bot.sim import ReplicateSimulator
from tests.cli_support import TRIGGER, invoke

ROOT = Path(__file__).resolve().parent.parent


def test_init_config_stdout_and_file(tmp_path: Path) -> None:
    result = invoke(["init-config", "--preset", "fast"])
    assert result.exit_code == 0, result.output
    assert "CHANGE_ME" in result.output and "adamw8bit" in result.output
    target = tmp_path / "mine.yaml"
    result = invoke(["init-config", "--output", str(target)])
    assert result.exit_code == 0 and target.is_file()
    assert "dataset_url" in yaml.safe_load(target.read_text())
    again = invoke(["init-config", "--output", str(target)])
    assert again.exit_code == 2 and "already exists" in again.output
    nested = tmp_path / "nodir" / "sub" / "cfg.yaml"
    made = invoke(["init-config", "--output", str(nested)])
    assert made.exit_code == 0 and nested.is_file(), made.output
    blocked = invoke(["init-config", "--output", str(target / "cfg.yaml")])  # a file in the way
    assert blocked.exit_code == 2 and "Cannot write" in blocked.output


def test_shell_completion_offers_commands_and_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("_SD35L_TRAINER_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "sd35l-trainer fo")
    monkeypatch.setenv("COMP_CWORD", "1")
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 0 and "plain,follow" in capsys.readouterr().out
    monkeypatch.setenv("COMP_WORDS", "sd35l-trainer cancel --y")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit):
        main([])
    assert "plain,--yes" in capsys.readouterr().out


def test_init_config_unknown_preset() -> None:
    result = invoke(["init-config", "--preset", "turbo"])
    assert result.exit_code == 2 and "turbo" in result.output


def _answers(url: str, *, submit: bool) -> str:
    lines = [
        "fast",  # preset
        "nope",  # refused destination
        "alice/lora",
        TRIGGER,
        "ftp://example.com/x.zip",  # refused, asked again
        url.rsplit("/", 1)[0] + "/missing.zip",  # answers 404: refused at the prompt
        url,
        "y",  # change training values
        "1200", "", "", "", "", "8",  # steps, batch, optimizer, lr, resolution, rank
        "my.yaml",
        "y" if submit else "n",  # check and start now
    ]  # fmt: skip
    if submit:
        lines.append("y")  # the confirmation after the estimate
    return "\n".join(lines) + "\n"


def test_interactive_writes_config_and_submits(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    result = invoke(["interactive"], input=_answers(dataset_url, submit=True))
    assert result.exit_code == 0, result.output
    assert result.output.count("Dataset (a folder") >= 3  # re-asked after each refusal
    assert "was not found (404)" in result.output
    # The link is judged at its prompt, before the training values and the file are asked.
    assert result.output.index("was not found (404)") < result.output.index("Change the preset")
    saved = yaml.safe_load((tmp_path / "my.yaml").read_text())
    assert saved["destination"] == "alice/lora" and saved["trigger_word"] == TRIGGER
    assert saved["training"]["steps"] == 1200 and saved["training"]["lora_rank"] == 8
    (tid,) = list(cli_env.trainings)
    assert tid in result.output
    created = cli_env.trainings[tid]["input"]
    assert created["steps"] == 1200 and created["optimizer"] == "adamw8bit"


def test_interactive_save_only(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    result = invoke(["interactive"], input=_answers(dataset_url, submit=False))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "my.yaml").is_file() and len(cli_env.trainings) == 0
    assert "sd35l-trainer train --config my.yaml" in result.output


def test_interactive_end_of_input_is_not_a_crash(cli_env: ReplicateSimulator) -> None:
    result = invoke(["interactive"], input="fast\n")
    assert result.exit_code == 1


def test_simulate_prints_how_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.sim

    seen: dict[str, Any] = {}

    def fake(host: str, port: int, *, on_ready: Callable[[str], None], **kw: Any) -> None:
        seen.update(host=host, port=port, token=kw["token"], outcome=kw["faults"].outcome)
        on_ready(f"http://{host}:{port}")
        raise KeyboardInterrupt

    monkeypatch.setattr(bot.sim, "main_sync", fake)
    result = invoke(["simulate", "--port", "9911"])
    assert result.exit_code == 0, result.output
    assert "export REPLICATE_BASE_URL=http://127.0.0.1:9911" in result.output
    assert "any token works" in result.output and "stopped" in result.output
    assert seen == {"host": "127.0.0.1", "port": 9911, "token": None, "outcome": "succeeded"}


def test_simulate_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.sim

    def busy(host: str, port: int, **_: Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(bot.sim, "main_sync", busy)
    result = invoke(["simulate", "--port", "9911"])
    assert result.exit_code == 2 and "--port" in result.output


@pytest.mark.slow
def test_help_and_version_do_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom bot.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['--version']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "heavy = {'discord', 'aiohttp', 'httpx', 'replicate', 'pydantic'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "interactive" in proc.stdout and "--dataset-url" in proc.stdout


def test_usage_errors_exit_2() -> None:
    assert invoke(["nonsense"]).exit_code == 2
    assert invoke(["train", "--steps", "many"]).exit_code == 2
    assert invoke(["status"]).exit_code == 2


def test_bad_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "soon")
    result = invoke(["list"])
    assert result.exit_code == 2 and "SD35L_POLL_INTERVAL" in result.output


def test_main_exits_with_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as info:
        main(["init-config", "--preset", "turbo"])
    assert info.value.code == 2


def test_bot_command_reports_missing_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bot.app", None)  # import fails as if missing
    result = invoke(["bot"])
    assert result.exit_code == 1 and "Discord bot" in result.output


def test_trainer_log_relabels_tracebacks() -> None:
    text = _common.trainer_log("a\nTraceback (most recent call last):\nValueError: x")
    assert "Traceback" not in text and "[trainer stack trace]" in text and "ValueError" in text


def test_click_errors_are_redacted() -> None:
    from tests.cli_support import TOKEN

    result = invoke(["train", "--steps", TOKEN])  # invoke asserts the token is not shown
    assert result.exit_code == 2 and "[redacted]" in result.output
