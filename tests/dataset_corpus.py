"""Builds the dataset-check corpus in code (tiny images, ZIPs) and serves it on loopback.

No binary fixtures: every image and ZIP is generated here, so a reader sees exactly what each
case contains. `CorpusServer` serves files with and without Range support, plus the hostile
answers a user's link can give (HTML share page, HEAD refused, redirect chains, metadata URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image

# ------------------------------------------------------------------ images


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def png_bytes(
    width: int = 512, height: int = 512, *, alpha: bool = False, trns: bool = False
) -> bytes:
    """A real PNG (Pillow decodes it whole, as the trainer does)."""
    if alpha:
        return _encode(Image.new("RGBA", (width, height), (200, 40, 40, 128)), "PNG")
    image = Image.new("RGB", (width, height), (200, 40, 40))
    return _encode(image, "PNG", transparency=(0, 0, 0)) if trns else _encode(image, "PNG")


def jpeg_bytes(
    width: int = 512,
    height: int = 512,
    *,
    exif: int = 0,
    progressive: bool = False,
    orientation: int = 0,
) -> bytes:
    """A real JPEG; `exif` inserts an APP1 block of that many bytes before the frame header,
    `orientation` writes an EXIF rotation tag (6 = stored sideways)."""
    options: dict[str, object] = {"progressive": progressive, "quality": 70}
    if orientation:
        tags = Image.Exif()
        tags[0x0112] = orientation
        options["exif"] = tags.tobytes()
    data = _encode(Image.new("RGB", (width, height), (40, 90, 200)), "JPEG", **options)
    if exif:
        pad = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\x00" * exif
        data = data[:2] + pad + data[2:]
    return data


def webp_bytes(
    width: int = 512, height: int = 512, *, kind: str = "", alpha: bool = False
) -> bytes:
    """A real WebP (lossless when `kind` is "VP8L")."""
    mode = "RGBA" if alpha else "RGB"
    return _encode(
        Image.new(mode, (width, height), (10, 160, 90, 255)), "WEBP", lossless=kind == "VP8L"
    )


def image_bytes(fmt: str, width: int = 512, height: int = 512) -> bytes:
    """Any format Pillow writes (PPM, ICO, TGA, PCX, JPEG 2000 when available, BMP, GIF...)."""
    mode = "RGB" if fmt not in ("GIF",) else "P"
    return _encode(Image.new(mode, (width, height)), fmt)


def heic_bytes() -> bytes:
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def gif_bytes(width: int = 300, height: int = 300) -> bytes:
    return image_bytes("GIF", width, height)


def bmp_bytes(width: int = 300, height: int = 300) -> bytes:
    return image_bytes("BMP", width, height)


# ------------------------------------------------------------------ ZIPs

Member = tuple[str, bytes]


def make_zip(
    members: Iterable[Member],
    *,
    method: int = zipfile.ZIP_DEFLATED,
    force_zip64: bool = False,
    symlinks: Iterable[str] = (),
) -> bytes:
    buf = io.BytesIO()
    links = set(symlinks)
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            if name in links:
                info.create_system = 3
                info.external_attr = 0o120777 << 16
            if force_zip64:
                with archive.open(info, "w", force_zip64=True) as handle:
                    handle.write(data)
            else:
                archive.writestr(info, data)
    return buf.getvalue()


def patch_central(
    data: bytes,
    name: str,
    *,
    flag: int | None = None,
    method: int | None = None,
    file_size: int | None = None,
    compress_size: int | None = None,
) -> bytes:
    """Rewrite one central-directory record (encrypted flag, method, size) to fake damage."""
    out = bytearray(data)
    for match in re.finditer(rb"PK\x01\x02", bytes(out)):
        pos = match.start()
        name_len = struct.unpack("<H", out[pos + 28 : pos + 30])[0]
        if out[pos + 46 : pos + 46 + name_len] != name.encode():
            continue
        if flag is not None:
            out[pos + 8 : pos + 10] = struct.pack("<H", flag)
        if method is not None:
            out[pos + 10 : pos + 12] = struct.pack("<H", method)
        if compress_size is not None:
            out[pos + 20 : pos + 24] = struct.pack("<I", compress_size)
        if file_size is not None:
            out[pos + 24 : pos + 28] = struct.pack("<I", file_size)
    return bytes(out)


def dataset(
    n: int = 12, *, captions: bool = True, trigger: str = "TOK", folder: str = ""
) -> list[Member]:
    """A healthy dataset: n images in rotating formats, each with a UTF-8 caption."""
    makers = (jpeg_bytes, png_bytes, webp_bytes)
    exts = (".jpg", ".png", ".webp")
    members: list[Member] = []
    for i in range(n):
        members.append((f"{folder}img{i:03d}{exts[i % 3]}", makers[i % 3](640 + i, 512)))
        if captions:
            members.append(
                (f"{folder}img{i:03d}.txt", f"a photo of {trigger}, number {i}".encode())
            )
    return members


# ------------------------------------------------------------------ server


@dataclass
class Hit:
    method: str
    path: str
    range: str | None
    host: str | None


@dataclass
class CorpusServer:
    """Loopback server. Paths: /range/NAME, /norange/NAME, /nohead/NAME, /html, /status/N,
    /redirect/N/NAME (N hops, then /range/NAME), /to?url=..., /slow, /short/NAME (lies about
    Content-Length)."""

    files: dict[str, bytes] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    base: str = ""
    port: int = 0
    served: int = 0
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{self.port}"
        return self.base

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits.append(
            Hit(request.method, path, request.headers.get("Range"), request.headers.get("Host"))
        )
        parts = path.strip("/").split("/", 2)
        kind = parts[0]
        if kind == "html":
            return web.Response(
                text="<!DOCTYPE html><html><body>Share page</body></html>", content_type="text/html"
            )
        if kind == "status":
            return web.Response(status=int(parts[1]))
        if kind == "to":
            raise web.HTTPFound(request.query["url"])
        if kind == "redirect":
            hops, name = int(parts[1]), parts[2]
            raise web.HTTPFound(f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/range/{name}")
        if kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 5)
            return web.Response(text="late")
        name = parts[-1] if len(parts) > 1 else ""
        if name not in self.files:
            return web.Response(status=404)
        data = self.files[name]
        if kind == "nohead" and request.method == "HEAD":
            return web.Response(status=405)
        ranges = kind in ("range", "nohead")
        if kind == "short":
            resp = web.StreamResponse(headers={"Content-Length": str(len(data) + 1000)})
            await resp.prepare(request)
            await resp.write(data)
            return resp
        return self._serve(request, data, ranges)

    def _serve(self, request: web.Request, data: bytes, ranges: bool) -> web.Response:
        headers = {"Content-Type": "application/zip"}
        if ranges:
            headers["Accept-Ranges"] = "bytes"
        header = request.headers.get("Range")
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(data))})
        if ranges and header:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", header)
            assert match
            start_s, end_s = match.groups()
            if start_s == "":
                start, end = max(len(data) - int(end_s), 0), len(data) - 1
            else:
                start = int(start_s)
                end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            body = data[start : end + 1]
            self.served += len(body)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return web.Response(status=206, body=body, headers=headers)
        self.served += len(data)
        return web.Response(body=data, headers=headers)
