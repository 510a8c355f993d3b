"""Tiny PNG charts for email, in pure Python (zlib + struct): mail clients such as Gmail
and Outlook do not render SVG, and this avoids a Pillow dependency for two shapes.

No text is drawn: the email puts the numbers in a table under each image, and its alt
text says what the image shows.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Colour = tuple[int, int, int]
BACKGROUND: Colour = (255, 255, 255)
GRID: Colour = (226, 229, 235)
PALETTE: tuple[Colour, ...] = ((40, 87, 214), (198, 40, 40), (31, 138, 76), (178, 106, 0))


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(BACKGROUND * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def line(self, a: tuple[float, float], b: tuple[float, float], colour: Colour) -> None:
        """A 2-pixel line: enough steps that consecutive dots touch."""
        steps = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
        for i in range(steps + 1):
            x = round(a[0] + (b[0] - a[0]) * i / steps)
            y = round(a[1] + (b[1] - a[1]) * i / steps)
            self.rect(x - 1, y - 1, x + 1, y + 1, colour)

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _plot(width: int, height: int, pad: int = 8) -> Canvas:
    canvas = Canvas(width, height)
    for i in range(5):
        y = pad + (height - 2 * pad) * i // 4
        canvas.rect(pad, y, width - pad, y + 1, GRID)
    return canvas


def line_png(
    values: Sequence[float | None], top: float = 100, size: tuple[int, int] = (560, 180)
) -> bytes:
    width, height = size
    pad = 8
    canvas = _plot(width, height, pad)
    n = len(values)

    def point(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        return x, height - pad - (height - 2 * pad) * min(v, top) / top

    previous: tuple[float, float] | None = None
    for i, value in enumerate(values):
        if value is None:
            previous = None  # a gap in the data is a gap in the line
            continue
        here = point(i, value)
        canvas.line(previous or here, here, PALETTE[0])
        previous = here
    return canvas.png()


def bar_png(
    values: Sequence[float], colours: Sequence[Colour] = PALETTE, size: tuple[int, int] = (560, 180)
) -> bytes:
    width, height = size
    pad = 8
    canvas = _plot(width, height, pad)
    top = max(values, default=0) or 1
    slot = (width - 2 * pad) / max(len(values), 1)
    for i, value in enumerate(values):
        x0 = round(pad + slot * i + slot * 0.15)
        x1 = round(pad + slot * (i + 1) - slot * 0.15)
        y0 = round(height - pad - (height - 2 * pad) * value / top)
        canvas.rect(x0, y0, x1, height - pad, colours[i % len(colours)])
    return canvas.png()
