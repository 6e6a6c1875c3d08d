"""
The pytest plugin (entry point ``twupload``): a fixture that runs the upload emulator.

pytest loads this module in every run of every project that has twupload
installed, so it imports nothing heavy: the emulator (and aiohttp) are
imported only when a test asks for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._emulator import Emulator


@pytest.fixture
def twupload_emulator() -> Iterator[Emulator]:
    """
    A started `Emulator` with random credentials, stopped after the test.

    Point a client at it with
    ``AsyncMediaClient(twupload_emulator.credentials, base_url=twupload_emulator.url)``.
    It is a plain (sync) fixture, so tests on pytest-asyncio, on anyio's
    plugin (asyncio or trio) and sync tests can all use it.
    """
    from ._emulator import Emulator  # noqa: PLC0415

    with Emulator() as emulator:
        yield emulator
