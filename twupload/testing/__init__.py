"""
Test support: a local emulator of the X media upload service (v1.1 and v2), and a pytest plugin.

``from twupload.testing import Emulator`` works without aiohttp installed;
`Emulator.start` needs it (``pip install 'twupload[emulator]'``). The pytest
plugin (`twupload.testing.plugin`) provides the ``twupload_emulator`` fixture.
"""

from __future__ import annotations

from ._emulator import Emulator
from ._records import (
    RATE_LIMIT_KEYS,
    EmulatorStats,
    MediaRecord,
    ProcessingMode,
    RequestRecord,
    SegmentRecord,
)
from ._tokens import IssuedToken


__all__ = [
    "RATE_LIMIT_KEYS",
    "Emulator",
    "EmulatorStats",
    "IssuedToken",
    "MediaRecord",
    "ProcessingMode",
    "RequestRecord",
    "SegmentRecord",
]
