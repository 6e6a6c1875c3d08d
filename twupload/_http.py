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
def verified_ssl_context() -> ssl.SSLContext:
    """
    httpx's default TLS context, built once per process and shared by every client.

    Loading the CA bundle takes 20-100 ms of CPU, so it is done once, in a
    worker thread (see `AutoTransport`), and only when an ``https://`` request
    needs it: a process that talks to the emulator never pays for it.
    """
    return httpx.create_ssl_context()


@functools.cache
def plain_ssl_context() -> ssl.SSLContext:
    """
    A context that loads no certificates, for the pool that serves only ``http://``.

    Both transports want a context when they are built; this one costs well
    under a millisecond and is never used for TLS, since `AutoTransport` sends
    every ``https://`` request through a pool built with `verified_ssl_context`.
    """
    return httpx.create_ssl_context(verify=False)


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

    One pool per URL scheme, each built on its first request: ``https://``
    with certificate checks, ``http://`` (the emulator, a local proxy) without
    the cost of loading a CA bundle it would never use.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        # Keyed by whether the request is https.
        self._pools: dict[bool, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        secure = request.url.scheme != "http"
        inner = self._pools.get(secure) or await self._choose(secure=secure)
        return await inner.handle_async_request(request)

    async def _choose(self, *, secure: bool) -> httpx.AsyncBaseTransport:
        if secure:
            ssl_context = await anyio.to_thread.run_sync(verified_ssl_context)
        else:
            ssl_context = plain_ssl_context()
        inner = self._pools.get(secure)
        if inner is None:  # another request may have chosen meanwhile
            inner = aiohttp_transport(
                self._limits, ssl_context
            ) or httpx.AsyncHTTPTransport(limits=self._limits, verify=ssl_context)
            self._pools[secure] = inner
        return inner

    async def aclose(self) -> None:
        for inner in self._pools.values():
            await inner.aclose()


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
