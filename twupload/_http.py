"""
The httpx client twupload creates for itself: a pool sized to the work, on the fastest transport.

httpx's own transport (httpcore over anyio) costs about 1.3 ms of CPU per small
upload here; the ``httpx-aiohttp`` transport serves the same httpx API from
aiohttp's C-accelerated HTTP stack at about 0.6 ms (``docs/benchmarks.md``).
It runs on asyncio only, so it is picked per event loop, on first use, and
only when installed (``pip install 'twupload[fast]'``); trio, and asyncio
without the extra, use httpx's own transport.
"""

from __future__ import annotations

import functools

from typing import TYPE_CHECKING

import anyio
import httpx
import sniffio


if TYPE_CHECKING:
    import ssl


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """
    httpx's default TLS context, built once per process and shared by every client.

    Loading the CA bundle takes about 20 ms, so it is done once, in a worker
    thread (see `AutoTransport`), not by every client on the event loop.
    """
    return httpx.create_ssl_context()


def aiohttp_transport(
    limits: httpx.Limits, ssl_context: ssl.SSLContext
) -> httpx.AsyncBaseTransport | None:
    """
    The ``httpx-aiohttp`` transport, if it is installed and the loop is asyncio.
    """
    if sniffio.current_async_library() != "asyncio":
        return None
    try:
        from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - optional extra
    except ImportError:
        return None
    return AiohttpTransport(limits=limits, verify=ssl_context)


class AutoTransport(httpx.AsyncBaseTransport):
    """
    Delegates to the aiohttp transport on asyncio when available, else to httpx's own.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = self._inner or await self._choose()
        return await inner.handle_async_request(request)

    async def _choose(self) -> httpx.AsyncBaseTransport:
        ssl_context = await anyio.to_thread.run_sync(default_ssl_context)
        if self._inner is None:  # another request may have chosen meanwhile
            self._inner = aiohttp_transport(
                self._limits, ssl_context
            ) or httpx.AsyncHTTPTransport(limits=self._limits, verify=ssl_context)
        return self._inner

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def new_http_client(
    *, max_concurrency: int, timeout: float | httpx.Timeout
) -> httpx.AsyncClient:
    """
    An httpx client whose pool fits every upload the concurrency limiter lets through.

    A smaller pool would make queued uploads die of PoolTimeout while they wait.
    """
    limits = httpx.Limits(
        max_connections=max_concurrency + 2,
        max_keepalive_connections=max_concurrency + 2,
    )
    return httpx.AsyncClient(timeout=timeout, transport=AutoTransport(limits))
