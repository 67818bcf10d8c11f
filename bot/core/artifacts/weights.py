"""Fetching a finished training's LoRA: download the weights tar and keep only the .safetensors.

The tar can be ~1 GB and its link may expire, so the download streams (memory stays flat), resumes
after a cut with an HTTP Range request, and is parsed as it arrives by `tarfile` in stream mode in a
worker thread. Only the output file we name is ever written, in the directory we are given, through
a temporary file and an atomic rename: tar member names never become paths, an existing file is
never replaced without `force`, and the only file ever removed is our own temporary one.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path, PurePosixPath
from typing import Any, cast

import httpx

from bot.core.artifacts.stream import CHUNK, Cancelled, Restart, ResumingStream, again
from bot.core.errors import InputError, SD35LError, ServiceError
from bot.core.log import get_logger

log = get_logger(__name__)

SUFFIX = ".safetensors"
PREFERRED_NAME = "lora.safetensors"
MAX_RESTARTS = 3  # whole-body restarts (server ignored Range, or the file changed)
WRITE_QUEUE = 16  # chunks (of up to CHUNK bytes) waiting for the disk
_LISTED_MEMBERS = 8  # members named in "no .safetensors" errors
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_TIMEOUT = httpx.Timeout(30.0, read=60.0)


def _sanitise(part: str) -> str:
    cleaned = _SAFE_CHARS.sub("_", part).strip("._-")
    return cleaned[:80]


def weights_filename(destination: str, trigger_word: str) -> str:
    """`{owner}_{model}_{trigger}.safetensors`, every part reduced to `[A-Za-z0-9._-]`.

    The name is a plain file name: no separator, no leading dot, never `.` or `..`.
    """
    model = destination.split(":", 1)[0]
    parts = [_sanitise(p) for p in model.split("/")]
    parts.append(_sanitise(trigger_word))
    stem = "_".join(p for p in parts if p) or "lora"
    return f"{stem}{SUFFIX}"


def _target(output_dir: Path, filename: str, force: bool) -> Path:
    """The output path, after refusing names that are not plain file names and existing files."""
    if (
        not filename
        or filename in (".", "..")
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
        or Path(filename).name != filename
    ):
        raise InputError(
            f"The output file name {filename!r} must be a plain file name without folders.",
            field="filename",
        )
    target = output_dir / filename
    if target.is_dir():
        raise InputError(f"{target} is a folder; choose another output file name.", field="output")
    if os.path.lexists(target) and not force:
        raise InputError(f"{target} already exists; pass --force to replace it.", field="output")
    return target


def _safe_member(name: str) -> bool:
    """A member name that could not point outside a folder if it were ever used as a path."""
    if not name or name.startswith(("/", "\\")) or "\x00" in name or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name.replace("\\", "/")).parts


class _Writer:
    """Writes to a file descriptor from its own thread, so the disk and the network overlap.

    Pieces are views into received chunks, batched to ~CHUNK bytes and written with `writev`
    (no copy in Python). At most `WRITE_QUEUE` batches wait, so memory stays bounded.

    No fsync, like curl or wget: forcing a gigabyte to the disk before returning cost 40% of
    the download's speed here, and protects only against a power cut in the seconds after it;
    the file is complete when we rename it, and `sd35l-trainer download` can always fetch it
    again.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.error: OSError | None = None
        self.written = 0
        self._batch: list[memoryview] = []
        self._batch_bytes = 0
        self._queue: queue.Queue[list[memoryview] | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._thread = threading.Thread(target=self._run, name="weights-writer", daemon=True)
        self._thread.start()

    def _write_all(self, pieces: list[memoryview]) -> None:
        start = 0
        while start < len(pieces):
            done = os.writev(self.fd, pieces[start : start + 512])
            while start < len(pieces) and done >= len(pieces[start]):
                done -= len(pieces[start])
                start += 1
            if done:
                pieces[start] = pieces[start][done:]

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self._write_all(batch)
            except OSError as exc:
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            reason = self.error.strerror or type(self.error).__name__
            raise SD35LError(f"Could not write the LoRA into {self.path.parent}: {reason}.")

    def put(self, piece: memoryview) -> None:
        self._batch.append(piece)
        self._batch_bytes += len(piece)
        self.written += len(piece)
        if self._batch_bytes >= CHUNK or len(self._batch) >= 512:
            self._raise()
            self._queue.put(self._batch)
            self._batch, self._batch_bytes = [], 0

    def close(self) -> None:
        """Wait for every queued write; raise if one failed."""
        if self._batch:
            self._queue.put(self._batch)
            self._batch = []
        self._queue.put(None)
        self._thread.join()
        os.close(self.fd)
        self._raise()


class _Extractor:
    """Runs in a worker thread: streams the tar and writes the chosen member to a temp file.

    `tarfile` (mode "r:") parses the headers, including pax and GNU long names, straight from
    the HTTP stream; member data is passed from the received chunks to the writer without
    copies, which keeps throughput close to a plain read.
    """

    def __init__(self, stream: ResumingStream, output_dir: Path, filename: str) -> None:
        self.stream = stream
        self.output_dir = output_dir
        self.filename = filename
        self._temps: list[Path] = []

    def _new_temp(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(
            dir=self.output_dir, prefix=f".{self.filename}.", suffix=".part"
        )
        path = Path(name)
        self._temps.append(path)
        return fd, path

    def _drop(self, path: Path) -> None:
        """Remove one of OUR temp files (never anything else)."""
        if path in self._temps:
            self._temps.remove(path)
            with suppress(OSError):
                path.unlink()

    def cleanup(self) -> None:
        for path in list(self._temps):
            self._drop(path)

    def _copy(self, size: int | None) -> Path:
        """The next `size` bytes of the stream (all of it when None) into a new temp file."""
        fd, path = self._new_temp()
        writer = _Writer(fd, path)
        try:
            for piece in self.stream.pieces(size if size is not None else 1 << 62):
                if self.stream.cancel.is_set():
                    raise Cancelled
                writer.put(piece)
        finally:
            writer.close()
        if size is not None and writer.written != size:
            raise ServiceError(
                f"The weights download ended early ({writer.written} of {size} bytes of the "
                f"LoRA); {again()}."
            )
        return path

    def _raw_safetensors(self) -> bool:
        """True when the link serves a bare .safetensors file rather than a tar."""
        head = self.stream.peek(9)
        if len(head) < 9:
            return False
        header_len = int.from_bytes(head[:8], "little")
        return 0 < header_len < 100_000_000 and head[8:9] == b"{"

    def run(self) -> Path:
        """Extract the LoRA to a temp file in output_dir; return its path (caller renames it)."""
        if self._raw_safetensors():
            return self._copy(self.stream.total)
        names: list[str] = []
        skipped: list[str] = []
        best: Path | None = None
        best_size = -1
        try:
            tar = tarfile.open(fileobj=cast(Any, self.stream), mode="r:")
            while (member := tar.next()) is not None:
                names.append(member.name)
                chosen = self._choose(member, best_size, skipped)
                if chosen:
                    self.stream.seek(member.offset_data)
                    path = self._copy(member.size)
                    if best is not None:
                        self._drop(best)
                    best, best_size = path, member.size
                    if PurePosixPath(member.name).name == PREFERRED_NAME:
                        break
                # Consume the rest of the member (and its padding) so tarfile never seeks back.
                self.stream.seek(tar.offset)
        except tarfile.TarError as exc:
            raise ServiceError(
                f"The downloaded weights are not a readable tar archive ({exc}); {again()}."
            ) from None
        if best is None:
            shown = ", ".join(names[:_LISTED_MEMBERS]) or "nothing"
            if len(names) > _LISTED_MEMBERS:
                shown += f" and {len(names) - _LISTED_MEMBERS} more"
            extra = f" ({len(skipped)} unsafe entries ignored)" if skipped else ""
            raise ServiceError(
                f"The weights archive has no usable .safetensors file{extra}; it contains: {shown}."
            )
        return best

    @staticmethod
    def _choose(member: tarfile.TarInfo, best_size: int, skipped: list[str]) -> bool:
        """Whether to extract `member`: a safe regular .safetensors file, lora.safetensors first,
        else the largest."""
        if not member.name.lower().endswith(SUFFIX):
            return False
        if not member.isreg() or not _safe_member(member.name):
            skipped.append(member.name)
            log.warning("Ignoring unsafe tar member %r", member.name)
            return False
        if PurePosixPath(member.name).name == PREFERRED_NAME:
            return True
        return member.size > best_size


# mkstemp makes 0600 files; a downloaded LoRA is an ordinary file others may read.
_FILE_MODE = 0o644


def _finish(temp: Path, target: Path, force: bool) -> None:
    """Move our temp file to `target`: atomic, and with no replacement unless `force`."""
    with suppress(OSError):
        os.chmod(temp, _FILE_MODE)
    if force:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)  # fails if target appeared meanwhile: nothing is overwritten
    except FileExistsError:
        raise InputError(
            f"{target} already exists; pass --force to replace it.", field="output"
        ) from None
    except OSError:  # a filesystem without hard links
        if os.path.lexists(target):
            raise InputError(
                f"{target} already exists; pass --force to replace it.", field="output"
            ) from None
        os.rename(temp, target)
        return
    os.unlink(temp)


def _download_sync(
    url: str,
    output_dir: Path,
    filename: str,
    headers: Mapping[str, str],
    force: bool,
    cancel: threading.Event,
    report: Callable[[int, int | None], None],
) -> tuple[Path, int, int | None]:
    try:
        return _download_in(url, output_dir, filename, headers, force, cancel, report)
    except httpx.HTTPError as exc:  # anything httpx raises that the stream did not translate
        raise ServiceError(
            f"Downloading the weights failed ({type(exc).__name__}); {again()}."
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SD35LError(f"Could not write the LoRA into {output_dir}: {reason}.") from None


def _download_in(
    url: str,
    output_dir: Path,
    filename: str,
    headers: Mapping[str, str],
    force: bool,
    cancel: threading.Event,
    report: Callable[[int, int | None], None],
) -> tuple[Path, int, int | None]:
    target = _target(output_dir, filename, force)
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client:
        stream = ResumingStream(client, url, headers, cancel, report)
        try:
            stream.open_first()
            for _ in range(MAX_RESTARTS + 1):
                extractor = _Extractor(stream, output_dir, filename)
                try:
                    temp = extractor.run()
                    _finish(temp, target, force)
                    extractor._temps.clear()
                    return target, stream.offset, stream.total
                except Restart as restart:
                    log.info("Weights server ignored the resume request; starting over")
                    stream.restart(restart.response)
                finally:
                    extractor.cleanup()
        finally:
            stream.close()
    raise ServiceError(f"The weights download had to start over too many times; {again()}.")


async def download_weights(
    url: str,
    output_dir: Path,
    filename: str,
    *,
    headers: Mapping[str, str] | None = None,
    force: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download the weights tar at `url` and save its LoRA as `output_dir/filename`.

    `on_progress(bytes_done, bytes_total)` is called on the event loop's thread. Raises
    InputError when the file exists and `force` is false, ServiceError when the download fails.
    """
    if not url.startswith(("http://", "https://")):
        raise ServiceError("The weights link is not an http(s) URL; it cannot be downloaded.")
    output_dir = Path(output_dir)
    _target(output_dir, filename, force)  # fail fast, before any network
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SD35LError(f"Could not create the folder {output_dir}: {reason}.") from None
    loop = asyncio.get_running_loop()
    cancel = threading.Event()

    def report(done: int, total: int | None) -> None:
        if on_progress is not None and not cancel.is_set():
            loop.call_soon_threadsafe(_safe_progress, on_progress, done, total)

    log.info("Downloading weights from %s", httpx.URL(url).host)
    future = loop.run_in_executor(
        None, _download_sync, url, output_dir, filename, dict(headers or {}), force, cancel, report
    )
    try:
        target, done, total = await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([future], timeout=5.0)  # let the worker remove its temp file
        raise
    except Cancelled:  # pragma: no cover - only raised after cancel.set()
        raise asyncio.CancelledError from None
    if on_progress is not None:
        _safe_progress(on_progress, done, total)
    log.info("Saved LoRA to %s", target)
    return target


def _safe_progress(fn: Callable[[int, int | None], None], done: int, total: int | None) -> None:
    try:
        fn(done, total)
    except Exception:  # a broken progress display must not break the download
        log.exception("Progress callback failed")
