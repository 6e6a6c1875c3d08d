"""
The acceptance scenarios of tests/test_acceptance.py, over the X API v2 against the emulator.

Each runs with OAuth 1.0a credentials and with an OAuth 2.0 bearer token, on
asyncio and trio; client and emulator share one fake clock, so rate-limit
windows and processing pass without real waiting. Errors are caught outside
``async with AsyncMediaClient(...)``, where a caller catches them.
"""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING, Any

import pytest

import twupload

from twupload import (
    APIError,
    AsyncMediaClient,
    AuthenticationError,
    BearerToken,
    InvalidMediaError,
    MediaProcessingError,
    OAuth1Credentials,
    UploadTimeoutError,
)

from samples import gif, mp4, png


if TYPE_CHECKING:
    from twupload.testing import Emulator

    from fakes import FakeTime


# On asyncio these run on the httpx-aiohttp transport (twupload[fast]); on trio
# on httpx's own.
pytestmark = [pytest.mark.anyio, pytest.mark.aiohttp_transport]

MIB = 1024 * 1024


@pytest.fixture(params=["oauth1", "bearer"])
def auth(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def creds(emu: Emulator, auth: str) -> OAuth1Credentials | BearerToken:
    if auth == "oauth1":
        return emu.credentials
    return BearerToken(emu.issue_token(refresh=False).access_token)


def _client(
    emu: Emulator,
    fake: FakeTime,
    creds: OAuth1Credentials | BearerToken,
    **options: Any,
) -> AsyncMediaClient:
    return AsyncMediaClient(
        creds,
        api="2",
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
        **options,
    )


async def test_simple_upload_with_owners_and_alt_text(
    emu: Emulator,
    fake: FakeTime,
    creds: OAuth1Credentials | BearerToken,
    auth: str,
) -> None:
    """
    An image goes up in one request, its alt text through /2/media/metadata.
    """
    data = png(31, 17)
    async with _client(emu, fake, creds) as client:
        result = await client.upload(
            data, additional_owners=[12, "34"], alt_text="A red box"
        )
    record = emu.get_media(result.media_id)
    assert (record.data, record.alt_text, record.additional_owners) == (
        data,
        "A red box",
        ("12", "34"),
    )
    assert (record.category, record.api, record.width, record.height) == (
        "tweet_image",
        "2",
        31,
        17,
    )
    assert result.media_key == f"3_{result.media_id}"
    assert result.image is not None
    assert (result.image.w, result.image.h) == (31, 17)
    assert [(r.path, r.status, r.api, r.auth) for r in emu.requests] == [
        ("/2/media/upload", 200, "2", auth),
        ("/2/media/metadata", 200, "2", auth),
    ]


async def test_chunked_video_arrives_byte_exact_and_is_processed(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    initialize, one append per segment (exact sizes), finalize, STATUS on time until succeeded.
    """
    emu.set_processing("succeed", steps=2, check_after_secs=3)
    data = mp4(5 * MIB + 777)
    async with _client(emu, fake, creds, segment_bytes=MIB) as client:
        result = await client.upload(data, alt_text=None)
    record = emu.get_media(result.media_id)
    assert record.data == data
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert [(s.index, s.size) for s in record.segments] == [
        *((i, MIB) for i in range(5)),
        (5, 777),
    ]
    assert (record.category, record.processing_state) == ("tweet_video", "succeeded")
    assert result.processing is not None
    assert result.processing.state == "succeeded"
    assert result.video is not None
    stats = emu.stats
    assert dict(stats.by_command) == {
        "INIT": 1,
        "APPEND": 6,
        "FINALIZE": 1,
        "STATUS": 3,
    }
    assert stats.early_status_polls == 0
    assert sum(1 for s in fake.sleeps if s == 3) >= 3


async def test_animated_gif_goes_chunked_with_alt_text(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    An animated GIF is uploaded in chunks as tweet_gif, processed, and takes alt text.
    """
    async with _client(emu, fake, creds) as client:
        result = await client.upload(gif(3, loop=True), alt_text="dancing")
    record = emu.get_media(result.media_id)
    assert (record.media_key, record.alt_text) == (f"16_{result.media_id}", "dancing")
    assert record.processing_state == "succeeded"


async def test_processing_failure_is_raised_outside_the_client(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    ``failed`` processing ends the upload with MediaProcessingError, catchable outside the block.
    """
    emu.set_processing(
        "fail", error_code=3, error_name="UnsupportedMedia", error_message="no"
    )
    with pytest.raises(MediaProcessingError) as caught:
        async with _client(emu, fake, creds) as client:
            await client.upload(mp4(4000))
    assert (caught.value.code, caught.value.name) == (3, "UnsupportedMedia")
    assert emu.get_media(caught.value.media_id or 0).processing_state == "failed"


async def test_processing_deadline_is_raised_outside_the_client(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    Processing that stays pending ends in UploadTimeoutError at the deadline, never early polls.
    """
    emu.set_processing("pending_forever", check_after_secs=5)
    with pytest.raises(UploadTimeoutError):
        async with _client(emu, fake, creds, processing_timeout=20) as client:
            await client.upload(mp4(4000), media_category="amplify_video")
    assert emu.stats.by_command["STATUS"] == 4
    assert emu.stats.early_status_polls == 0


async def test_a_batch_through_a_small_window_never_meets_an_exhausted_one(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    25 images at concurrency 8 through 10 one-shot uploads per 3 s: all succeed, zero 429s.
    """
    emu.set_rate_limit("upload", limit=10, window=3.0, api="2")
    async with _client(emu, fake, creds, max_concurrency=8) as client:
        results = await client.upload_many([png(i) for i in range(1, 26)])
    assert all(not isinstance(r, Exception) for r in results)
    assert len({r.media_id for r in results}) == 25  # type: ignore[union-attr]
    stats = emu.stats
    assert stats.rejected_429 == 0
    assert stats.by_status == {200: 25}
    assert sum(fake.sleeps) >= 2 * 3.0


async def test_503s_429s_and_drops_are_absorbed(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    Two 503s, a 429 with a reset ahead and a dropped connection all end in success.
    """
    reset = int(fake.now) + 2
    emu.fail_next(2, status=503, command="upload")
    emu.fail_next(
        status=429,
        command="upload",
        headers={
            "x-rate-limit-limit": "500",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    emu.drop_next(after_bytes=200, command="upload")
    async with _client(emu, fake, creds, max_concurrency=1, max_retries=5) as client:
        results = await client.upload_many([png(i, pad=2000) for i in range(1, 5)])
    assert all(not isinstance(r, Exception) for r in results)
    stats = emu.stats
    assert (stats.injected_failures, stats.dropped_connections) == (3, 1)
    assert stats.by_status[200] == 4
    assert fake.now >= reset


async def test_a_refused_segment_is_retried_alone(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    A 503 on one append is retried; the media still arrives byte-exact.
    """
    emu.fail_next(status=503, command="APPEND")
    data = mp4(3 * MIB)
    async with _client(emu, fake, creds, segment_bytes=MIB) as client:
        result = await client.upload(data)
    assert emu.get_media(result.media_id).data == data
    assert emu.stats.by_command["APPEND"] == 4


@pytest.mark.parametrize(
    ("source", "options"),
    [
        (b"just some text", {}),
        (png(), {"alt_text": "x" * 1001}),
        (mp4(4000), {"alt_text": "a video"}),
        (png(), {"media_category": "tweet_video"}),
        (png(), {"encoding": "base64"}),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    emu: Emulator,
    fake: FakeTime,
    creds: OAuth1Credentials | BearerToken,
    source: bytes,
    options: dict[str, Any],
) -> None:
    """
    Input the service would refuse raises InvalidMediaError before a byte is sent.
    """
    with pytest.raises(InvalidMediaError):
        async with _client(emu, fake, creds) as client:
            await client.upload(source, **options)
    assert emu.stats.requests == 0


async def test_a_usage_cap_fails_at_once(
    emu: Emulator, fake: FakeTime, creds: OAuth1Credentials | BearerToken
) -> None:
    """
    A usage-cap 429 is not waited out or retried: one request, then UsageCapError.
    """
    emu.cap_usage()
    with pytest.raises(twupload.UsageCapError) as caught:
        async with _client(emu, fake, creds) as client:
            await client.upload(png())
    assert caught.value.status_code == 429
    assert emu.stats.requests == 1
    assert fake.sleeps == []


async def test_the_v1_1_api_refused_with_453_and_v2_still_works(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    An account without v1.1 access gets 403 code 453 there; the same keys work on v2.
    """
    emu.refuse_v1_1()
    with pytest.raises(AuthenticationError) as caught:
        async with AsyncMediaClient(
            emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
        ) as client:
            await client.upload(png())
    assert caught.value.status_code == 403
    assert caught.value.errors[0][0] == 453
    async with _client(emu, fake, emu.credentials) as client:
        result = await client.upload(png())
    assert emu.get_media(result.media_id).api == "2"


async def test_an_expiring_token_is_refreshed_with_one_token_request(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A token that expires within a minute is refreshed once, before the upload; the old refresh token dies.
    """
    issued = emu.issue_token(expires_in=120)
    fake.now += 61  # the token has 59 s left: too few to start an upload with
    seen: list[BearerToken] = []
    async with _client(
        emu, fake, issued.bearer_token(), on_token_refresh=seen.append
    ) as client:
        first = await client.upload(png(1))
        second = await client.upload(png(2))
    assert first.media_id != second.media_id
    assert emu.stats.token_requests == 1
    (new,) = seen
    assert new.refresh_token not in {None, issued.refresh_token}
    assert [r.command for r in emu.requests] == ["token", "upload", "upload"]
    assert {r.auth for r in emu.requests if r.command == "upload"} == {"bearer"}


async def test_an_expired_token_without_refresh_fails_outside_the_client(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A token past its expiry, with nothing to refresh it, is an AuthenticationError (401).
    """
    token = BearerToken(emu.issue_token(expires_in=10, refresh=False).access_token)
    fake.now += 10
    with pytest.raises(AuthenticationError) as caught:
        async with _client(emu, fake, token) as client:
            await client.upload(png())
    assert caught.value.status_code == 401
    assert emu.requests[-1].note == "bearer token expired"


async def test_a_token_without_media_write_fails_outside_the_client(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A token without the media.write scope is refused with 403, an AuthenticationError.
    """
    token = BearerToken(emu.issue_token(["tweet.read"], refresh=False).access_token)
    with pytest.raises(AuthenticationError) as caught:
        async with _client(emu, fake, token) as client:
            await client.upload(png())
    assert caught.value.status_code == 403
    assert "media.write" in str(caught.value)
    assert isinstance(caught.value, APIError)
