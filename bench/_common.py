"""
What every part of the bench shares: fake credentials, URLs and generated media files.
"""

from __future__ import annotations

import os
import random

from dataclasses import dataclass
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pathlib import Path


KIB = 1024
MIB = 1024 * KIB

UPLOAD_PATH = "/1.1/media/upload.json"
STATS_PATH = "/_bench/stats"
RESET_PATH = "/_bench/reset"

# Magic bytes that twupload's sniffer, imghdr (tweepy) and mimetypes all accept.
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_TAIL = b"\xff\xd9"
PNG_HEAD = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x03\x00\x08\x02"
)
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"

_POOL_BYTES = 16 * MIB
_WRITE_BLOCK = 4 * MIB


@dataclass(frozen=True, slots=True)
class Creds:
    """
    OAuth 1.0a keys; fake, but the sink verifies every signature made with them.
    """

    consumer_key: str = "bench-consumer-key"
    consumer_secret: str = "bench-consumer-secret"
    access_token: str = "1234567890-bench-access-token"
    access_token_secret: str = "bench-access-token-secret"


CREDS = Creds()


@dataclass(frozen=True, slots=True)
class Target:
    """
    Where the sink listens.
    """

    host: str
    port: int
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def upload_url(self) -> str:
        return f"{self.base_url}{UPLOAD_PATH}"


class MediaFactory:
    """
    Writes test files: real magic bytes first, pseudo-random bytes after.

    Only the first bytes matter to the clients (twupload sniffs magic bytes,
    tweepy uses imghdr and the file name); random bytes keep any layer from
    compressing the bodies.
    """

    def __init__(self, directory: Path, *, seed: int = 2026) -> None:
        self._dir = directory
        self._pool = random.Random(seed).randbytes(_POOL_BYTES)
        self._count = 0

    def _write(self, name: str, head: bytes, size: int, tail: bytes = b"") -> Path:
        path = self._dir / name
        body = size - len(head) - len(tail)
        offset = (self._count * 7919) % (_POOL_BYTES // 2)
        self._count += 1
        with path.open("wb") as file:
            file.write(head)
            left = body
            for _ in range(size // _WRITE_BLOCK + 2):
                if left <= 0:
                    break
                piece = min(left, _WRITE_BLOCK, _POOL_BYTES - offset)
                file.write(self._pool[offset : offset + piece])
                left -= piece
                offset = (offset + piece) % (_POOL_BYTES // 2)
            file.write(tail)
        if os.path.getsize(path) != size:  # noqa: PTH202 - one stat, no Path object
            raise RuntimeError(f"wrote the wrong size for {path}")
        return path

    def jpegs(self, prefix: str, count: int, size: int) -> list[Path]:
        return [
            self._write(f"{prefix}-{i:05d}.jpg", JPEG_HEAD, size, JPEG_TAIL)
            for i in range(count)
        ]

    def png(self, name: str, size: int) -> Path:
        return self._write(name, PNG_HEAD, size)

    def mp4(self, name: str, size: int) -> Path:
        return self._write(name, MP4_HEAD, size)
