"""
Type aliases shared by the public signatures.
"""

from __future__ import annotations

import os

from collections.abc import AsyncIterable, Callable
from typing import IO


MediaSource = (
    str
    | os.PathLike[str]
    | bytes
    | bytearray
    | memoryview
    | IO[bytes]
    | AsyncIterable[bytes]
)
"""What `AsyncMediaClient.upload` accepts: a path, bytes-like data, a binary file, or an
async iterable of bytes (with ``size=``)."""

ProgressCallback = Callable[[int, int], object]
"""``on_progress(sent_bytes, total_bytes)``."""
