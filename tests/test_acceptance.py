"""
The issues' acceptance scenarios, end to end against the emulator over real sockets.

Client and emulator share one fake clock, so rate-limit windows pass without real waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from twupload import APIError, AsyncMediaClient, ResumeState

from samples import mp4, png


if TYPE_CHECKING:
    from twupload.testing import Emulator

    from fakes import FakeTime


# On asyncio these run on the httpx-aiohttp transport (twupload[fast]); on trio
# on httpx's own: both stacks meet the same acceptance criteria.
pytestmark = [pytest.mark.anyio, pytest.mark.aiohttp_transport]


def _client(emu: Emulator, fake: FakeTime, **options: Any) -> AsyncMediaClient:
    return AsyncMediaClient(
        emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep, **options
    )


async def test_25_uploads_through_a_10_per_3s_window_see_no_429(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    25 images at concurrency 8 against 10 requests per 3 s all succeed, none in an exhausted window.
    """
    emu.set_rate_limit("upload", limit=10, window=3.0)
    async with _client(emu, fake, max_concurrency=8) as client:
        results = await client.upload_many([png(i) for i in range(1, 26)])
    assert all(not isinstance(r, Exception) for r in results)
    assert len({r.media_id for r in results}) == 25  # type: ignore[union-attr]
    stats = emu.stats
    assert stats.rejected_429 == 0
    assert stats.by_status == {200: 25}
    assert sum(fake.sleeps) >= 2 * 3.0  # two window resets were waited out, not refused


async def test_the_server_never_sees_more_than_max_concurrency(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    With max_concurrency=4 and slow responses, at most 4 requests are ever in progress.
    """
    emu.set_latency(0.05)
    async with _client(emu, fake, max_concurrency=4) as client:
        results = await client.upload_many([png(i) for i in range(1, 13)])
    assert all(not isinstance(r, Exception) for r in results)
    assert emu.max_concurrent == 4


async def test_transient_failures_are_absorbed_and_a_400_stays_in_its_slot(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    Two 503s, a 429 with a reset 2 s ahead and a dropped connection all end in success.
    """
    reset = int(fake.now) + 2
    emu.fail_next(2, status=503, command="upload")
    emu.fail_next(
        status=429,
        command="upload",
        headers={
            "x-rate-limit-limit": "415",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    emu.drop_next(after_bytes=200, command="upload")
    sources: list[object] = [png(i, pad=2000) for i in range(1, 5)]
    sources.insert(2, _late_animated_gif())  # a permanent 400 from the service
    async with _client(emu, fake, max_concurrency=1, max_retries=5) as client:
        results = await client.upload_many(sources, media_category="tweet_image")
    bad = results.pop(2)
    assert isinstance(bad, APIError)
    assert bad.status_code == 400
    assert bad.errors[0][0] == 324
    assert all(not isinstance(r, Exception) for r in results)
    stats = emu.stats
    assert stats.injected_failures == 3
    assert stats.dropped_connections == 1
    assert fake.now >= reset  # the 429's window was waited out


def _late_animated_gif() -> bytes:
    """
    An animated GIF whose second frame lies beyond what the client sniffs (64 KiB).

    The client takes it for a still image; the service sees two frames and
    refuses it as a tweet_image, as it would a real one.
    """
    frame = b"\x2c" + b"\x00\x00\x00\x00\x01\x00\x01\x00\x00" + b"\x02"
    data = b"".join(b"\xff" + bytes(255) for _ in range(300)) + b"\x00"
    header = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    return header + frame + data + frame + b"\x01\x00\x00" + b"\x3b"


async def test_cancelling_a_batch_leaves_no_connection_in_use(
    emu: Emulator, fake: FakeTime, anyio_backend: str
) -> None:
    """
    Cancelling upload_many mid-flight returns every pooled connection; nothing is left running.
    """
    emu.set_latency(3.0)
    async with _client(emu, fake, max_concurrency=3) as client:
        with anyio.move_on_after(0.3) as scope:
            await client.upload_many([png(i) for i in range(1, 7)])
        assert scope.cancelled_caught
        inner = client._http._transport._pools[False]  # type: ignore[attr-defined]
        if isinstance(inner, httpx.AsyncHTTPTransport):
            pool = inner._pool
            assert all(c.is_idle() or c.is_closed() for c in pool.connections)
        else:  # aiohttp's connector: no connection still acquired by a request
            assert anyio_backend == "asyncio"
            assert not inner.client.connector._acquired
    assert emu.media == {}


async def test_interrupted_video_resumes_with_only_the_missing_segments(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    An upload cut after segment 1 resumes from JSON, sends only the rest, and the bytes arrive intact.
    """
    data = mp4(5 * 1024 * 1024 + 777)
    emu.fail_next(status=503, command="APPEND")
    emu.set_processing("succeed", steps=2, check_after_secs=1)
    emu.reset_stats()
    with pytest.raises(APIError) as info:
        async with _client(
            emu, fake, max_retries=0, segment_bytes=1024 * 1024
        ) as client:
            await client.upload(data, media_category="tweet_video")
    assert info.value.status_code == 503
    state = info.value.resume
    assert state is not None
    assert state.acknowledged == ()
    saved = state.to_json()

    async with _client(emu, fake) as client:
        result = await client.upload(data, resume=ResumeState.from_json(saved))
    assert emu.stats.by_command.get("INIT") == 1
    assert emu.get_media(result.media_id).data == data
    assert result.processing is not None
    assert result.processing.state == "succeeded"
