"""The one HTTP fetcher for URLs a user typed (dataset links): an SSRF guard with caps.

Why it exists: a URL from Discord or a config file is run from the bot's host, which may sit next
to a cloud metadata service or a LAN. So every host name is resolved once, every address it
resolves to is checked, and the connection goes to exactly those checked addresses (`pinned`
connects to them, never to a fresh DNS answer), so a second answer cannot rebind it. Redirects
are followed by hand, each hop checked the same way. Timeouts and byte caps bound every request.
`SD35L_ALLOW_PRIVATE_URLS=1` lifts only the private-address rule; link-local addresses (cloud
metadata at 169.254.169.254) are never fetched.
The transport (`pinned`) is the standard library's `http.client` in worker threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import ipaddress
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from yarl import URL

from bot.core.errors import InputError, ServiceError
from bot.core.http.pinned import REDIRECT_STATUSES, Pool, exchange
from bot.core.log import get_logger
from bot.core.settings import Settings

log = get_logger(__name__)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Name resolution hook: (host, port) -> IP address strings. Tests inject one (no real DNS)."""

FIELD = "dataset_url"
MAX_REDIRECTS = 5
MIB = 1024 * 1024
_HEADERS = {"User-Agent": "sd35l-trainer dataset check", "Accept-Encoding": "identity"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_net = ipaddress.ip_network
# Never fetched, even with allow_private: link-local holds the cloud metadata services.
_NEVER = (
    _net("169.254.0.0/16"),
    _net("fe80::/10"),
    _net("fd00:ec2::254/128"),  # AWS metadata over IPv6
    _net("100.100.100.200/32"),  # Alibaba Cloud metadata
)
_CGNAT = _net("100.64.0.0/10")
_THIS_NETWORK = _net("0.0.0.0/8")
_NAT64 = _net("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """A word naming why `ip` is not a public internet address, or None when it is."""
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK, "'this network'"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (not ip.is_global, "non-public"),
    ]
    for hit, word in checks:
        if hit:
            return word
    return None


def _parse_ip(address: str) -> IPAddress | None:
    """`address` as an IP (a `%zone` suffix ignored), or None when it is not an IP literal."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def address_problem(address: str, *, allow_private: bool = False) -> str | None:
    """Why `address` may not be fetched (a phrase like "a loopback address"), or None if fine."""
    ip = _parse_ip(address)
    if ip is None:
        return "not an IP address"
    embedded = _embedded_ipv4(ip)
    for candidate in (ip, embedded):
        if candidate is not None and any(candidate in net for net in _NEVER):
            return "a link-local address (where cloud metadata services live), never fetched"
    if allow_private:
        return None
    if embedded is not None:
        return "an IPv6 address wrapping an IPv4 address (mapped, 6to4, Teredo or NAT64)"
    kind = _kind(ip)
    return f"a {kind} address" if kind else None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve through the OS once (the default `Resolver`)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass
class FetchResult:
    """One answered request after redirects: status, lower-cased headers and (capped) body."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    truncated: bool = False  # the body had more bytes than the cap allowed us to read
    redirects: list[str] = field(default_factory=list)


_EXCHANGE_THREADS = 64  # blocked on a slow host, not on the CPU: many are cheap
_exchanges: concurrent.futures.ThreadPoolExecutor | None = None


def _block_sigint() -> None:
    """Ctrl-C goes to the main thread only: a SIGINT the kernel handed to one of these threads
    would not interrupt a prompt's blocking read there (the CLI's own workers do the same)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def exchanges() -> concurrent.futures.ThreadPoolExecutor:
    """The worker threads HTTP exchanges block in. Not the loop's default executor: that one
    has a few threads (cores + 4) for CPU work (judging a ZIP, drawing a chart), and a handful
    of slow dataset hosts would otherwise hold every one of them for minutes."""
    global _exchanges
    if _exchanges is None:
        _exchanges = concurrent.futures.ThreadPoolExecutor(
            _EXCHANGE_THREADS, thread_name_prefix="sd35l-fetch", initializer=_block_sigint
        )
    return _exchanges


def unreachable_message(host: str, reason: str) -> str:
    """The host of a dataset link did not answer at all (refused, unknown name, reset)."""
    return (
        f"{FIELD}: could not fetch the dataset from {host} ({reason}). Check that the link "
        "opens in a browser and that its server is running and reachable from here; or train "
        "on a local folder or .zip with --dataset (dataset_path) instead."
    )


class SafeFetcher:
    """Fetches user-given http(s) URLs safely; refusals raise `InputError(field="dataset_url")`.

    Use as `async with SafeFetcher(settings) as f: await f.fetch(url, ...)`. `bytes_read` and
    `requests_made` count everything this fetcher received, for reports and benchmarks.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        allow_private: bool | None = None,
        resolver: Resolver | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        request_timeout: float = 120.0,
        max_body_bytes: int = 64 * MIB,
        max_total_bytes: int | None = None,
        max_redirects: int = MAX_REDIRECTS,
        max_connections: int = 8,
    ) -> None:
        if allow_private is None:
            allow_private = bool(settings.allow_private_urls) if settings else False
        self.allow_private = allow_private
        self.max_body_bytes = max_body_bytes
        self.max_total_bytes = max_total_bytes
        self.max_redirects = max_redirects
        self.request_timeout = request_timeout
        self.bytes_read = 0
        self.requests_made = 0
        self._resolve = resolver or system_resolver
        self._pool = Pool(connect_timeout, read_timeout)
        self._slots = asyncio.Semaphore(max_connections)
        self._checked: dict[tuple[str, int], list[str]] = {}
        self._lock = threading.Lock()  # byte counts come from worker threads

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._pool.close()

    async def check_url(self, url: str | URL) -> URL:
        """Parse and vet one URL: scheme, host, and every address the host resolves to."""
        try:
            parsed = url if isinstance(url, URL) else URL(url.strip())
        except (ValueError, TypeError):
            raise InputError(
                f"The URL {url!r} cannot be parsed; give a full https:// link.", field=FIELD
            ) from None
        if parsed.scheme not in ("http", "https"):
            raise InputError(
                f"The URL {str(parsed)[:200]!r} uses {parsed.scheme or 'no'} scheme; only http:// "
                "and https:// links can be fetched.",
                field=FIELD,
            )
        host = parsed.raw_host
        if not host:
            raise InputError(f"The URL {str(parsed)[:200]!r} has no host name.", field=FIELD)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await self._pin(host, port)
        return parsed

    async def _pin(self, host: str, port: int) -> list[str]:
        key = (host, port)
        if key in self._checked:
            return self._checked[key]
        literal = host.strip("[]")
        if _parse_ip(literal) is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(await self._resolve(host, port))
            except (OSError, UnicodeError) as exc:
                raise InputError(
                    f"The host {host} in the dataset URL could not be found ({exc}); "
                    "check the link for typos.",
                    field=FIELD,
                ) from None
            if not addresses:
                raise InputError(
                    f"The host {host} in the dataset URL has no address; check the link for typos.",
                    field=FIELD,
                )
        for address in addresses:
            problem = address_problem(address, allow_private=self.allow_private)
            if problem:
                hint = (
                    ""
                    if "link-local" in problem or self.allow_private
                    else (" (set SD35L_ALLOW_PRIVATE_URLS=1 only for a trusted LAN file server)")
                )
                raise InputError(
                    f"Refusing to fetch from {host}: it resolves to {address}, {problem}; use a "
                    f"public http(s) link{hint}.",
                    field=FIELD,
                )
        self._checked[key] = addresses
        return addresses

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_read += n
            over = self.max_total_bytes is not None and self.bytes_read > self.max_total_bytes
        if over:
            assert self.max_total_bytes is not None
            raise ServiceError(
                f"Stopped after reading {self.bytes_read // MIB} MB: more than the "
                f"{self.max_total_bytes // MIB} MB one check may read."
            )

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        sink: IO[bytes] | None = None,
    ) -> FetchResult:
        """Request `url`, following up to `max_redirects` checked redirects by hand.

        Reads at most `max_bytes` of the body (default: the per-request cap); more sets
        `truncated` and the rest is not downloaded. With `sink`, the body is written there
        instead of being kept in memory.
        """
        cap = self.max_body_bytes if max_bytes is None else max_bytes
        current = await self.check_url(url)
        hops: list[str] = []
        try:
            async with asyncio.timeout(self.request_timeout):
                while True:
                    result = await self._one(method, current, headers, cap, sink)
                    location = result.headers.get("location")
                    if result.status not in REDIRECT_STATUSES or not location:
                        result.redirects = hops
                        return result
                    if len(hops) >= self.max_redirects:
                        raise InputError(
                            f"The dataset URL redirects more than {self.max_redirects} times; "
                            "give the final direct download link.",
                            field=FIELD,
                        )
                    hops.append(str(current))
                    current = await self.check_url(current.join(URL(location)))
                    if result.status == 303 and method != "HEAD":
                        method = "GET"
        except TimeoutError:
            raise ServiceError(
                f"{FIELD}: fetching the dataset from {current.host} timed out; check that the "
                "link works in a browser and try again."
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = str(exc) or type(exc).__name__
            raise ServiceError(unreachable_message(str(current.host), reason)) from None

    async def _one(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str] | None,
        cap: int,
        sink: IO[bytes] | None,
    ) -> FetchResult:
        self.requests_made += 1
        host, port = str(url.raw_host), int(url.port or 80)
        sent = {**_HEADERS, **(headers or {})}
        async with self._slots:
            conn = self._pool.take((url.scheme, host, port), self._checked[(host, port)])
            try:
                reply = await asyncio.get_running_loop().run_in_executor(
                    exchanges(),
                    exchange,
                    conn,
                    method,
                    url.raw_path_qs,
                    sent,
                    cap,
                    sink,
                    self._count,
                )
            except BaseException:  # failed, timed out or interrupted: no thread stays blocked
                self._pool.abort(conn)
                raise
            self._pool.give_back(conn, reusable=reply.reusable)
        return FetchResult(str(url), reply.status, reply.headers, reply.body, reply.truncated)


def describe_status(status: int) -> str:
    """A short phrase for an HTTP status a dataset host answered."""
    phrases: dict[int, str] = {
        401: "needs a login (401)",
        403: "refused access (403)",
        404: "was not found (404)",
        410: "is gone (410)",
        429: "is rate-limiting requests (429)",
    }
    return phrases.get(status, f"answered HTTP {status}")
