"""
Shared fixtures: backends, credentials, and small valid media files built in memory.
"""

from __future__ import annotations

import time

from typing import TYPE_CHECKING, Any

import pytest
import respx

import twupload._source

from twupload import OAuth1Credentials
from twupload.testing import Emulator

from fakes import FakeTime


if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """
    Run every anyio test on both backends.
    """
    return str(request.param)


@pytest.fixture
def creds() -> OAuth1Credentials:
    """
    Throwaway OAuth 1.0a credentials.
    """
    return OAuth1Credentials(
        consumer_key="ck-test",
        consumer_secret="cs-SECRET-1",
        access_token="1234-at-SECRET-2",
        access_token_secret="ats-SECRET-3",
    )


@pytest.fixture(autouse=True)
def _no_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    A TWUPLOAD_BASE_URL in the developer's shell must not redirect the tests' clients.
    """
    monkeypatch.delenv("TWUPLOAD_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def _httpx_transport_unless_asked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Keep twupload on httpx's own transport, which respx mocks, unless a test asks for aiohttp's.

    With ``httpx-aiohttp`` installed, twupload would pick it on asyncio, and a
    respx-mocked request would then really go out.
    """
    if request.node.get_closest_marker("aiohttp_transport") is None:
        monkeypatch.setattr("twupload._http.aiohttp_transport", lambda *_: None)


@pytest.fixture
def fake() -> FakeTime:
    """
    A fake clock near the real time (the emulator checks OAuth timestamps against it).
    """
    return FakeTime(time.time())


@pytest.fixture
def emu(fake: FakeTime) -> Iterator[Emulator]:
    """
    An emulator on *fake*'s clock, to share with a client built with the same clock.
    """
    with Emulator(clock=fake.clock) as emulator:
        yield emulator


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """
    Every file twupload opens, to check they are all closed.
    """
    files: list[Any] = []

    def spy(path: str, mode: str) -> Any:
        file = open(path, mode)  # noqa: PTH123, SIM115 - the test checks it is closed
        files.append(file)
        return file

    monkeypatch.setattr(twupload._source, "open", spy, raising=False)
    return files


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """
    A respx router for every httpx request of the test; unused routes are allowed.
    """
    with respx.mock(assert_all_called=False) as router:
        yield router
