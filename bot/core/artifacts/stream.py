"""The HTTP side of the weights download: one continuous byte stream that survives cuts.

`ResumingStream` is what `tarfile` reads in `bot.core.artifacts.weights`: behind it, each
interruption (connection reset, a body shorter than announced, a 5xx) is followed by a `Range`
request from the byte where the stream stopped, accepted only when the server proves it resumed
there. Headers are never logged (they may hold the Replicate token).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress

import httpx

from bot.core.errors import ServiceError
from bot.core.http.retry import retry_after as parse_retry_after
from bot.core.log import get_logger

log = get_logger(__name__)

CHUNK = 1024 * 1024
MAX_CUTS = 6  # consecutive interruptions without new bytes before giving up
MAX_RESUMES = 50  # interruptions in total
RETRY_BASE = 0.2  # seconds; doubled per consecutive interruption (tests set it to 0)
_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
_EXPIRED = {401, 403, 404, 410}
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")

ProgressFn = Callable[[int, "int | None"], None]


class Cancelled(Exception):
    """The caller was cancelled; the worker stops at the next chunk."""


class Restart(Exception):
    """The server answered a resume with the whole body: parse again from byte 0."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__("restart")
        self.response = response


def again() -> str:
    return "run `sd35l-trainer download <training id>` again"


class ResumingStream:
    """A read-only file over an HTTP body that reconnects with `Range` after a cut.

    `tarfile` reads it sequentially; it only sees one continuous byte stream. A resume is accepted
    only as a 206 whose Content-Range starts exactly where we stopped (and, when the first answer
    had a validator, `If-Range` makes a changed file come back whole, as a 200). A 200 to a resume
    raises `Restart` so the caller starts parsing over with that response.
    """

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        headers: Mapping[str, str],
        cancel: threading.Event,
        report: ProgressFn,
    ) -> None:
        self.client = client
        self.url = url
        self.headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        self.cancel = cancel
        self.report = report
        self.offset = 0  # bytes received (where a resume starts)
        self.position = 0  # bytes handed to the reader
        self.total: int | None = None
        self._validator: str | None = None
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        self._cuts = 0
        self._resumes = 0
        self._reported = 0

    # -- connection ---------------------------------------------------------------------------

    def open_first(self) -> None:
        while self._chunks is None:
            self._connect()

    def _connect(self) -> None:
        """One request from `offset`; on a transient failure records a cut and returns."""
        if self.cancel.is_set():
            raise Cancelled
        headers = {**self.headers, "Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self._validator:
                headers["If-Range"] = self._validator
        try:
            response = self.client.send(
                self.client.build_request("GET", self.url, headers=headers), stream=True
            )
        except httpx.TransportError as exc:
            self._cut(type(exc).__name__)
            return
        status = response.status_code
        if status in _TRANSIENT:
            response.close()
            self._cut(f"HTTP {status}", status, response.headers.get("retry-after"))
            return
        if status >= 400:
            response.close()
            raise status_error(status)
        if self.offset == 0:
            self._accept(response)
            return
        if status == 206 and self._resumes_at(response):
            self._response = response
            self._chunks = response.iter_bytes()
            return
        if status == 200:
            raise Restart(response)
        response.close()
        raise Restart(self._fresh())

    def _fresh(self) -> httpx.Response:
        """A plain GET from byte 0 (after a resume we cannot trust)."""
        headers = {**self.headers, "Accept-Encoding": "identity"}
        try:
            response = self.client.send(
                self.client.build_request("GET", self.url, headers=headers), stream=True
            )
        except httpx.TransportError as exc:
            raise ServiceError(
                f"The weights download failed while starting over ({type(exc).__name__}); "
                f"{again()}."
            ) from None
        if response.status_code != 200:
            response.close()
            raise status_error(response.status_code)
        return response

    def _resumes_at(self, response: httpx.Response) -> bool:
        m = _CONTENT_RANGE.match(response.headers.get("content-range", "").strip())
        if m is None or int(m[1]) != self.offset:
            return False
        return self.total is None or m[3] == "*" or int(m[3]) == self.total

    def _accept(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            response.close()
            raise ServiceError(
                f"The weights server answered HTTP {response.status_code} instead of the file; "
                f"{again()}.",
                status=response.status_code,
            )
        length = response.headers.get("content-length")
        self.total = int(length) if length and length.isdigit() else None
        etag = response.headers.get("etag")
        strong = etag if etag and not etag.startswith("W/") else None
        self._validator = strong or response.headers.get("last-modified")
        self._response = response
        self._chunks = response.iter_bytes()
        self.report(0, self.total)

    def restart(self, response: httpx.Response) -> None:
        """Start over from byte 0 with `response` (a 200 with the whole body)."""
        self.close()
        self.offset = 0
        self.position = 0
        self._pending = memoryview(b"")
        self._accept(response)

    def _cut(self, why: str, status: int | None = None, retry_after: str | None = None) -> None:
        """Count an interruption; give up after too many; wait a little before the next try."""
        self.close()
        self._cuts += 1
        self._resumes += 1
        log.info("Weights download interrupted at byte %d (%s); resuming", self.offset, why)
        if self._cuts > MAX_CUTS or self._resumes > MAX_RESUMES:
            if status is not None:
                raise ServiceError(
                    f"The weights server kept failing (HTTP {status}); try again later: {again()}.",
                    status=status,
                )
            raise ServiceError(
                f"The weights download kept being interrupted ({why}); check the connection "
                f"and {again()}."
            )
        delay = min(RETRY_BASE * 2 ** (self._cuts - 1), 5.0)
        asked = parse_retry_after(retry_after)
        if asked is not None:
            delay = min(max(delay, asked), 5.0)
        if delay > 0 and self.cancel.wait(delay):
            raise Cancelled

    def close(self) -> None:
        if self._response is not None:
            with suppress(Exception):
                self._response.close()
        self._response = None
        self._chunks = None

    # -- reading ------------------------------------------------------------------------------

    def _next_chunk(self) -> bytes:
        while True:
            if self.cancel.is_set():
                raise Cancelled
            if self._chunks is None:
                self._connect()
                continue
            try:
                chunk = next(self._chunks)
            except StopIteration:
                if self.total is not None and self.offset < self.total:
                    self._cut("body ended early")
                    continue
                self.close()
                return b""
            except httpx.TransportError as exc:
                self._cut(type(exc).__name__)
                continue
            if chunk:
                self.offset += len(chunk)
                self._cuts = 0
                if self.offset - self._reported >= max(CHUNK, (self.total or 0) // 200):
                    self._reported = self.offset
                    self.report(self.offset, self.total)
                return chunk

    def _take(self, limit: int) -> memoryview:
        """Up to `limit` next bytes (no copy: a view into one received chunk); empty at EOF."""
        if not self._pending:
            chunk = self._next_chunk()
            if not chunk:
                return memoryview(b"")
            self._pending = memoryview(chunk)
        piece = self._pending[:limit]
        self._pending = self._pending[limit:]
        self.position += len(piece)
        return piece

    def pieces(self, size: int) -> Iterator[memoryview]:
        """The next `size` bytes as views into the received chunks (fewer only at EOF)."""
        left = size
        while left > 0:
            piece = self._take(left)
            if not piece:
                return
            left -= len(piece)
            yield piece

    def peek(self, size: int) -> bytes:
        """Up to `size` next bytes without consuming them."""
        while len(self._pending) < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            self._pending = memoryview(bytes(self._pending) + chunk)
        return bytes(self._pending[:size])

    # The file interface `tarfile` needs in "r:" mode: it only ever moves forward, because the
    # extractor consumes each member's data and padding itself before asking for the next one.

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        return b"".join(self.pieces(size))

    def tell(self) -> int:
        return self.position

    def seek(self, pos: int, whence: int = 0) -> int:
        target = pos if whence == 0 else self.position + pos if whence == 1 else -1
        if target < self.position:
            raise OSError("the weights stream cannot move backwards")
        for _ in self.pieces(target - self.position):
            pass
        return self.position


def status_error(status: int) -> ServiceError:
    if status in _EXPIRED:
        return ServiceError(
            f"Downloading the weights failed with HTTP {status}: the weights link may have "
            f"expired, so {again()}.",
            status=status,
        )
    return ServiceError(
        f"Downloading the weights failed with HTTP {status}; {again()}.", status=status
    )
