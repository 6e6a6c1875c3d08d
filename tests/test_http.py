"""
The httpx client twupload builds: pool size, and the transport picked per event loop.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import select
import socket
import ssl
import sys

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from anyio.streams.tls import TLSStream

from twupload import _http
from twupload._http import (
    AutoTransport,
    OwnClient,
    _readable,
    aiohttp_transport,
    httpx_transport,
    verified_ssl_context,
)


if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import ByteStream, SocketStream

    from twupload.testing import Emulator


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
    client = OwnClient(max_concurrency=8, timeout=5.0)
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
        chosen.append(await transport._choose(secure=False))

    async with anyio.create_task_group() as group:
        group.start_soon(choose)
        group.start_soon(choose)
    assert chosen[0] is chosen[1]
    await transport.aclose()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """
    A certificate for 127.0.0.1 that is its own CA, and its key, as PEM files.
    """
    from cryptography import x509  # noqa: PLC0415 - an authlib dependency
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twupload test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def _answer_ok(stream: ByteStream) -> None:
    async with stream:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive()
        await stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        )


@pytest.fixture
async def https_url(tmp_path: Path) -> AsyncIterator[str]:
    """
    A one-route HTTPS server on 127.0.0.1 with a self-signed certificate.

    The certificate's path is in ``SSL_CERT_FILE`` for the tests that trust it.
    """
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)

    async def serve_one(stream: SocketStream) -> None:
        try:
            tls = await TLSStream.wrap(
                stream,
                server_side=True,
                ssl_context=server_context,
                standard_compatible=False,
            )
        except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
            await stream.aclose()  # the client refused the certificate
            return
        await _answer_ok(tls)

    async with tcp, anyio.create_task_group() as group:
        group.start_soon(tcp.serve, serve_one)
        yield f"https://127.0.0.1:{port}/"
        group.cancel_scope.cancel()


@pytest.fixture
def fresh_contexts() -> None:
    """
    Forget the process-wide verified context, so a test sees whether it is built.
    """
    verified_ssl_context.cache_clear()


async def test_plain_http_never_loads_the_ca_bundle(
    emu: Emulator, fresh_contexts: None
) -> None:
    """
    Requests to an http:// URL are served without building the verified TLS context.
    """
    transport = AutoTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(emu.url + "/1.1/help/configuration.json")
    assert response.status_code != 0
    assert verified_ssl_context.cache_info().currsize == 0


async def test_https_checks_the_certificate(
    https_url: str, fresh_contexts: None
) -> None:
    """
    An https:// server whose certificate no CA vouches for is refused.
    """
    transport = AutoTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.TransportError) as info:
            await client.get(https_url)
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes)
    assert verified_ssl_context.cache_info().currsize == 1


async def test_https_and_http_each_get_their_own_pool(
    https_url: str,
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_contexts: None,
) -> None:
    """
    A trusted https:// server answers through the verified pool, http:// through the other.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    transport = AutoTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        secure = await client.get(https_url)
        plain = await client.get(emu.url + "/1.1/help/configuration.json")
        pools = dict(transport._pools)
    assert (secure.status_code, secure.text) == (200, "ok")
    assert plain.status_code != 0
    assert set(pools) == {True, False}
    assert pools[True] is not pools[False]


async def test_https_on_httpx_own_transport(
    https_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_contexts: None,
) -> None:
    """
    Without the aiohttp transport, a trusted https:// server answers through httpx's own.
    """
    monkeypatch.setattr("twupload._http.aiohttp_transport", lambda *_: None)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    transport = AutoTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(https_url)
    assert (response.status_code, response.text) == (200, "ok")
    assert isinstance(transport._pools[True], httpx.AsyncHTTPTransport)


async def test_httpx_transport_keeps_its_sockets_at_hand_on_asyncio(
    anyio_backend: str,
) -> None:
    """
    On asyncio httpx's pool runs over twupload's backend; trio's is left as it is.
    """
    transport = httpx_transport(LIMITS, SSL)
    backend = transport._pool._network_backend
    if anyio_backend == "asyncio":
        assert isinstance(backend, _http._KeptSocketBackend)
        assert transport._pool._max_connections == 3
        await backend.sleep(0)
    else:
        assert not isinstance(backend, _http._KeptSocketBackend)
    await transport.aclose()


@pytest.mark.parametrize(
    "poll",
    [
        pytest.param(
            True,
            id="poll",
            marks=pytest.mark.skipif(
                not hasattr(select, "poll"), reason="Windows has no poll()"
            ),
        ),
        pytest.param(False, id="select"),
    ],
)
def test_readable_means_data_waiting_or_the_peer_gone(
    poll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    An idle connection is readable once data arrives or the peer closes; a closed one is.
    """
    monkeypatch.setattr(_http, "_HAS_POLL", poll)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not _readable(ours)
        theirs.send(b"x")
        assert _readable(ours)
        assert ours.recv(1) == b"x"
        assert not _readable(ours)
        theirs.shutdown(socket.SHUT_WR)
        assert _readable(ours)
    assert _readable(ours)  # closed here: its descriptor is gone
    assert _readable(None)
