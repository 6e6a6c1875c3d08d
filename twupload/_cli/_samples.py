"""
Sample images for ``twupload demo``, encoded with the standard library only.
"""

from __future__ import annotations

import random
import struct
import zlib

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """
    Encode an 8-bit RGB PNG from *rows* of ``3 * width`` bytes each.
    """
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def _gradient(width: int, height: int) -> Iterable[bytes]:
    for y in range(height):
        green = 255 * y // (height - 1)
        yield bytes(
            channel
            for x in range(width)
            for channel in (255 * x // (width - 1), green, 255 - green // 2)
        )


def _checkerboard(width: int, height: int) -> Iterable[bytes]:
    light, dark = b"\xf4\xe9\xd8", b"\x2b\x3a\x55"
    for y in range(height):
        yield b"".join(light if (x // 32 + y // 32) % 2 else dark for x in range(width))


def _stripes(width: int, height: int) -> Iterable[bytes]:
    colours = (b"\xe6\x39\x46", b"\xf1\xfa\xee", b"\xa8\xda\xdc", b"\x45\x7b\x9d")
    row = b"".join(colours[x // 40 % len(colours)] for x in range(width))
    for _ in range(height):
        yield row


def _noise(width: int, height: int, seed: int) -> Iterable[bytes]:
    # Seeded, so every run writes the same bytes; noise does not compress,
    # which makes a file big enough for its progress bar to move.
    generator = random.Random(seed)  # noqa: S311 - pixels, not secrets
    for _ in range(height):
        yield generator.randbytes(3 * width)


# The standard luminance DC table of the JPEG spec (ITU T.81, K.3): code
# lengths, then the categories in code order.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))


def _huffman_codes(bits: Iterable[int], values: Iterable[int]) -> dict[int, str]:
    codes: dict[int, str] = {}
    symbols = iter(values)
    code = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[next(symbols)] = format(code, f"0{length}b")
            code += 1
        code <<= 1
    return codes


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_tiles(levels: list[list[int]]) -> bytes:
    """
    Encode a baseline greyscale JPEG made of flat 8x8 tiles of the grey *levels*.

    A flat tile has only a DC coefficient, so no DCT is needed: each tile is
    its DC difference followed by end-of-block, with a quantization table of ones.
    """
    rows, columns = len(levels), len(levels[0])
    dc_codes = _huffman_codes(_DC_BITS, _DC_VALUES)
    bits: list[str] = []
    previous = 0
    for row in levels:
        for level in row:
            dc = 8 * (level - 128)
            diff, previous = dc - previous, dc
            category = abs(diff).bit_length()
            bits.append(dc_codes[category])
            if category:
                magnitude = diff if diff > 0 else diff + (1 << category) - 1
                bits.append(format(magnitude, f"0{category}b"))
            bits.append("0")  # end of block: the only code of the AC table
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    entropy = bytearray()
    for start in range(0, len(stream), 8):
        byte = int(stream[start : start + 8], 2)
        entropy.append(byte)
        if byte == 0xFF:  # noqa: PLR2004 - a data 0xFF is stuffed with 0x00
            entropy.append(0)
    return b"".join(
        (
            b"\xff\xd8",
            _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _jpeg_segment(0xDB, b"\x00" + bytes([1] * 64)),
            _jpeg_segment(
                0xC0,
                struct.pack(">BHHB", 8, rows * 8, columns * 8, 1) + b"\x01\x11\x00",
            ),
            _jpeg_segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES)),
            _jpeg_segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"),
            _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bytes(entropy),
            b"\xff\xd9",
        )
    )


def _mosaic() -> bytes:
    return jpeg_tiles([[(x * 23 + y * 37) % 256 for x in range(16)] for y in range(12)])


# The demo's images: a file name and its encoder each, a few kB to about 1 MB.
SAMPLES: tuple[tuple[str, Callable[[], bytes]], ...] = (
    ("01-gradient.png", lambda: png(320, 200, _gradient(320, 200))),
    ("02-checkerboard.png", lambda: png(256, 256, _checkerboard(256, 256))),
    ("03-stripes.png", lambda: png(480, 120, _stripes(480, 120))),
    ("04-mosaic.jpg", _mosaic),
    ("05-noise.png", lambda: png(400, 300, _noise(400, 300, seed=5))),
    ("06-big-noise.png", lambda: png(640, 480, _noise(640, 480, seed=6))),
)


def write_samples(directory: Path) -> list[Path]:
    """
    Write the `SAMPLES` into *directory* and return their paths, in order.
    """
    paths = []
    for name, encode in SAMPLES:
        path = directory / name
        path.write_bytes(encode())
        paths.append(path)
    return paths
