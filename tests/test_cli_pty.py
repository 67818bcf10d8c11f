"""The CLI in a real pseudo-terminal (and in a real pipe), where a terminal changes behaviour:
confirmation prompts, Ctrl-C at a prompt, the progress bar versus plain lines."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sim import ReplicateSimulator, SimulatorThread
from tests.cli_support import TOKEN, TRIGGER

pytestmark = pytest.mark.slow  # every test here spawns processes

ENTRY = "from bot.cli import main; main()"
TIMEOUT = 60.0


@pytest.fixture
def sim_env(tmp_path: Path) -> Iterator[tuple[ReplicateSimulator, dict[str, str]]]:
    with SimulatorThread(step_seconds=0.002, start_delay=0.02, weights_size=4096) as sim:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "TERM": "xterm-256color",
            "COLUMNS": "100",
            "LINES": "30",
            "REPLICATE_BASE_URL": sim.base_url,
            "REPLICATE_API_TOKEN": TOKEN,
            "SD35L_ALLOW_PRIVATE_URLS": "1",
            "SD35L_POLL_INTERVAL": "0.05",
            "SD35L_CONFIG_DIR": str(tmp_path / "config"),
        }
        yield sim, env


class Terminal:
    """One CLI process on a pseudo-terminal: read what it shows, type, see how it ends."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child process
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-c", ENTRY, *args], env)  # noqa: S606
        self.pid, self.fd, self.seen = pid, fd, ""

    def _read(self, deadline: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.seen += data.decode("utf-8", "replace")
        return True

    def expect(self, text: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while text not in self.seen:
            assert time.monotonic() < deadline, f"never saw {text!r}:\n{self.seen}"
            assert self._read(deadline), f"ended before {text!r}:\n{self.seen}"
        return self.seen

    def send(self, text: str) -> None:
        # A person reads the prompt first. Typing within microseconds of it would race
        # CPython's readline, which can miss a signal that lands before it starts to wait.
        time.sleep(0.3)
        os.write(self.fd, text.encode())

    def end(self) -> int:
        """Exit status, without typing anything more (a process that waits fails the test)."""
        deadline = time.monotonic() + TIMEOUT
        while self._read(deadline):
            assert time.monotonic() < deadline, f"still running:\n{self.seen}"
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        assert "Traceback" not in self.seen and TOKEN not in self.seen, self.seen
        return os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _train(url: str, *extra: str) -> list[str]:
    return [
        "train", "--dataset-url", url, "--destination", "alice/lora", "--trigger-word", TRIGGER,
        "--preset", "fast", *extra,
    ]  # fmt: skip


def test_ctrl_c_at_the_confirmation_ends_at_once_and_submits_nothing(
    sim_env: tuple[ReplicateSimulator, dict[str, str]], dataset_url: str, tmp_path: Path
) -> None:
    sim, env = sim_env
    term = Terminal(_train(dataset_url), env, tmp_path)
    try:
        term.expect("Start this training on Replicate")
        term.send("\x03")
        code = term.end()  # with nothing more typed: no second Ctrl-C, no answer
    finally:
        term.kill()
    assert code == 130, term.seen
    assert "Interrupted; nothing was submitted." in term.seen
    assert "may have been created" not in term.seen
    assert not [r for r in sim.requests if r.method == "POST"]
    assert len(sim.trainings) == 0


def test_yes_at_the_prompt_submits_and_shows_a_progress_bar(
    sim_env: tuple[ReplicateSimulator, dict[str, str]], dataset_url: str, tmp_path: Path
) -> None:
    sim, env = sim_env
    term = Terminal(_train(dataset_url, "--wait"), env, tmp_path)
    try:
        term.expect("Start this training on Replicate")
        term.send("y\r")
        code = term.end()
    finally:
        term.kill()
    assert code == 0, term.seen
    assert len(sim.trainings) == 1
    following = term.seen.split("Following training", 1)[1]
    assert "━" in following and "step 1000/1000" in following  # the rich bar
    assert "\x1b[" in following  # a terminal gets styles and cursor control
    assert (tmp_path / f"alice_lora_{TRIGGER}.safetensors").read_bytes() == sim.lora_bytes


def test_piped_output_is_plain_lines(
    sim_env: tuple[ReplicateSimulator, dict[str, str]], dataset_url: str, tmp_path: Path
) -> None:
    sim, env = sim_env
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *_train(dataset_url, "--wait", "--yes")],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (tid,) = list(sim.trainings)
    assert f"{tid}: succeeded | step 1000/1000" in done.stdout
    following = done.stdout.split("Following training", 1)[1]
    assert "━" not in following and "\x1b[" not in done.stdout
    note = "note: 12 of 12 captions mention the trigger word 'ZXQTOK'; the trainer prepends it"
    assert any(note in line for line in done.stdout.splitlines()), done.stdout  # not wrapped


def test_piped_without_yes_submits_nothing(
    sim_env: tuple[ReplicateSimulator, dict[str, str]], dataset_url: str, tmp_path: Path
) -> None:
    sim, env = sim_env
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *_train(dataset_url)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--yes" in done.stderr
    assert len(sim.trainings) == 0


def test_cancel_asks_on_a_terminal_and_ctrl_c_keeps_it_running(
    sim_env: tuple[ReplicateSimulator, dict[str, str]], tmp_path: Path
) -> None:
    sim, env = sim_env
    record = sim.create_training("alice/lora", {"input_images": "x", "steps": 100000})
    term = Terminal(["cancel", record.id], env, tmp_path)
    try:
        term.expect("cannot be undone")
        term.send("\x03")
        code = term.end()
    finally:
        term.kill()
    assert code == 130, term.seen
    assert sim.trainings[record.id]["status"] in ("starting", "processing")
