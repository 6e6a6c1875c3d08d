"""
Errors caught the way users write it: ``try`` around ``async with AsyncMediaClient(...)``.

Every exception raised inside the block, by twupload or by the caller, must leave
it as the same object (never wrapped in an ExceptionGroup), on asyncio and trio,
and cancellation must still leave no task, file or connection behind. These run
against the emulator over real sockets, on both transports.
"""

from __future__ import annotations

import io
import itertools
import socket

from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import pytest

import twupload
import twupload._source

from twupload import (
    APIError,
    AsyncMediaClient,
    AuthenticationError,
    InvalidMediaError,
    MediaProcessingError,
    OAuth1Credentials,
    RateLimitError,
    TransportError,
    TwUploadError,
)

from samples import mp4, png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from twupload.testing import Emulator

    from fakes import FakeTime


pytestmark = [pytest.mark.anyio, pytest.mark.aiohttp_transport]


def _client(emu: Emulator, fake: FakeTime, **options: Any) -> AsyncMediaClient:
    return AsyncMediaClient(
        emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep, **options
    )


async def test_bad_input_is_caught_outside_before_any_request(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    ``except InvalidMediaError`` around the block catches an empty upload; nothing was sent.
    """
    try:
        async with _client(emu, fake) as client:
            await client.upload(b"")
    except InvalidMediaError as exc:
        caught: BaseException = exc
    assert type(caught) is InvalidMediaError
    assert "empty" in str(caught).lower()
    assert emu.stats.requests == 0


@pytest.mark.parametrize("handler", [TwUploadError, ValueError])
async def test_bad_input_is_caught_by_its_base_classes(
    emu: Emulator, fake: FakeTime, handler: type[Exception]
) -> None:
    """
    The documented base classes catch it too.
    """
    with pytest.raises(handler) as info:
        async with _client(emu, fake) as client:
            await client.upload(b"", media_category="tweet_image")
    assert type(info.value) is InvalidMediaError


async def test_the_same_exception_object_leaves_the_block(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    The caller's own exception comes out unchanged: same object, no group, no new context.
    """
    mine = KeyError("mine")
    with pytest.raises(KeyError) as info:
        async with _client(emu, fake) as client:
            await client.upload(png())
            raise mine
    assert info.value is mine
    assert info.value.__context__ is None


async def test_a_user_exception_with_a_batch_running_in_the_background(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    Raising while an iter_upload batch is still in flight stops the batch and keeps the exception.
    """
    mine = LookupError("stop here")
    emu.set_latency(0.05)
    with pytest.raises(LookupError) as info:
        async with _client(emu, fake, max_concurrency=2) as client:
            batch = client.iter_upload([png(i) for i in range(1, 9)])
            await batch.__anext__()
            raise mine
    assert info.value is mine
    await batch.aclose()
    assert client._http.is_closed


async def test_401_is_caught_outside(emu: Emulator, fake: FakeTime) -> None:
    """
    Wrong credentials: an AuthenticationError with the service's code, caught outside.
    """
    wrong = OAuth1Credentials(
        consumer_key=emu.credentials.consumer_key,
        consumer_secret="not-the-secret",
        access_token=emu.credentials.access_token,
        access_token_secret=emu.credentials.access_token_secret,
    )
    with pytest.raises(AuthenticationError) as info:
        async with AsyncMediaClient(
            wrong, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
        ) as client:
            await client.upload(png())
    assert info.value.status_code == 401
    assert info.value.errors[0][0] == 32
    assert "not-the-secret" not in str(info.value)
    assert emu.stats.rejected_401 == 1


async def test_429_after_retries_is_caught_outside(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    429s beyond the retry budget end in RateLimitError outside the block, after 1 + 2 requests.
    """
    reset = int(fake.now) + 30
    emu.fail_next(
        5,
        status=429,
        command="upload",
        headers={
            "x-rate-limit-limit": "415",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    with pytest.raises(RateLimitError) as info:
        async with _client(emu, fake, max_retries=2) as client:
            await client.upload(png())
    assert info.value.status_code == 429
    assert info.value.reset_at is not None
    assert int(info.value.reset_at.timestamp()) == reset
    assert emu.stats.injected_failures == 3


async def test_processing_failure_is_caught_outside(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A video the service fails to process raises MediaProcessingError outside the block.
    """
    emu.set_processing(
        "fail", error_code=1, error_name="InvalidMedia", error_message="bad file"
    )
    with pytest.raises(MediaProcessingError) as info:
        async with _client(emu, fake) as client:
            await client.upload(mp4(64 * 1024), media_category="tweet_video")
    assert (info.value.code, info.value.name) == (1, "InvalidMedia")
    assert info.value.resume is not None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_transport_failure_is_caught_outside(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    Nobody listening: TransportError outside the block once the retries are spent.
    """
    with pytest.raises(TransportError) as info:
        async with AsyncMediaClient(
            emu.credentials,
            base_url=f"http://127.0.0.1:{_closed_port()}",
            max_retries=1,
            sleep=fake.sleep,
        ) as client:
            await client.upload(png())
    assert info.value.__cause__ is not None
    assert len(fake.sleeps) == 1  # one backoff before the single retry


async def test_status_and_alt_text_errors_are_caught_outside(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    status() and set_alt_text() errors leave the block unwrapped, before or after I/O.
    """
    with pytest.raises(APIError) as info:
        async with _client(emu, fake) as client:
            await client.status(1349803915521482754)
    assert info.value.status_code == 400
    assert emu.stats.requests == 1

    with pytest.raises(InvalidMediaError):
        async with _client(emu, fake) as client:
            await client.set_alt_text("not-an-id", "A cat")
    with pytest.raises(InvalidMediaError):
        async with _client(emu, fake) as client:
            await client.set_alt_text(1, "x" * 1001)
    assert emu.stats.requests == 1


async def test_a_callback_error_in_upload_many_is_raised_as_is(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    The caller's progress callback failing ends upload_many with that very exception.
    """
    mine = KeyError("progress")

    def on_progress(sent: int, total: int) -> NoReturn:
        raise mine

    with pytest.raises(KeyError) as info:
        async with _client(emu, fake, max_concurrency=3) as client:
            await client.upload_many(
                [png(i) for i in range(1, 7)], on_progress=on_progress
            )
    assert info.value is mine


async def test_a_failing_upload_many_cancels_its_other_uploads(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    The first callback error cancels the rest: far fewer than all six uploads are sent.
    """
    calls = 0

    def on_progress(sent: int, total: int) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        async with _client(emu, fake, max_concurrency=1) as client:
            await client.upload_many(
                [png(i) for i in range(1, 7)], on_progress=on_progress
            )
    assert calls == 1
    assert emu.stats.requests <= 1


async def test_iter_upload_errors_are_caught_outside(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    An error in the sources, or in the caller's callback, ends the loop and leaves the block as is.
    """
    listing = OSError("listing failed")

    def sources() -> Iterator[bytes]:
        yield png(1)
        raise listing

    with pytest.raises(OSError, match="listing failed") as info:
        async with _client(emu, fake) as client:
            async for _ in client.iter_upload(sources()):
                pass
    assert info.value is listing

    mine = KeyError("callback")

    def on_progress(sent: int, total: int) -> NoReturn:
        raise mine

    with pytest.raises(KeyError) as key_info:
        async with _client(emu, fake) as client:
            async for _ in client.iter_upload([png(2)], on_progress=on_progress):
                pass
    assert key_info.value is mine


async def test_iter_upload_failed_items_stay_items(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A TwUploadError of one source is that source's BatchItem, with its index, not an exception.
    """
    async with _client(emu, fake) as client:
        items = [
            item
            async for item in client.iter_upload(
                [png(1), b"", png(3)], alt_text="A test card"
            )
        ]
    by_index = sorted(items, key=lambda item: item.index)
    assert [item.index for item in by_index] == [0, 1, 2]
    assert isinstance(by_index[1].error, InvalidMediaError)
    assert by_index[0].ok
    assert by_index[2].ok
    stored = {r.alt_text for r in emu.media.values()}
    assert stored == {"A test card"}  # the options reached every upload
    assert len(emu.media) == 2


async def test_breaking_out_of_iter_upload_then_raising(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    Breaking out of the loop and then failing still gives the caller their own exception.
    """
    mine = RuntimeError("after the loop")
    with pytest.raises(RuntimeError) as info:
        async with _client(emu, fake, max_concurrency=2) as client:
            async for _ in client.iter_upload([png(i) for i in range(1, 9)]):
                break
            raise mine
    assert info.value is mine


async def test_cancellation_leaves_nothing_behind(
    emu: Emulator, fake: FakeTime, tmp_path: Path, opened: list[Any]
) -> None:
    """
    Cancelling the block mid-upload ends quietly: files closed, connections closed, sources closed.
    """
    path = tmp_path / "a.png"
    path.write_bytes(png(3, pad=50_000))
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        for width in itertools.count(1):
            pulled += 1
            yield png(width)

    sources = endless()
    with anyio.CancelScope() as scope:
        async with _client(emu, fake, max_concurrency=2) as client:
            batch = client.iter_upload(sources)
            await batch.__anext__()

            def cancel(sent: int, total: int) -> None:
                scope.cancel()

            await client.upload(path, on_progress=cancel)
    assert scope.cancelled_caught
    assert client._http.is_closed
    assert opened
    assert all(file.closed for file in opened)
    pulled_at_exit = pulled
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    assert pulled == pulled_at_exit <= 1 + 2  # the first, then at most one per slot
    await sources.aclose()


async def test_an_outer_cancel_is_not_swallowed(emu: Emulator, fake: FakeTime) -> None:
    """
    A cancellation from an enclosing scope still propagates to that scope.
    """
    reached = False
    with anyio.CancelScope() as outer:
        async with _client(emu, fake) as client:
            outer.cancel()
            await anyio.lowlevel.checkpoint()
            reached = True
    assert outer.cancelled_caught
    assert not reached
    assert client._http.is_closed


async def test_twupload_base_url_points_unchanged_code_at_the_emulator(
    emu: Emulator, fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    With TWUPLOAD_BASE_URL set, a client built without base_url= talks to that URL.
    """
    monkeypatch.setenv("TWUPLOAD_BASE_URL", emu.url)
    async with AsyncMediaClient(emu.credentials) as client:
        result = await client.upload(png(5))
    assert emu.get_media(result.media_id).width == 5


async def test_an_explicit_base_url_beats_the_environment(
    emu: Emulator, fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    base_url= wins over TWUPLOAD_BASE_URL, and a bad variable is named in the error.
    """
    monkeypatch.setenv("TWUPLOAD_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    async with AsyncMediaClient(emu.credentials, base_url=emu.url) as client:
        await client.upload(png(6))
    assert emu.stats.requests == 1

    monkeypatch.setenv("TWUPLOAD_BASE_URL", "127.0.0.1:8765")
    with pytest.raises(twupload.ConfigurationError, match="TWUPLOAD_BASE_URL"):
        AsyncMediaClient(emu.credentials)
    with pytest.raises(twupload.ConfigurationError) as info:
        AsyncMediaClient(emu.credentials, base_url="ftp://x")
    assert "TWUPLOAD_BASE_URL" not in str(info.value)


class _FailingFile(io.BytesIO):
    """
    A seekable file whose read fails once the upload is under way.
    """

    def __init__(self, data: bytes, error: Exception) -> None:
        super().__init__(data)
        self.error = error
        self.starts = 0

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() == 0:
            self.starts += 1
        elif self.tell() > 1024 * 1024:
            raise self.error
        return super().read(size)


async def test_a_source_failing_mid_body_is_raised_as_is_and_not_retried(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A read error half-way through the body is the caller's OSError, sent once, on every transport.

    The httpx-aiohttp transport re-raises a body's own failure as a network
    timeout; twupload must neither retry it nor report it as a TransportError.
    """
    disk = OSError("disk went away")
    source = _FailingFile(png(4, pad=3 * 1024 * 1024), disk)
    with pytest.raises(OSError, match="disk went away") as info:
        async with _client(emu, fake, max_retries=3) as client:
            await client.upload(source, media_category="tweet_image")
    assert info.value is disk
    assert source.starts == 1
    assert fake.sleeps == []
