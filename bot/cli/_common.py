"""Plumbing every command shares: redacted output, settings, the gateway, async runs.

Nothing heavy is imported at module level: `sd35l-trainer --help` must stay fast and must not
load discord, httpx, replicate or pydantic. Each helper imports what it needs when called.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.core.errors import InputError

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.settings import Settings

T = TypeVar("T")

# Extra keyword arguments for every ReplicateGateway the CLI builds (tests shorten backoffs).
GATEWAY_KWARGS: dict[str, Any] = {}

# Exit codes (docs/interface.md): 0 ok, 2 invalid input, 1 anything else; 130 after Ctrl-C.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


def _redact(text: str) -> str:
    from bot.core.secrets import redact  # its patterns cost `--help`, which prints nothing secret

    return redact(text)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print through the redactor: no token can reach the terminal, whatever the text."""
    click.echo(_redact(text), err=err, nl=nl)


def warn(text: str) -> None:
    echo(f"Warning: {text}", err=True)


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stdin_is_tty() -> bool:
    """Whether a person can answer a prompt (confirmation only then; docs/interface.md)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def confirm(text: str, *, default: bool = False) -> bool:
    """`click.confirm` where one Ctrl-C ends the question at once (KeyboardInterrupt -> 130).

    Inside `asyncio.run` the loop's SIGINT handler only cancels the main task at its next await,
    so a blocking prompt swallowed the first Ctrl-C and the next answer then looked like an
    interrupted submission. During the prompt Python's own handler is back, and click's Abort
    after a Ctrl-C is turned back into the KeyboardInterrupt it was.
    """
    import signal

    interrupted = False

    def on_sigint(_signum: int, _frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        return click.confirm(text, default=default)
    except click.Abort:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def paint(text: str, *, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
    """`text` styled for a terminal; plain when NO_COLOR is set (https://no-color.org). `echo`
    leaves the styles out where they would not show: piped output, redirected files."""

    if os.environ.get("NO_COLOR") or not (fg or bold or dim):
        return text
    return click.style(text, fg=fg, bold=bold or None, dim=dim or None)


def show(*renderables: Any) -> None:
    """Render rich objects to text first, then print that text through the redactor."""

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    tty = stdout_is_tty()
    console = Console(
        file=buffer,
        force_terminal=tty,
        color_system="auto" if tty else None,
        width=None if tty else 120,
        highlight=False,
    )
    for item in renderables:
        # Piped output is read by programs and logs: sentences stay on one line there.
        console.print(item, soft_wrap=not tty and not isinstance(item, Table))
    click.echo(_redact(buffer.getvalue()), nl=False)


def settings() -> Settings:
    """Settings from the environment (a bad variable is an InputError naming it)."""
    from bot.core.settings import load_settings

    return load_settings()


def gateway(s: Settings) -> ReplicateGateway:
    from bot.core.replicate.gateway import ReplicateGateway

    return ReplicateGateway(s, **GATEWAY_KWARGS)


def collect_garbage() -> None:
    """Turn the cyclic garbage collector back on if `bot.cli.main` turned it off.

    Everything alive by then (modules, classes, settings) lives to the end, so it is frozen out
    of every later collection; from here on a long command (following a training, serving) has
    its cycles collected as usual. With the collector already on (the group invoked some other
    way, as the tests do) nothing changes.
    """

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _block_sigint() -> None:
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion on a fresh event loop.

    Worker threads (file checks, DNS lookups) block SIGINT, so the kernel always delivers Ctrl-C
    to the main thread: otherwise a Ctrl-C landing on a worker could leave a prompt's blocking
    read in the main thread waiting for Enter.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    collect_garbage()

    async def _main() -> T:
        executor = ThreadPoolExecutor(thread_name_prefix="sd35l-cli", initializer=_block_sigint)
        asyncio.get_running_loop().set_default_executor(executor)
        return await factory()

    return asyncio.run(_main())


def setup_logging(verbose: bool) -> None:
    """Core modules log through `get_logger`; show warnings (or everything with -v) on stderr."""
    import logging

    from bot.core.log import RedactingFilter

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_sd35l_cli", False):
            root.removeHandler(handler)

    class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever sys.stderr is at emit time (test runners swap it)."""

        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, _value: Any) -> None:
            pass

    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler._sd35l_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("httpx", "httpcore", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def one_line(text: str, limit: int = 300) -> str:
    """An exception text on one line, redacted and shortened for the unexpected-error report."""
    flat = " ".join(_redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def trainer_log(text: str) -> str:
    """The trainer's log tail for display, indented and marked as the trainer's own.

    The trainer's Python stack traces are relabelled so that our output never contains the word
    "Traceback": that word means a crash of this tool, and users and checks look for it.
    """
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("Traceback (most recent call last)"):
            line = line.replace("Traceback (most recent call last)", "[trainer stack trace]")
        lines.append("  | " + line)
    return "\n".join(lines)


def require_yes(*, dry_run: bool, yes: bool, prompting: bool) -> None:
    """Spending money needs a yes: with nobody to ask, only --yes gives it (exit 2 otherwise)."""

    if not dry_run and not yes and not prompting:
        raise InputError(
            "train spends money on Replicate and there is no terminal to confirm on; add --yes "
            "to submit without asking (or --dry-run to only check). Nothing was submitted.",
            field="yes",
        )


def output_dir_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--output-dir DIR` (default: the current directory), as every command that saves the
    weights file takes it."""
    return click.option(
        "--output-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help=help_text,
    )
