"""
The client's upload path: the corners a mutation run found untested.

Every error is caught outside ``async with AsyncMediaClient(...)``, as users write it.
"""

from __future__ import annotations

import contextlib
import time

from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import twupload._client

from twupload import (
    APIError,
    AsyncMediaClient,
    ConfigurationError,
    InvalidMediaError,
    MemoryRateLimitStore,
    RateLimitError,
    UploadTimeoutError,
)

from fakes import FakeTime
from samples import mp4, png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import respx

    from twupload import OAuth1Credentials
    from twupload.testing import Emulator


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
OK = httpx.Response(
    200,
    json={"media_id": 1, "media_id_string": "1", "image": {"image_type": "image/png"}},
)
NOW = 1_767_225_600.0


async def test_resuming_an_image_continues_its_chunked_upload(
    twupload_emulator: Emulator,
) -> None:
    """
    A resumed image goes on with APPENDs to the same media, even without chunked=True.
    """
    emu = twupload_emulator
    data = png(pad=100_000)
    fake = FakeTime(time.time())
    emu.fail_next(status=400, command="APPEND")
    with pytest.raises(APIError) as info:
        async with AsyncMediaClient(
            emu.credentials,
            base_url=emu.url,
            segment_bytes=32 * 1024,
            clock=fake.clock,
            sleep=fake.sleep,
        ) as client:
            await client.upload(data, chunked=True)
    state = info.value.resume
    assert state is not None
    assert state.acknowledged == ()

    emu.reset_stats()
    async with AsyncMediaClient(
        emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
    ) as client:
        result = await client.upload(data, resume=state)
    assert result.media_id == state.media_id
    assert emu.stats.by_command.get("upload", 0) == 0
    assert emu.stats.by_command.get("INIT", 0) == 0
    assert emu.stats.by_command["APPEND"] == state.segment_count
    assert emu.get_media(result.media_id).size == len(data)


async def test_file_reads_do_not_wait_for_the_shared_thread_pool(
    mock: respx.MockRouter, creds: OAuth1Credentials, tmp_path: Path
) -> None:
    """
    Reading a file uses the client's own threads: a busy default pool does not stall it.
    """
    path = tmp_path / "a.png"
    path.write_bytes(png(pad=300_000))
    route = mock.post(UPLOAD).mock(return_value=OK)
    shared = anyio.to_thread.current_default_thread_limiter()
    shared.total_tokens = 1
    # A stall fails at once instead of hanging the run.
    with anyio.fail_after(10):
        # The caller's own work holds every shared thread while the client uploads.
        async with (
            httpx.AsyncClient() as http,
            shared,
            AsyncMediaClient(creds, http_client=http) as client,
        ):
            result = await client.upload(path)
    assert result.media_id == 1
    assert route.calls.last.request.content.count(path.read_bytes()) == 1


class _Stuck(httpx.AsyncBaseTransport):
    """
    Reads each request's body, says so, then never answers.
    """

    def __init__(self) -> None:
        self.sent = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async for _ in request.stream:  # type: ignore[union-attr]
            pass
        self.sent.set()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover - sleep_forever never returns


async def test_a_cancelled_upload_lets_the_sources_cleanup_finish(
    creds: OAuth1Credentials,
) -> None:
    """
    Cancelled mid-request, an upload still closes its async iterable, awaits and all.
    """
    data = png()
    cleaned: list[str] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            yield data
        finally:
            await anyio.lowlevel.checkpoint()  # a cleanup that awaits, like a socket's
            cleaned.append("closed")

    stuck = _Stuck()

    async def upload(client: AsyncMediaClient) -> None:
        await client.upload(source(), size=len(data))

    async with (
        httpx.AsyncClient(transport=stuck) as http,
        AsyncMediaClient(creds, http_client=http) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(upload, client)
        await stuck.sent.wait()
        group.cancel_scope.cancel()
    assert cleaned == ["closed"]


# The defaults the signature promises, seen in what the client does.


async def test_the_default_timeout_goes_on_every_request(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A client that makes its own httpx client gives each request 60 s per phase.
    """
    route = mock.post(UPLOAD).mock(return_value=OK)
    async with AsyncMediaClient(creds) as client:
        assert "max_concurrency=8 " in repr(client)
        await client.upload(png())
    assert route.calls.last.request.extensions["timeout"] == dict.fromkeys(
        ("connect", "read", "write", "pool"), 60.0
    )


@pytest.mark.parametrize(("hint", "waits"), [("900", True), ("901", False)])
async def test_the_default_rate_limit_budget_is_900_seconds(
    mock: respx.MockRouter, creds: OAuth1Credentials, hint: str, waits: bool
) -> None:
    """
    Without max_rate_limit_wait, a 429 asking for 900 s is waited out; 901 s is not.
    """
    route = mock.post(UPLOAD).mock(
        side_effect=[httpx.Response(429, headers={"retry-after": hint}), OK]
    )
    fake = FakeTime(NOW)
    with contextlib.nullcontext() if waits else pytest.raises(RateLimitError):
        async with AsyncMediaClient(
            creds, clock=fake.clock, sleep=fake.sleep
        ) as client:
            await client.upload(png())
    assert fake.sleeps == ([900.0] if waits else [])
    assert route.call_count == (2 if waits else 1)


async def test_the_default_processing_timeout_is_600_seconds(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    Processing that never ends is polled for 600 s of the client's clock, then given up.
    """
    emu.set_processing("pending_forever", check_after_secs=100)
    with pytest.raises(UploadTimeoutError) as info:
        async with AsyncMediaClient(
            emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
        ) as client:
            await client.upload(mp4())
    assert sum(fake.sleeps) == 600.0
    assert info.value.media_id is not None


@pytest.mark.parametrize("max_retries", [1.5, "3", None])
def test_max_retries_must_be_an_int(
    creds: OAuth1Credentials, max_retries: object
) -> None:
    """
    A float, a digit string or None is a configuration error, not a crash later.
    """
    with pytest.raises(ConfigurationError, match="max_retries must be an int >= 0"):
        AsyncMediaClient(creds, max_retries=max_retries)  # type: ignore[arg-type]


@pytest.mark.parametrize("option", ["segment_bytes", "max_segment_bytes"])
def test_the_smallest_segment_is_one_byte(
    creds: OAuth1Credentials, option: str
) -> None:
    """
    One byte is a positive segment size, so it is accepted (the service sets the real floor).
    """
    assert "state=unopened" in repr(AsyncMediaClient(creds, **{option: 1}))


class _SlowToClose(httpx.AsyncBaseTransport):
    """
    A transport whose close awaits before it is done, like one closing sockets.
    """

    def __init__(self) -> None:
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"media_id": 1, "media_id_string": "1"})

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.closed = True


async def test_a_cancelled_client_still_closes_the_http_client_it_made(
    monkeypatch: pytest.MonkeyPatch, creds: OAuth1Credentials
) -> None:
    """
    Leaving ``async with`` by cancellation closes the client's own httpx client fully.
    """
    transport = _SlowToClose()
    monkeypatch.setattr(
        "twupload._client.OwnClient",
        lambda **_: httpx.AsyncClient(transport=transport),
    )
    with anyio.CancelScope() as scope:
        async with AsyncMediaClient(creds) as client:
            await client.upload(png())
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert transport.closed


async def test_too_many_segments_are_refused_with_the_plan_before_any_request(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A video that needs more than 1000 APPENDs of max_segment_bytes is refused up front.
    """
    data = mp4(1000 * 1024 + 1)
    with pytest.raises(InvalidMediaError) as info:
        async with AsyncMediaClient(creds, max_segment_bytes=1024) as client:
            await client.upload(data)
    assert str(info.value).startswith(
        "The video is 1024001 bytes, but 1000 APPENDs (segment_index 0-999) of at "
        "most max_segment_bytes=1024 carry 1024000 bytes."
    )
    assert not mock.calls


def test_the_connection_pool_fits_every_segment_in_flight(
    monkeypatch: pytest.MonkeyPatch, creds: OAuth1Credentials
) -> None:
    """
    The client's own httpx client is sized for max_concurrency x max_segments_in_flight.
    """
    asked: list[dict[str, object]] = []
    real = twupload._client.OwnClient

    def recording(**options: Any) -> httpx.AsyncClient:
        asked.append(options)
        return real(**options)

    monkeypatch.setattr(twupload._client, "OwnClient", recording)
    AsyncMediaClient(creds, max_concurrency=2, max_segments_in_flight=3, timeout=9.0)
    assert asked == [{"max_concurrency": 6, "timeout": 9.0}]


async def test_clients_of_one_account_on_two_api_versions_pace_apart(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A shared store keeps the windows of each API version of an account apart.
    """
    limits = {
        "x-rate-limit-limit": "5",
        "x-rate-limit-remaining": "4",
        "x-rate-limit-reset": str(int(NOW) + 600),
    }
    mock.post(UPLOAD).respond(
        200, json={"media_id": 1, "media_id_string": "1"}, headers=limits
    )
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    options: dict[str, Any] = {
        "rate_limit_store": store,
        "clock": fake.clock,
        "sleep": fake.sleep,
    }
    async with (
        AsyncMediaClient(creds, **options) as v1,
        AsyncMediaClient(creds, api="2", **options) as v2,
    ):
        await v1.upload(png())
        assert v1.rate_limits["upload"].remaining == 4
        assert dict(v2.rate_limits) == {}
