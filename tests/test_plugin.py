"""
The pytest plugin's ``twupload_emulator`` fixture, under each async test runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from twupload import AsyncMediaClient


if TYPE_CHECKING:
    from twupload.testing import Emulator


GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x01\x00\x00\x3b"


async def upload_one(emulator: Emulator) -> int:
    async with AsyncMediaClient(emulator.credentials, base_url=emulator.url) as client:
        result = await client.upload(GIF)
    return result.media_id


@pytest.mark.asyncio
async def test_fixture_under_pytest_asyncio(twupload_emulator: Emulator) -> None:
    """
    A pytest-asyncio (strict mode) test gets a running emulator that accepts the client.
    """
    media_id = await upload_one(twupload_emulator)
    assert twupload_emulator.get_media(media_id).data == GIF


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_fixture_under_anyio(
    twupload_emulator: Emulator, anyio_backend: str
) -> None:
    """
    An anyio-plugin test, on asyncio and on trio, gets a running emulator too.
    """
    media_id = await upload_one(twupload_emulator)
    assert twupload_emulator.get_media(media_id).size == len(GIF)


def test_fixture_is_fresh_per_test(twupload_emulator: Emulator) -> None:
    """
    Each test gets its own emulator: no media, no requests, random credentials.
    """
    assert twupload_emulator.media == {}
    assert twupload_emulator.requests == ()
    assert twupload_emulator.url.startswith("http://127.0.0.1:")
