"""
What uploaded bytes are: the media type, and an image's pixel size, from the first bytes.

The emulator measures media the way the service does, from the bytes, never
from what the client declared. It shares no code with the client's sniffer on
purpose: a bug there must not hide here. No imaging library is needed; only
headers are parsed.
"""

from __future__ import annotations

import struct

from dataclasses import dataclass


#: Bytes of a media's start kept for `detect` (an EXIF block may precede a JPEG's size).
HEAD_BYTES = 256 * 1024

_PNG = b"\x89PNG\r\n\x1a\n"
_GIF_IMAGE = 0x2C
_GIF_EXTENSION = 0x21
_GIF_TRAILER = 0x3B
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_JPEG_SOS = 0xDA
_MOV_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_VP8_START = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F


@dataclass(frozen=True, slots=True)
class Detected:
    """
    The media type found in a media's first bytes.

    Attributes:
        media_type: MIME type, such as ``"image/png"``.
        kind: ``"image"``, ``"gif"`` (an animated GIF) or ``"video"``.
        width: Pixels, for images whose header holds it.
        height: Pixels, for images whose header holds it.
    """

    media_type: str
    kind: str
    width: int | None = None
    height: int | None = None


def detect(head: bytes) -> Detected | None:  # noqa: PLR0911 - one return per format
    """
    Identify PNG, JPEG, GIF, WEBP, MP4 and MOV from *head*; None for anything else.
    """
    if head.startswith(_PNG):
        if len(head) >= 24 and head[12:16] == b"IHDR":  # noqa: PLR2004
            width, height = struct.unpack(">II", head[16:24])
            return Detected("image/png", "image", width, height)
        return Detected("image/png", "image")
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg(head)
    if head[:6] in {b"GIF87a", b"GIF89a"} and len(head) >= 10:  # noqa: PLR2004
        return _gif(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return Detected("video/quicktime" if brand == b"qt  " else "video/mp4", "video")
    if head[4:8] in _MOV_ATOMS:
        return Detected("video/quicktime", "video")
    return None


def _jpeg(head: bytes) -> Detected:
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:  # noqa: PLR2004
            break
        marker = head[pos + 1]
        if marker == 0xFF:  # noqa: PLR2004 - fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == _JPEG_SOS:
            break
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(head):
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return Detected("image/jpeg", "image", width, height)
        pos += 2 + length
    return Detected("image/jpeg", "image")


def _gif(head: bytes) -> Detected:
    width, height = struct.unpack("<HH", head[6:10])
    kind = "gif" if _gif_frames(head) > 1 else "image"
    return Detected("image/gif", kind, width, height)


def _gif_frames(head: bytes) -> int:
    """
    Count image descriptors, stopping at the second, the trailer or the end of *head*.

    A looping extension (written before the first frame by every animator)
    counts as animated even when the second frame lies beyond *head*.
    """
    if b"NETSCAPE2.0" in head or b"ANIMEXTS1.0" in head:
        return 2
    pos = 13
    if len(head) > 10 and head[10] & 0x80:  # noqa: PLR2004
        pos += 3 * (2 << (head[10] & 0x07))
    frames = 0
    while pos < len(head) and frames < 2:  # noqa: PLR2004
        block = head[pos]
        if block == _GIF_IMAGE:
            frames += 1
            if pos + 9 >= len(head):
                break
            flags = head[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 * (2 << (flags & 0x07))
            pos += 1
        elif block == _GIF_EXTENSION:
            pos += 2
        else:
            break
        while pos < len(head) and head[pos]:
            pos += head[pos] + 1
        pos += 1
    return frames


def _webp(head: bytes) -> Detected:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == _VP8_START and len(head) >= 30:  # noqa: PLR2004
        width, height = struct.unpack("<HH", head[26:30])
        return Detected("image/webp", "image", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == _VP8L_SIGNATURE:  # noqa: PLR2004
        (bits,) = struct.unpack("<I", head[21:25])
        return Detected(
            "image/webp", "image", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        )
    if chunk == b"VP8X" and len(head) >= 30:  # noqa: PLR2004
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return Detected("image/webp", "image", width, height)
    return Detected("image/webp", "image")
