"""Weights download: streaming, resume after a cut, safe extraction, no overwrite, clear errors.

Every test serves tars from an aiohttp server on loopback; the LoRA is compared by sha256.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import tarfile
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.core.artifacts import weights as artifacts
from bot.core.artifacts.weights import download_weights, weights_filename
from bot.core.errors import InputError, SD35LError, ServiceError

TOKEN = "r8_" + "sim" * 10
LORA = os.urandom(300_000)  # several HTTP chunks, not a multiple of 512
DIR = web.AppKey("dir", str)
NESTED = "output/sd3.5_train_replicate/lora.safetensors"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(members: list[tuple[str, bytes | str]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A tar in memory; a `str` value makes a symlink pointing there."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, str):
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


TRAINER_TAR = make_tar(
    [
        ("output/sd3.5_train_replicate/config.yaml", b"job: extension\n"),
        (NESTED, LORA),
        ("output/sd3.5_train_replicate/captions/a.txt", b"a photo of TOK"),
    ]
)


@dataclass
class Served:
    """What the test server serves and what it saw."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None  # close the first request's connection after this many bytes
    cuts_left: int = 1
    ignore_range: bool = False
    wrong_range: bool = False  # answer a resume with a 206 that starts at byte 0
    fail_first: int = 0  # answer 503 this many times first
    trickle: bool = False  # send slowly (for cancellation)
    ranges: list[str | None] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/f/{name}"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = Served()

    async def handler(request: web.Request) -> web.StreamResponse:
        state.ranges.append(request.headers.get("Range"))
        state.auth.append(request.headers.get("Authorization"))
        data = state.files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        if state.fail_first > 0:
            state.fail_first -= 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        if state.cut_after is not None and state.cuts_left > 0:
            state.cuts_left -= 1
            resp = web.StreamResponse(headers={"ETag": '"v1"'})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: state.cut_after])
            assert request.transport is not None
            request.transport.close()
            return resp
        if state.trickle:
            resp = web.StreamResponse()
            resp.content_length = len(data)
            await resp.prepare(request)
            for i in range(0, len(data), 4096):
                await resp.write(data[i : i + 4096])
                await asyncio.sleep(0.005)
            return resp
        if state.wrong_range and request.headers.get("Range"):
            cr = f"bytes 0-{len(data) - 1}/{len(data)}"
            return web.Response(status=206, body=data, headers={"Content-Range": cr})
        if state.ignore_range:
            return web.Response(body=data, headers={"ETag": '"v1"'})
        path = Path(request.app[DIR]) / request.match_info["name"]
        path.write_bytes(data)
        return web.FileResponse(path, headers={"ETag": '"v1"'})

    app = web.Application()
    app.router.add_get("/f/{name}", handler)
    app.router.add_get("/status/{code}", _status)

    with tempfile.TemporaryDirectory() as tmp:
        app[DIR] = tmp
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.base = f"http://127.0.0.1:{port}"
        yield state
        await runner.cleanup()


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="no")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.artifacts.stream.RETRY_BASE", 0.0)


def only_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_extracts_nested_lora_byte_identical(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    seen: list[tuple[int, int | None]] = []
    out = await download_weights(
        served.url("w.tar"),
        tmp_path / "new",
        "a_b_TOK.safetensors",
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert out == tmp_path / "new" / "a_b_TOK.safetensors"
    assert sha(out.read_bytes()) == sha(LORA)
    assert only_files(tmp_path / "new") == ["a_b_TOK.safetensors"]  # no temp file left
    assert seen[-1] == (len(TRAINER_TAR), len(TRAINER_TAR))


async def test_resumes_with_range_after_a_cut(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.cut_after = 150_001
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(LORA)
    assert served.ranges[0] is None
    resumed = served.ranges[1]
    assert resumed is not None and resumed.startswith("bytes=") and resumed != "bytes=0-"
    assert len(served.ranges) == 2


async def test_restarts_cleanly_when_server_ignores_range(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.cut_after = 200_000
    served.ignore_range = True
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(LORA)
    assert len(served.ranges) == 2 and served.ranges[1] is not None
    assert only_files(tmp_path) == ["x.safetensors"]


async def test_resume_from_the_wrong_byte_starts_over(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.cut_after = 100_000
    served.wrong_range = True
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(LORA)
    assert served.ranges[0] is None and served.ranges[1] is not None and served.ranges[2] is None


async def test_unwritable_output_folder(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SD35LError, match="Could not create the folder"):
        await download_weights(served.url("w.tar"), blocker / "sub", "x.safetensors")


async def test_disk_errors_become_one_sentence(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.files["w.tar"] = TRAINER_TAR

    def full(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", full)
    with pytest.raises(SD35LError, match=r"Could not write the LoRA into .*No space left"):
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert only_files(tmp_path) == []


async def test_transient_503_is_retried(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.fail_first = 2
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(LORA)


async def test_gives_up_after_repeated_cuts(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.core.artifacts.stream.MAX_CUTS", 2)
    served.files["w.tar"] = TRAINER_TAR
    served.fail_first = 10
    with pytest.raises(ServiceError, match="kept failing"):
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert only_files(tmp_path) == []


async def test_unsafe_member_names_are_never_written(served: Served, tmp_path: Path) -> None:
    good = os.urandom(5000)
    served.files["w.tar"] = make_tar(
        [
            ("../evil.safetensors", b"evil" * 5000),
            ("/tmp/abs_evil.safetensors", b"evil" * 5000),
            ("a/../../up.safetensors", b"evil" * 5000),
            ("link.safetensors", "/etc/passwd"),
            ("deep/dir/model.safetensors", good),
        ]
    )
    out_dir = tmp_path / "out"
    out = await download_weights(served.url("w.tar"), out_dir, "x.safetensors")
    assert sha(out.read_bytes()) == sha(good)
    assert only_files(out_dir) == ["x.safetensors"]
    assert only_files(tmp_path) == ["out"]
    assert "abs_evil.safetensors" not in only_files(Path("/tmp"))


async def test_only_unsafe_members_is_an_error(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = make_tar([("../evil.safetensors", b"x" * 100), ("c.yaml", b"a")])
    with pytest.raises(ServiceError, match=r"unsafe entries ignored.*c\.yaml"):
        await download_weights(served.url("w.tar"), tmp_path / "o", "x.safetensors")
    assert only_files(tmp_path / "o") == []
    assert only_files(tmp_path) == ["o"]


async def test_no_safetensors_member_names_the_contents(served: Served, tmp_path: Path) -> None:
    names = [f"output/f{i}.txt" for i in range(10)]
    served.files["w.tar"] = make_tar([(n, b"x") for n in names])
    with pytest.raises(ServiceError) as err:
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert "no usable .safetensors" in str(err.value)
    assert "output/f0.txt" in str(err.value) and "2 more" in str(err.value)
    assert only_files(tmp_path) == []


async def test_prefers_lora_safetensors_then_largest(served: Served, tmp_path: Path) -> None:
    small_lora, big = os.urandom(1000), os.urandom(9000)
    served.files["a.tar"] = make_tar(
        [
            ("x/big.safetensors", big),
            ("x/other.safetensors", b"1"),
            ("y/lora.safetensors", small_lora),
        ]
    )
    out = await download_weights(served.url("a.tar"), tmp_path, "a.safetensors")
    assert sha(out.read_bytes()) == sha(small_lora)
    served.files["b.tar"] = make_tar(
        [
            ("x/small.safetensors", b"12"),
            ("x/big.safetensors", big),
            ("x/mid.safetensors", b"1" * 99),
        ]
    )
    out = await download_weights(served.url("b.tar"), tmp_path, "b.safetensors")
    assert sha(out.read_bytes()) == sha(big)
    assert only_files(tmp_path) == ["a.safetensors", "b.safetensors"]


async def test_long_pax_names(served: Served, tmp_path: Path) -> None:
    name = "output/" + "d" * 150 + "/lora.safetensors"
    served.files["w.tar"] = make_tar([("é" * 120 + ".txt", b"x"), (name, LORA)], tarfile.PAX_FORMAT)
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(LORA)


async def test_existing_file_needs_force(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    target = tmp_path / "x.safetensors"
    target.write_bytes(b"mine")
    with pytest.raises(InputError) as err:
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert str(target) in str(err.value) and "--force" in str(err.value)
    assert target.read_bytes() == b"mine"
    assert served.ranges == []  # refused before any network
    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors", force=True)
    assert sha(out.read_bytes()) == sha(LORA)
    assert only_files(tmp_path) == ["x.safetensors"]


async def test_failed_forced_download_keeps_the_old_file(served: Served, tmp_path: Path) -> None:
    target = tmp_path / "x.safetensors"
    target.write_bytes(b"mine")
    with pytest.raises(ServiceError):
        await download_weights(f"{served.base}/status/404", tmp_path, "x.safetensors", force=True)
    assert target.read_bytes() == b"mine"
    assert only_files(tmp_path) == ["x.safetensors"]


async def test_existing_symlink_is_replaced_not_followed(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "x.safetensors").symlink_to(outside)
    with pytest.raises(InputError):
        await download_weights(served.url("w.tar"), out_dir, "x.safetensors")
    out = await download_weights(served.url("w.tar"), out_dir, "x.safetensors", force=True)
    assert not out.is_symlink() and sha(out.read_bytes()) == sha(LORA)
    assert outside.read_bytes() == b"keep"


async def test_race_created_file_is_not_overwritten(served: Served, tmp_path: Path) -> None:
    temp = tmp_path / "t.part"
    temp.write_bytes(b"new")
    target = tmp_path / "x.safetensors"
    target.write_bytes(b"theirs")
    with pytest.raises(InputError, match="--force"):
        artifacts._finish(temp, target, force=False)
    assert target.read_bytes() == b"theirs"


@pytest.mark.parametrize("code", [403, 404, 410])
async def test_expired_link_statuses(served: Served, tmp_path: Path, code: int) -> None:
    with pytest.raises(ServiceError) as err:
        await download_weights(f"{served.base}/status/{code}", tmp_path, "x.safetensors")
    assert err.value.status == code
    assert f"HTTP {code}" in str(err.value) and "expired" in str(err.value)
    assert "sd35l-trainer download" in str(err.value)
    assert only_files(tmp_path) == []


async def test_other_client_error(served: Served, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="HTTP 400"):
        await download_weights(f"{served.base}/status/400", tmp_path, "x.safetensors")


async def test_not_a_tar(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = b"<html>" + b"x" * 2000
    with pytest.raises(ServiceError, match="not a readable tar"):
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert only_files(tmp_path) == []


async def test_truncated_member_data(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR[:100_000]  # server announces the short length itself
    with pytest.raises(ServiceError, match="ended early"):
        await download_weights(served.url("w.tar"), tmp_path, "x.safetensors")
    assert only_files(tmp_path) == []


async def test_bare_safetensors_is_saved_as_is(served: Served, tmp_path: Path) -> None:
    header = b'{"__metadata__":{}}    '
    bare = len(header).to_bytes(8, "little") + header + os.urandom(10_000)
    served.files["lora.safetensors"] = bare
    out = await download_weights(served.url("lora.safetensors"), tmp_path, "x.safetensors")
    assert sha(out.read_bytes()) == sha(bare)


async def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.artifacts.stream.MAX_CUTS", 1)
    with pytest.raises(ServiceError, match="interrupted"):
        await download_weights("http://127.0.0.1:9/w.tar", tmp_path, "x.safetensors")


async def test_authorization_is_sent_never_logged(
    served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.cut_after = 1000
    caplog.set_level(logging.DEBUG)
    await download_weights(
        served.url("w.tar"), tmp_path, "x.safetensors", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert served.auth == [f"Bearer {TOKEN}"] * 2
    assert TOKEN not in caplog.text


async def test_cancel_removes_the_temp_file(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR
    served.trickle = True
    started = asyncio.Event()
    task = asyncio.create_task(
        download_weights(
            served.url("w.tar"), tmp_path, "x.safetensors", on_progress=lambda d, t: started.set()
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert only_files(tmp_path) == []


async def test_progress_callback_errors_are_ignored(served: Served, tmp_path: Path) -> None:
    served.files["w.tar"] = TRAINER_TAR

    def boom(done: int, total: int | None) -> None:
        raise RuntimeError("display broke")

    out = await download_weights(served.url("w.tar"), tmp_path, "x.safetensors", on_progress=boom)
    assert sha(out.read_bytes()) == sha(LORA)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.safetensors", "..\\x", "/abs.safetensors"])
async def test_bad_output_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="plain file name"):
        await download_weights("http://127.0.0.1:9/w.tar", tmp_path, name)


async def test_output_is_a_folder_and_bad_url(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        await download_weights("http://127.0.0.1:9/w.tar", tmp_path, "x.safetensors", force=True)
    with pytest.raises(ServiceError, match="http"):
        await download_weights("file:///etc/passwd", tmp_path, "y.safetensors")


def test_writer_reports_disk_errors(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDONLY | os.O_CREAT)
    writer = artifacts._Writer(fd, tmp_path / "f")
    writer.put(memoryview(b"x" * artifacts.CHUNK))
    with pytest.raises(SD35LError, match="Could not write"):
        writer.close()


@pytest.mark.parametrize(
    ("destination", "trigger", "expected"),
    [
        ("alice/lora", "TOK", "alice_lora_TOK.safetensors"),
        ("alice/my-model:abc123", "zxq style", "alice_my-model_zxq_style.safetensors"),
        ("../../etc/passwd", "../x", "etc_passwd_x.safetensors"),
        ("a\\b/c", "é/ü", "a_b_c.safetensors"),
        ("", "", "lora.safetensors"),
        ("/", ".", "lora.safetensors"),
    ],
)
def test_weights_filename(destination: str, trigger: str, expected: str) -> None:
    name = weights_filename(destination, trigger)
    assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def test_weights_filename_is_always_plain() -> None:
    for dest, trig in [("x" * 500 + "/" + "y" * 500, "z" * 500), ("..", ".."), ("a/b", "\x00")]:
        name = weights_filename(dest, trig)
        assert Path(name).name == name and len(name) < 260 and name.endswith(".safetensors")


def test_downloaded_file_is_an_ordinary_readable_file(tmp_path: Path) -> None:
    from bot.core.artifacts.weights import _finish

    temp = tmp_path / ".x.part"
    temp.write_bytes(b"lora")
    os.chmod(temp, 0o600)
    target = tmp_path / "a_b_C.safetensors"
    _finish(temp, target, force=False)
    assert target.read_bytes() == b"lora"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert not temp.exists()
