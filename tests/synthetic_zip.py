"""A large ZIP laid out once and produced by byte range on request, never held whole.

Why: the dataset check's behaviour on a ZIP of thousands of members over hundreds of MB (its
directory, its sample, its memory) is what matters in production, and writing such files takes
seconds and gigabytes. Every image member is the same bytes and every caption the same text, so
the ZIP is a list of offsets; `read(start, end)` (or slicing) builds any range of it. The tests
serve it from the corpus server (it slices like bytes), the burst benchmark from its WAN host.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from dataclasses import dataclass

CAPTION = b"a photo of ZXQTOK, natural light, detailed"


@dataclass
class _Member:
    name: bytes
    data: bytes
    crc: int
    offset: int  # of its local header

    @property
    def header(self) -> bytes:
        return (
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                0,
                0,
                0,
                0,
                self.crc,
                len(self.data),
                len(self.data),
                len(self.name),
                0,
            )
            + self.name
        )

    @property
    def end(self) -> int:
        return self.offset + 30 + len(self.name) + len(self.data)


class SyntheticZip:
    """A stored (uncompressed) ZIP of `images` copies of one image, each with a caption."""

    def __init__(self, images: int, image: bytes, suffix: str = "jpg") -> None:
        self.members: list[_Member] = []
        offset = 0
        image_crc, caption_crc = zlib.crc32(image), zlib.crc32(CAPTION)
        for i in range(images):
            for name, data, crc in (
                (f"img_{i:05d}.{suffix}".encode(), image, image_crc),
                (f"img_{i:05d}.txt".encode(), CAPTION, caption_crc),
            ):
                member = _Member(name, data, crc, offset)
                self.members.append(member)
                offset = member.end
        self.starts = [m.offset for m in self.members]
        directory = b"".join(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0,
                m.crc,
                len(m.data),
                len(m.data),
                len(m.name),
                0,
                0,
                0,
                0,
                0,
                m.offset,
            )
            + m.name
            for m in self.members
        )
        end = struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            len(self.members),
            len(self.members),
            len(directory),
            offset,
            0,
        )
        self.tail = directory + end
        self.tail_start = offset
        self.size = offset + len(self.tail)

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end)."""
        parts: list[bytes] = []
        pos = start
        while pos < end:
            if pos >= self.tail_start:
                parts.append(self.tail[pos - self.tail_start : end - self.tail_start])
                break
            member = self.members[bisect.bisect_right(self.starts, pos) - 1]
            whole = member.header + member.data
            cut = whole[pos - member.offset : min(end, member.end) - member.offset]
            parts.append(cut)
            pos += len(cut)
        return b"".join(parts)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, cut: slice) -> bytes:
        start, stop, _ = cut.indices(self.size)
        return self.read(start, stop)
