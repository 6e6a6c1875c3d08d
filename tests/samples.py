"""
Small valid media files built in memory, and the fake secrets tests look for.
"""

from __future__ import annotations

import struct
import zlib

from typing import Any

from twupload._media import UploadPlan, plan_upload


SECRETS = ("cs-SECRET-1", "at-SECRET-2", "ats-SECRET-3")


def png(width: int = 2, height: int = 2, *, pad: int = 0) -> bytes:
    """
    A valid RGB PNG, optionally padded with an ancillary chunk to reach a size.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if pad:
        body += chunk(b"tEXt", b"c\x00" + b"x" * pad)
    return (
        b"\x89PNG\r\n\x1a\n"
        + body
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(size: int = 200) -> bytes:
    """
    Bytes that start like a JPEG (SOI + APP0), padded to *size*.
    """
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + b"\x00" * max(0, size - len(head) - 2) + b"\xff\xd9"


def gif(frames: int = 1, *, loop: bool = False) -> bytes:
    """
    A minimal GIF89a with *frames* 1x1 frames, optionally with a looping extension.
    """
    out = (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"
    )
    if loop:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control extension
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + b"\x3b"


def webp(size: int = 64) -> bytes:
    """
    Bytes that start like a WEBP (RIFF....WEBPVP8 ).
    """
    return b"RIFF" + struct.pack("<I", size - 8) + b"WEBPVP8 " + b"\x00" * (size - 16)


def mp4(size: int = 4096, *, brand: bytes = b"isom") -> bytes:
    """
    Bytes that start with an ISO base media ``ftyp`` box, padded to *size*.
    """
    head = (
        struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"mp41"
    )
    filler = bytes(range(256)) * ((size - len(head)) // 256 + 1)
    return head + filler[: size - len(head)]


def plan_of(data: bytes, **options: Any) -> UploadPlan:
    """
    The plan for *data* on v1.1 with nothing declared; *options* override any argument.
    """
    values: dict[str, Any] = {
        "api": "1.1",
        "head": data,
        "total_bytes": len(data),
        "media_type": None,
        "media_category": None,
        "chunked": None,
        "encoding": "binary",
        "has_alt_text": False,
    }
    values.update(options)
    return plan_upload(**values)
