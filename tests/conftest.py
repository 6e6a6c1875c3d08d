"""
Shared fixtures: backends, credentials, and small valid media files built in memory.
"""

from __future__ import annotations

import pytest

from twupload import OAuth1Credentials


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
