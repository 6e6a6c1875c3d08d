"""
Streaming over real loopback sockets: exact Content-Length, no chunked encoding, bounded memory.

respx reads bodies whole and never checks Content-Length, so these tests use a
small HTTP/1.1 server on 127.0.0.1 that counts what actually arrives.

Each test runs three ways: on asyncio and on trio over httpx's own transport,
and on asyncio over the httpx-aiohttp transport that ``twupload[fast]`` users
get (trio never gets it, so it has no third variant).
"""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest

from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from twupload import AsyncMediaClient, BearerToken, TransportError
from twupload._auth import OAuth1Auth, OAuth1Signer
from twupload._http import AutoTransport, OwnClient
from twupload._multipart import MultipartBody
from twupload._source import make_source

from checks import multipart_fields
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import SocketStream

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

MB = 1024 * 1024


@pytest.fixture(
    params=[
        "asyncio",
        "trio",
        pytest.param(
            "asyncio", marks=pytest.mark.aiohttp_transport, id="asyncio-aiohttp"
        ),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """
    asyncio and trio (conftest's backends), plus asyncio on the httpx-aiohttp transport.
    """
    return str(request.param)


@pytest.fixture
def carried_by(request: pytest.FixtureRequest) -> str:
    """
    The name of the transport the test's requests must go through.
    """
    if request.node.get_closest_marker("aiohttp_transport"):
        return "AiohttpTransport"
    return "AsyncHTTPTransport"


def _transport_of(http: httpx.AsyncClient) -> str:
    auto = http._transport
    assert isinstance(auto, AutoTransport)
    (pool,) = auto._pools.values()  # the emulator is http:// only
    return type(pool).__name__


@dataclass
class Seen:
    """
    One request as it arrived on the socket.
    """

    method: str
    target: str
    headers: dict[str, str]
    received: int
    body: bytes = b""


@dataclass
class LoopbackServer:
    """
    A minimal keep-alive HTTP/1.1 server speaking just enough of the upload protocol.

    *after* says what it does once a request has arrived: ``"reply"`` and keep
    the connection, ``"close"`` after replying, ``"hang"`` without replying, or
    ``"cut"``: promise a longer body than it sends, and close.
    """

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    keep: int = MB  # body bytes kept per request, for inspection
    after: str = "reply"
    connections: int = 0
    closed: int = 0
    closing: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, stream: SocketStream) -> None:
        self.connections += 1
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            while await self._exchange(stream, reader):
                pass
        self.closed += 1
        self.closing.set()

    async def _exchange(
        self, stream: SocketStream, reader: BufferedByteReceiveStream
    ) -> bool:
        try:
            head = await reader.receive_until(b"\r\n\r\n", 65536)
        except (anyio.IncompleteRead, anyio.EndOfStream):
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip()
            for k, v in (line.split(":", 1) for line in lines[1:] if line)
        }
        length = int(headers.get("content-length", "0"))
        received = 0
        kept = bytearray()
        while received < length:
            chunk = await reader.receive(min(65536, length - received))
            received += len(chunk)
            if len(kept) < self.keep:
                kept += chunk[: self.keep - len(kept)]
        self.seen.append(Seen(method, target, headers, received, bytes(kept)))
        if self.after == "hang":
            await anyio.sleep_forever()
        status, body = self._answer(headers, bytes(kept))
        reply = json.dumps(body).encode() if body is not None else b""
        promised = len(reply) + (10 if self.after == "cut" else 0)
        await stream.send(
            f"HTTP/1.1 {status} X\r\nContent-Length: {promised}\r\n"
            f"Content-Type: application/json\r\n\r\n".encode()
            + reply
        )
        return self.after == "reply"

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        info = {"media_id": 77, "media_id_string": "77", "expires_after_secs": 600}
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            if b'name="command"\r\n\r\nAPPEND' in body:
                return 204, None
            return 200, info
        form = dict(parse_qsl(body.decode()))
        return (202 if form.get("command") == "INIT" else 201), info


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    server.url = f"http://127.0.0.1:{port}"
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        yield server
        group.cancel_scope.cancel()
    await listener.aclose()


async def test_content_length_matches_the_bytes_on_the_wire(
    loopback: LoopbackServer, creds: OAuth1Credentials, tmp_path: Path, carried_by: str
) -> None:
    """
    The declared Content-Length is exactly what arrives, without chunked encoding.
    """
    data = png(pad=300_000)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    async with AsyncMediaClient(creds, base_url=loopback.url) as client:
        result = await client.upload(path, media_category="tweet_image")
        await client.upload(data, encoding="base64")
    assert _transport_of(client._http) == carried_by
    assert result.media_id == 77
    assert len(loopback.seen) == 2
    for seen in loopback.seen:
        assert seen.method == "POST"
        assert seen.target == "/1.1/media/upload.json"
        assert "transfer-encoding" not in seen.headers
        assert int(seen.headers["content-length"]) == seen.received
        assert seen.headers["authorization"].startswith("OAuth ")
    fields = multipart_fields(
        loopback.seen[0].headers["content-type"], loopback.seen[0].body
    )
    assert fields["media"] == data


def _sparse(tmp_path: Path, size: int, head: bytes) -> Path:
    path = tmp_path / "big.bin"
    with path.open("wb") as file:
        file.write(head)
        file.truncate(size)
    return path


async def test_streaming_layer_sends_200_mb_in_bounded_memory(
    loopback: LoopbackServer, tmp_path: Path, carried_by: str
) -> None:
    """
    A 200 MB file streams through the multipart layer with peak allocations far below its size.
    """
    size = 200 * MB
    path = _sparse(tmp_path, size, b"\xff\xd8\xff")
    source = make_source(path, size=None, limiter=anyio.CapacityLimiter(2))
    await source.open()
    body = MultipartBody(
        [("media_category", "tweet_video")], media_field="media", media_size=size
    )
    tracemalloc.start()
    try:
        async with OwnClient(max_concurrency=1, timeout=60.0) as http:
            response = await http.post(
                f"{loopback.url}/stream",
                headers=body.headers,
                content=body.stream(source.iter_range(0, size)),
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await source.aclose()
    assert _transport_of(http) == carried_by
    assert response.status_code == 200
    assert "transfer-encoding" not in loopback.seen[-1].headers
    assert loopback.seen[-1].received == body.content_length > size
    assert peak < 32 * MB, f"peak Python allocations {peak / MB:.1f} MB"


async def test_chunked_200_mb_video_in_bounded_memory(
    loopback: LoopbackServer, creds: OAuth1Credentials, tmp_path: Path, carried_by: str
) -> None:
    """
    A 200 MB video goes up through INIT/APPEND/FINALIZE with peak allocations under 32 MB.
    """
    size = 200 * MB
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41"
    path = _sparse(tmp_path, size, head)
    loopback.keep = 4096
    tracemalloc.start()
    try:
        async with AsyncMediaClient(creds, base_url=loopback.url) as client:
            result = await client.upload(path, media_category="tweet_video")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    appends = [
        s for s in loopback.seen if s.headers["content-type"].startswith("multipart/")
    ]
    assert _transport_of(client._http) == carried_by
    assert result.media_id == 77
    assert len(appends) == 50  # 4 MiB segments
    assert all(int(s.headers["content-length"]) == s.received for s in loopback.seen)
    assert not any("transfer-encoding" in s.headers for s in loopback.seen)
    assert sum(s.received for s in appends) > size
    assert peak < 32 * MB, f"peak Python allocations {peak / MB:.1f} MB"


async def test_bearer_token_uploads_stream_with_exact_length(
    loopback: LoopbackServer, tmp_path: Path, carried_by: str
) -> None:
    """
    API v2 with an OAuth 2.0 token streams like OAuth 1.0a: exact length, never chunked.

    A simple image upload and a chunked video's APPENDs both go out streamed.
    """
    data = png(pad=300_000)
    image = tmp_path / "a.png"
    image.write_bytes(data)
    video = _sparse(
        tmp_path, 9 * MB, b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41"
    )
    async with AsyncMediaClient(
        BearerToken("tok-SECRET"), api="2", base_url=loopback.url
    ) as client:
        result = await client.upload(image, media_category="tweet_image")
        await client.upload(video, media_category="tweet_video")
    assert _transport_of(client._http) == carried_by
    assert result.media_id == 77
    assert [s.target for s in loopback.seen] == [
        "/2/media/upload",
        "/2/media/upload/initialize",
        *["/2/media/upload/77/append"] * 3,  # 4 MiB segments
        "/2/media/upload/77/finalize",
    ]
    for seen in loopback.seen:
        assert seen.headers["authorization"] == "Bearer tok-SECRET"
        assert "transfer-encoding" not in seen.headers
        assert int(seen.headers["content-length"]) == seen.received
    first = loopback.seen[0]
    assert multipart_fields(first.headers["content-type"], first.body)["media"] == data
    assert sum(s.received for s in loopback.seen[2:5]) > 9 * MB


async def test_the_own_client_hands_signed_requests_to_its_transport(
    loopback: LoopbackServer,
    creds: OAuth1Credentials,
    carried_by: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The httpx client twupload makes sends without ``AsyncClient.send``, and sends it all.
    """

    def refuse(*_: object, **__: object) -> NoReturn:
        raise AssertionError("httpx.AsyncClient.send was used")

    monkeypatch.setattr(httpx.AsyncClient, "send", refuse)
    data = png(pad=5000)
    async with AsyncMediaClient(creds, base_url=loopback.url) as client:
        result = await client.upload(data, media_category="tweet_image")
    assert _transport_of(client._http) == carried_by
    assert result.media_id == 77
    (seen,) = loopback.seen
    assert (seen.method, seen.target) == ("POST", "/1.1/media/upload.json")
    assert seen.headers["host"] == loopback.url.removeprefix("http://")
    assert seen.headers["authorization"].startswith(
        'OAuth oauth_consumer_key="ck-test"'
    )
    assert int(seen.headers["content-length"]) == seen.received
    fields = multipart_fields(seen.headers["content-type"], seen.body)
    assert fields == {"media_category": b"tweet_image", "media": data}


async def test_a_server_that_closed_an_idle_connection_gets_a_new_one(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    A kept-alive connection the server closed is not reused for the next upload.
    """
    loopback.after = "close"
    async with AsyncMediaClient(creds, base_url=loopback.url, max_retries=0) as client:
        await client.upload(png())
        with anyio.fail_after(5):
            await loopback.closing.wait()
        second = await client.upload(png())
    assert second.media_id == 77
    assert (loopback.connections, len(loopback.seen)) == (2, 2)


async def test_a_silent_server_times_out_after_the_timeout_given(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    ``timeout=`` bounds the wait for a response on the client's own transport.
    """
    loopback.after = "hang"
    with anyio.fail_after(10), pytest.raises(TransportError) as info:
        async with AsyncMediaClient(
            creds, base_url=loopback.url, timeout=0.3, max_retries=0
        ) as client:
            await client.upload(png())
    assert str(info.value).startswith("upload: network failure after 1 attempt (")
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert len(loopback.seen) == 1


async def test_a_response_cut_short_is_a_network_failure(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    A response body shorter than its Content-Length fails the request, not the parse.
    """
    loopback.after = "cut"
    with pytest.raises(TransportError, match="network failure after 1 attempt"):
        async with AsyncMediaClient(
            creds, base_url=loopback.url, max_retries=0
        ) as client:
            await client.upload(png())
    assert len(loopback.seen) == 1


async def test_the_own_client_reads_no_proxy_from_the_environment(
    loopback: LoopbackServer, creds: OAuth1Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    HTTP_PROXY does not reroute the client twupload makes (pass ``http_client`` for a proxy).
    """
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with AsyncMediaClient(creds, base_url=loopback.url, max_retries=0) as client:
        result = await client.upload(png())
    assert result.media_id == 77
    assert [seen.target for seen in loopback.seen] == ["/1.1/media/upload.json"]


async def test_send_signed_reads_the_response_and_times_it(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    A response comes back read, with its request and how long it took, as from ``send``.
    """
    async with OwnClient(max_concurrency=1, timeout=5.0) as http:
        request = http.build_request("POST", f"{loopback.url}/1.1/media/upload.json")
        response = await http.send_signed(request, auth=OAuth1Auth(OAuth1Signer(creds)))
    assert response.json()["media_id"] == 77
    assert response.request is request
    assert response.elapsed > dt.timedelta(0)
    assert loopback.seen[0].headers["authorization"].startswith("OAuth ")


async def test_a_timeout_set_on_the_request_wins_over_the_clients(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    As with ``send``, a request's own timeout is kept; the error names the request.
    """
    loopback.after = "hang"
    async with OwnClient(max_concurrency=1, timeout=60.0) as http:
        request = http.build_request(
            "POST", f"{loopback.url}/1.1/media/upload.json", timeout=0.2
        )
        with anyio.fail_after(10), pytest.raises(httpx.ReadTimeout) as info:
            await http.send_signed(request, auth=OAuth1Auth(OAuth1Signer(creds)))
    assert info.value.request is request


async def test_a_closed_own_client_sends_nothing(
    loopback: LoopbackServer, creds: OAuth1Credentials
) -> None:
    """
    After the client is closed, sending is refused before any connection opens.
    """
    http = OwnClient(max_concurrency=1, timeout=5.0)
    await http.aclose()
    request = http.build_request("POST", f"{loopback.url}/1.1/media/upload.json")
    with pytest.raises(RuntimeError, match="client has been closed"):
        await http.send_signed(request, auth=OAuth1Auth(OAuth1Signer(creds)))
    assert loopback.connections == 0
