"""
The httpx client twupload creates for itself: a pool sized to the work, on the fastest transport.

httpx's own transport (httpcore over anyio) costs about twice the CPU per
small upload of the ``httpx-aiohttp`` transport, which serves the same httpx
API from aiohttp's C-accelerated HTTP stack (``docs/benchmarks.md``).
It runs on asyncio only, so it is picked per event loop, on first use, and
only when installed (``pip install 'twupload[fast]'``); trio, and asyncio
without the extra, use httpx's own transport.

Requests to this client skip ``httpx.AsyncClient.send`` (`OwnClient.send_signed`):
its cookie jar, redirect and auth-flow layers cost about a tenth of the CPU of a
small upload and do nothing for an API signed per request that never redirects.
"""

from __future__ import annotations

import datetime as dt
import functools
import select
import time

from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpx
import sniffio


if TYPE_CHECKING:
    import socket
    import ssl

    from collections.abc import Iterable

# Windows has no poll(); select() works there for sockets.
_HAS_POLL = hasattr(select, "poll")


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


def _readable(sock: socket.socket | None) -> bool:
    """
    Whether reading would not block: data waiting, or the peer closed the connection.

    A socket that is gone counts as readable, so the pool drops its connection.
    """
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if _HAS_POLL:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


_UNKNOWN: Any = object()


class _KeptSocketStream(httpcore.AsyncNetworkStream):
    """
    httpcore's anyio stream, answering "is this idle connection readable?" cheaply.

    Before each request httpcore asks every idle connection in its pool whether
    the server closed it. The anyio stream answers by building anyio's whole
    map of socket attributes, a getpeername() system call included, on every
    question: about a fifth of the CPU of a small upload on the pure-httpx path
    (docs/benchmarks.md). The socket never changes, so it is looked up once.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = _UNKNOWN

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's interface
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's interface
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        secure = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _KeptSocketStream(secure)

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        if self._socket is _UNKNOWN:
            self._socket = self._inner.get_extra_info("socket")
        return _readable(self._socket)


class _KeptSocketBackend(httpcore.AsyncNetworkBackend):
    """
    httpcore's anyio backend, whose connections are `_KeptSocketStream`\\ s.
    """

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _KeptSocketStream(
            await self._inner.connect_tcp(
                host,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def httpx_transport(
    limits: httpx.Limits, ssl_context: ssl.SSLContext
) -> httpx.AsyncHTTPTransport:
    """
    httpx's own transport; on asyncio, over connections that are cheap to check.

    httpx has no option for httpcore's network backend, so on asyncio its pool
    is replaced by one with the same settings over `_KeptSocketBackend`. (trio's
    httpcore stream already keeps its socket at hand.) Should a future httpx
    keep its pool elsewhere, the assignment is ignored: slower, still correct.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=ssl_context)
    if sniffio.current_async_library() == "asyncio":
        transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001 - see above
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_KeptSocketBackend(),
        )
    return transport


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
            inner = aiohttp_transport(self._limits, ssl_context) or httpx_transport(
                self._limits, ssl_context
            )
            self._pools[secure] = inner
        return inner

    async def aclose(self) -> None:
        for inner in self._pools.values():
            await inner.aclose()


class OwnClient(httpx.AsyncClient):
    """
    The httpx client twupload builds for itself, with a shorter way to send.

    A pool sized for every upload the concurrency limiter lets through: a
    smaller one would make queued uploads die of PoolTimeout while they wait.
    """

    def __init__(self, *, max_concurrency: int, timeout: float | httpx.Timeout) -> None:
        limits = httpx.Limits(
            max_connections=max_concurrency + 2,
            max_keepalive_connections=max_concurrency + 2,
        )
        self._pools = AutoTransport(limits)
        super().__init__(timeout=timeout, transport=self._pools)
        self._timeouts = self.timeout.as_dict()

    async def send_signed(
        self, request: httpx.Request, *, auth: httpx.Auth
    ) -> httpx.Response:
        """
        Sign and send *request* and read the response, like ``send(request, auth=auth)``.

        Without ``send``'s cookie jar, redirect handling, event hooks and
        ``HTTP Request:`` log line: none of them act on an upload API's
        requests, and together they cost about a tenth of a small upload's CPU.
        (Routing is the same: httpx reads no proxy settings from the
        environment for a client given its own transport.) *auth* must be one
        of twupload's, which sign a request once and need no response.
        """
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request = next(auth.auth_flow(request))
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": dict(self._timeouts)}
        started = time.perf_counter()
        try:
            response = await self._pools.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's own send sets it
            raise
        response.request = request
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        response.elapsed = dt.timedelta(seconds=time.perf_counter() - started)
        return response
