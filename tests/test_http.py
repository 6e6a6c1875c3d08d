"""
The httpx client twupload builds: pool size, and the transport picked per event loop.
"""

from __future__ import annotations

import sys

import anyio
import httpx
import pytest

from twupload._http import AutoTransport, aiohttp_transport, new_http_client


pytestmark = [pytest.mark.anyio, pytest.mark.aiohttp_transport]

LIMITS = httpx.Limits(max_connections=3)
SSL = httpx.create_ssl_context()


async def test_aiohttp_transport_on_asyncio_only(anyio_backend: str) -> None:
    """
    With httpx-aiohttp installed, asyncio gets its transport; trio gets none.
    """
    transport = aiohttp_transport(LIMITS, SSL)
    if anyio_backend == "asyncio":
        assert type(transport).__name__ == "AiohttpTransport"
        assert transport is not None
        await transport.aclose()
    else:
        assert transport is None


async def test_without_the_extra_httpx_is_used(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Without httpx-aiohttp importable, the automatic transport falls back to httpx's own.
    """
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    assert aiohttp_transport(LIMITS, SSL) is None


async def test_auto_transport_closes_what_it_opened() -> None:
    """
    An unused AutoTransport closes cleanly; the client's pool fits the concurrency.
    """
    await AutoTransport(LIMITS).aclose()
    client = new_http_client(max_concurrency=8, timeout=5.0)
    assert isinstance(client._transport, AutoTransport)
    assert client._transport._limits.max_connections == 10
    await client.aclose()


async def test_concurrent_first_requests_share_one_transport() -> None:
    """
    Two requests racing to pick the transport end up on the same one.
    """
    transport = AutoTransport(LIMITS)
    chosen: list[httpx.AsyncBaseTransport] = []

    async def choose() -> None:
        chosen.append(await transport._choose())

    async with anyio.create_task_group() as group:
        group.start_soon(choose)
        group.start_soon(choose)
    assert chosen[0] is chosen[1]
    await transport.aclose()
