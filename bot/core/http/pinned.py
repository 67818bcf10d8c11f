"""HTTP connections that reach only addresses checked beforehand: `net.SafeFetcher`'s transport.

The standard library's `http.client` does the HTTP; this module only decides where it connects
(each checked address in turn, never a fresh DNS answer that could be rebound), verifies TLS
against the host name rather than the address, keeps connections alive per host for the ranged
reads of a dataset check, and caps every body. Each exchange is blocking and runs in a worker
thread; `Pool.abort` unblocks one when its request is given up (timeout, Ctrl-C). aiohttp is not
used here because its import alone cost the CLI's dry run more than the dataset check itself.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

CHUNK = 256 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _connect(addresses: Sequence[str], port: int, connect: float, read: float) -> socket.socket:
    """A TCP connection to the first of `addresses` that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=connect)
        except OSError as exc:
            error = exc
            continue
        sock.settimeout(read)
        return sock
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to the checked addresses; the Host header keeps the name."""

    def __init__(self, host: str, port: int, pins: Sequence[str], connect: float, read: float):
        super().__init__(host, port, timeout=connect)
        self.pins, self.timeouts = pins, (connect, read)

    def connect(self) -> None:
        self.sock = _connect(self.pins, self.port, *self.timeouts)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked addresses; the certificate must match the host name (SNI)."""

    def __init__(
        self,
        host: str,
        port: int,
        pins: Sequence[str],
        connect: float,
        read: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=connect, context=context)
        self.pins, self.timeouts = pins, (connect, read)

    def connect(self) -> None:
        sock = _connect(self.pins, self.port, *self.timeouts)
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


Key = tuple[str, str, int]  # scheme, host, port


class Pool:
    """Idle kept-alive connections per host, and the ones in use (so `close` reaches them)."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.timeouts = (connect_timeout, read_timeout)
        self._idle: dict[Key, list[http.client.HTTPConnection]] = {}
        self._busy: dict[http.client.HTTPConnection, Key] = {}
        self._tls: ssl.SSLContext | None = None  # one per pool: loading the CA store is slow

    def take(self, key: Key, pins: Sequence[str]) -> http.client.HTTPConnection:
        """An idle connection to `key`, or a new one to `pins` (connected on first use)."""
        idle = self._idle.get(key)
        if idle:
            conn = idle.pop()
        elif key[0] == "https":
            self._tls = self._tls or ssl.create_default_context()
            conn = _PinnedHTTPS(key[1], key[2], pins, *self.timeouts, self._tls)
        else:
            conn = _PinnedHTTP(key[1], key[2], pins, *self.timeouts)
        self._busy[conn] = key
        return conn

    def give_back(self, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
        key = self._busy.pop(conn)
        if reusable:
            self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()

    def abort(self, conn: http.client.HTTPConnection) -> None:
        """Close `conn` even while a worker thread is blocked reading it (that read then fails)."""
        self._busy.pop(conn, None)
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            self.abort(conn)


@dataclass
class Reply:
    """What one exchange got: status, lower-cased headers and the body up to its cap."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    truncated: bool = False  # the body had more bytes than the cap; the rest was not read
    reusable: bool = False  # the connection can carry another request


def exchange(
    conn: http.client.HTTPConnection,
    method: str,
    target: str,
    headers: Mapping[str, str],
    cap: int,
    sink: IO[bytes] | None,
    count: Callable[[int], None],
) -> Reply:
    """One request on `conn` (blocking: run it in a worker thread) and at most `cap` body bytes.

    A redirect's body is not read; with `sink` the body is written there instead of kept;
    `count` is told every body byte read (it may raise to stop the download).
    """
    conn.request(method, target, headers=dict(headers))
    resp = conn.getresponse()
    reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()})
    if method == "HEAD":
        resp.read()
        reply.reusable = not resp.will_close
        return reply
    if resp.status in REDIRECT_STATUSES:
        return reply
    chunks: list[bytes] = []
    got = 0
    while chunk := resp.read(min(CHUNK, cap - got + 1)):  # one byte past the cap tells
        part = chunk[: cap - got]
        got += len(part)
        count(len(part))
        if sink is not None:
            sink.write(part)
        else:
            chunks.append(part)
        if len(chunk) > len(part):
            reply.truncated = True
            break
    reply.body = b"".join(chunks)
    reply.reusable = not reply.truncated and not resp.will_close
    return reply
