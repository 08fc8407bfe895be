"""PNG in pure Python, for the few images earmark's tools look at: Chromium's screenshots.

`png_pixels` reads an 8-bit RGB(A) PNG into rows (the report test counts a screenshot's
colours); `palette_png` writes rows back with at most 256 colours, which makes a screenshot of
text about half the size of Chromium's own (docs/img/report.png is one).
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter

#: The eight bytes every PNG starts with.
SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Most colours of a palette PNG.
PALETTE = 256


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    width, height, depth, kind = struct.unpack(">IIBB", png[16:26])
    if depth != 8 or kind not in (2, 6):
        raise ValueError(f"unexpected PNG: depth {depth}, colour type {kind}")
    chunks, at = [], 8
    while at < len(png):
        (size,), name = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        if name == b"IDAT":
            chunks.append(png[at + 8 : at + 8 + size])
        at += size + 12
    raw, step = zlib.decompress(b"".join(chunks)), 3 if kind == 2 else 4
    rows, previous, stride = [], bytes(width * step), width * step
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        previous = _unfilter(line[0], bytearray(line[1:]), previous, step)
        rows.append(previous)
    return width, height, rows


def _unfilter(kind: int, row: bytearray, up: bytes, step: int) -> bytes:
    if kind == 0:
        return bytes(row)
    for i in range(len(row)):
        left = row[i - step] if i >= step else 0
        corner = up[i - step] if i >= step else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up[i]) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up[i]) // 2) & 0xFF
        elif kind == 4:
            p = left + up[i] - corner
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
            near = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
            row[i] = (row[i] + near) & 0xFF
    return bytes(row)


def palette_png(png: bytes) -> bytes:
    """`png` with its 256 most common colours, every other one drawn as the nearest of them
    (alpha dropped: a screenshot is opaque)."""
    width, height, rows = png_pixels(png)
    step = len(rows[0]) // width if rows else 3
    pixels = [[row[i : i + 3] for i in range(0, len(row), step)] for row in rows]
    counts = Counter(pixel for row in pixels for pixel in row)
    palette = [colour for colour, _ in counts.most_common(PALETTE)]
    index = {colour: i for i, colour in enumerate(palette)}
    for colour in counts:
        if colour not in index:
            index[colour] = min(range(len(palette)), key=lambda i: _distance(colour, palette[i]))
    raw = b"".join(b"\0" + bytes(index[pixel] for pixel in row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", b"".join(palette))
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _distance(a: bytes, b: bytes) -> int:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


def _chunk(name: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(name + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", crc)
