"""
Test support: a local emulator of the v1.1 media upload service, and a pytest plugin.

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


__all__ = [
    "RATE_LIMIT_KEYS",
    "Emulator",
    "EmulatorStats",
    "MediaRecord",
    "ProcessingMode",
    "RequestRecord",
    "SegmentRecord",
]
