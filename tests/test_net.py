"""SafeFetcher: the SSRF guard, pinned DNS, hand-followed redirects, caps and timeouts."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import InputError, ServiceError
from bot.core.http.fetcher import SafeFetcher, address_problem, describe_status, system_resolver
from bot.core.settings import load_settings
from tests.dataset_corpus import CorpusServer


@pytest.fixture
async def server() -> AsyncIterator[CorpusServer]:
    srv = CorpusServer(files={"a.bin": b"0123456789" * 100})
    await srv.start()
    yield srv
    await srv.stop()


@pytest.mark.parametrize(
    ("address", "word"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.9", "private"),
        ("172.16.5.4", "private"),
        ("100.64.1.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "a"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::ffff:127.0.0.1", "wrapping"),
        ("::ffff:8.8.8.8", "wrapping"),
        ("2002:7f00:1::", "wrapping"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "wrapping"),
        ("64:ff9b::a00:1", "wrapping"),
        ("ff02::1", "multicast"),
        ("not-an-ip", "not an IP"),
    ],
)
def test_refused_addresses(address: str, word: str) -> None:
    problem = address_problem(address)
    assert problem is not None and word in problem


def test_public_addresses_pass() -> None:
    assert address_problem("8.8.8.8") is None
    assert address_problem("2606:4700:4700::1111") is None


def test_allow_private_never_lifts_link_local() -> None:
    assert address_problem("10.0.0.1", allow_private=True) is None
    assert address_problem("127.0.0.1", allow_private=True) is None
    for meta in ("169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        assert "link-local" in (address_problem(meta, allow_private=True) or "")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.zip",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "gopher://x/",
    ],
)
async def test_scheme_and_host_refusals(url: str) -> None:
    async with SafeFetcher() as fetcher:
        with pytest.raises(InputError) as err:
            await fetcher.fetch(url)
    assert err.value.field == "dataset_url"
    assert str(err.value).count(".") >= 1 and "\n" not in str(err.value)


def fake_dns(mapping: dict[str, Sequence[str]], calls: list[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        if host not in mapping:
            raise OSError("Name or service not known")
        return mapping[host]

    return resolve


async def test_name_resolving_to_private_is_refused() -> None:
    calls: list[str] = []
    dns = fake_dns({"intranet.test": ["10.0.0.5"], "mixed.test": ["8.8.8.8", "127.0.0.1"]}, calls)
    async with SafeFetcher(resolver=dns) as fetcher:
        with pytest.raises(InputError, match=r"10\.0\.0\.5, a private address"):
            await fetcher.fetch("http://intranet.test/a.zip")
        with pytest.raises(InputError, match=r"127\.0\.0\.1, a loopback"):
            await fetcher.fetch("https://mixed.test/a.zip")  # every address is checked
        with pytest.raises(InputError, match="could not be found"):
            await fetcher.fetch("https://nowhere.test/a.zip")
    empty = fake_dns({"empty.test": []}, calls)
    async with SafeFetcher(resolver=empty) as fetcher:
        with pytest.raises(InputError, match="has no address"):
            await fetcher.fetch("https://empty.test/a.zip")


async def test_connects_to_the_checked_address_once_resolved(server) -> None:
    calls: list[str] = []
    dns = fake_dns({"dataset.test": ["127.0.0.1"]}, calls)
    async with SafeFetcher(allow_private=True, resolver=dns) as fetcher:
        for _ in range(3):
            result = await fetcher.fetch(f"http://dataset.test:{server.port}/range/a.bin")
            assert result.status == 200 and len(result.body) == 1000
    assert calls == ["dataset.test"]  # resolved once; no second lookup to be rebound
    assert server.hits[0].host == f"dataset.test:{server.port}"  # Host header kept


async def test_settings_control_private_addresses(server) -> None:
    async with SafeFetcher(load_settings()) as fetcher:
        with pytest.raises(InputError, match="SD35L_ALLOW_PRIVATE_URLS"):
            await fetcher.fetch(server.url("/range/a.bin"))
    async with SafeFetcher(load_settings(SD35L_ALLOW_PRIVATE_URLS=True)) as fetcher:
        assert (await fetcher.fetch(server.url("/range/a.bin"))).status == 200


async def test_redirects_are_followed_by_hand_and_capped(server) -> None:
    async with SafeFetcher(allow_private=True) as fetcher:
        result = await fetcher.fetch(server.url("/redirect/5/a.bin"))
        assert result.status == 200 and len(result.redirects) == 5
        head = await fetcher.fetch(server.url("/redirect/2/a.bin"), method="HEAD")
        assert head.status == 200 and head.body == b""
        with pytest.raises(InputError, match="more than 5 times"):
            await fetcher.fetch(server.url("/redirect/6/a.bin"))


async def test_redirect_hops_are_checked(server) -> None:
    async with SafeFetcher(allow_private=True) as fetcher:
        with pytest.raises(InputError, match=r"169\.254\.169\.254.*never fetched"):
            await fetcher.fetch(server.url("/to?url=http://169.254.169.254/latest/meta-data/"))
        with pytest.raises(InputError, match="only http"):
            await fetcher.fetch(server.url("/to?url=file:///etc/passwd"))
    calls: list[str] = []
    dns = fake_dns({"public.test": ["127.0.0.1"], "inside.test": ["192.168.1.1"]}, calls)
    async with SafeFetcher(resolver=dns) as fetcher:
        fetcher.allow_private = True  # let the first hop reach the loopback test server
        await fetcher.check_url(f"http://public.test:{server.port}/")
        fetcher.allow_private = False
        with pytest.raises(InputError, match=r"192\.168\.1\.1"):
            await fetcher.fetch(f"http://public.test:{server.port}/to?url=http://inside.test/x.zip")


async def test_body_caps_and_sink(server) -> None:
    async with SafeFetcher(allow_private=True, max_body_bytes=300) as fetcher:
        result = await fetcher.fetch(server.url("/range/a.bin"))
        assert result.truncated and len(result.body) == 300
        sink = io.BytesIO()
        full = await fetcher.fetch(server.url("/range/a.bin"), max_bytes=5000, sink=sink)
        assert not full.truncated and full.body == b"" and len(sink.getvalue()) == 1000
        ranged = await fetcher.fetch(server.url("/range/a.bin"), headers={"Range": "bytes=0-9"})
        assert ranged.status == 206 and ranged.body == b"0123456789"
    async with SafeFetcher(allow_private=True, max_total_bytes=1500) as fetcher:
        await fetcher.fetch(server.url("/range/a.bin"))
        with pytest.raises(ServiceError, match="more than the"):
            await fetcher.fetch(server.url("/range/a.bin"))


async def test_timeouts_and_unreachable_hosts(server) -> None:
    async with SafeFetcher(allow_private=True, read_timeout=0.2) as fetcher:
        with pytest.raises(ServiceError, match="timed out"):
            await fetcher.fetch(server.url("/slow"))
    async with SafeFetcher(allow_private=True, request_timeout=0.2) as fetcher:
        with pytest.raises(ServiceError, match="timed out"):
            await fetcher.fetch(server.url("/slow"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with SafeFetcher(allow_private=True) as fetcher:
        with pytest.raises(ServiceError, match=r"could not fetch the dataset from 127\.0\.0\.1"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/a.zip")


async def test_broken_download_is_a_service_error(server) -> None:
    async with SafeFetcher(allow_private=True, read_timeout=0.3) as fetcher:
        with pytest.raises(ServiceError, match=r"timed out|could not fetch"):
            await fetcher.fetch(server.url("/short/a.bin"))


async def test_system_resolver_handles_literals_and_localhost() -> None:
    assert "127.0.0.1" in await system_resolver("127.0.0.1", 80)
    assert describe_status(404) == "was not found (404)" and "418" in describe_status(418)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """One parser for the gateway and the weights download: seconds or an HTTP date."""
    from email.utils import format_datetime

    from bot.core.http.retry import retry_after

    assert retry_after("1.5") == 1.5 and retry_after(" 3 ") == 3.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25.0 <= (retry_after(soon) or 0.0) <= 30.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after("-3") == 0.0
    for unusable in (None, "", "soon", "nan", "inf"):
        assert retry_after(unusable) is None
