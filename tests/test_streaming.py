"""
Streaming over real loopback sockets: exact Content-Length, no chunked encoding, bounded memory.

respx reads bodies whole and never checks Content-Length, so these tests use a
small HTTP/1.1 server on 127.0.0.1 that counts what actually arrives.

Each test runs three ways: on asyncio and on trio over httpx's own transport,
and on asyncio over the httpx-aiohttp transport that ``twupload[fast]`` users
get (trio never gets it, so it has no third variant).
"""

from __future__ import annotations

import json
import tracemalloc

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import anyio
import pytest

from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from twupload import AsyncMediaClient, BearerToken
from twupload._http import AutoTransport, new_http_client
from twupload._multipart import MultipartBody
from twupload._source import make_source

from checks import multipart_fields
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx

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
    """

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    keep: int = MB  # body bytes kept per request, for inspection

    async def handle(self, stream: SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            while True:
                try:
                    head = await reader.receive_until(b"\r\n\r\n", 65536)
                except (anyio.IncompleteRead, anyio.EndOfStream):
                    return
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
                status, body = self._answer(headers, bytes(kept))
                reply = json.dumps(body).encode() if body is not None else b""
                await stream.send(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(reply)}\r\n"
                    f"Content-Type: application/json\r\n\r\n".encode()
                    + reply
                )

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
        async with new_http_client(max_concurrency=1, timeout=60.0) as http:
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
