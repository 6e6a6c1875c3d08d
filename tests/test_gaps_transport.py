"""
Sending and giving up: the corners of the transport a mutation run found untested.

Every error is caught outside ``async with AsyncMediaClient(...)``, as users write it.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from typing import TYPE_CHECKING

import httpx
import pytest

from twupload import APIError, AsyncMediaClient, RateLimitError, TransportError

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import respx

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
OK = httpx.Response(
    200,
    json={"media_id": 1, "media_id_string": "1", "image": {"image_type": "image/png"}},
)
NOW = 1_767_225_600.0
FAILED_503 = "upload failed with HTTP 503. The service failed; try again later."
ONE_SHOT = (
    " The source is a one-shot stream, so it was not retried; pass a path, bytes or "
    "a seekable file to allow retries."
)


def _client(
    creds: OAuth1Credentials, time: FakeTime, **options: object
) -> AsyncMediaClient:
    return AsyncMediaClient(creds, clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("max_retries", "tries"),
    [(0, "after 1 attempt"), (1, "after 2 attempts"), (3, "after 4 attempts")],
)
async def test_giving_up_counts_the_attempts_and_adds_nothing_else(
    mock: respx.MockRouter, creds: OAuth1Credentials, max_retries: int, tries: str
) -> None:
    """
    A replayable upload that keeps failing says how often it tried, and nothing about streams.
    """
    route = mock.post(UPLOAD).respond(503)
    time = FakeTime(NOW)
    with pytest.raises(APIError) as info:
        async with _client(creds, time, max_retries=max_retries) as client:
            await client.upload(png())
    assert str(info.value) == f"{FAILED_503} (gave up {tries}.)"
    assert route.call_count == max_retries + 1
    assert len(time.sleeps) == max_retries


async def test_a_one_shot_stream_says_why_it_was_not_retried(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    An async iterable source fails at its first 503 with the whole explanation.
    """
    data = png()

    async def stream() -> AsyncIterator[bytes]:
        yield data

    route = mock.post(UPLOAD).mock(side_effect=[httpx.Response(503), OK])
    time = FakeTime(NOW)
    with pytest.raises(APIError) as info:
        async with _client(creds, time) as client:
            await client.upload(stream(), size=len(data))
    assert str(info.value) == f"{FAILED_503} (gave up after 1 attempt.){ONE_SHOT}"
    assert route.call_count == 1
    assert time.sleeps == []


async def test_a_network_failure_names_the_httpx_error(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    The TransportError message names the failure's type and text.
    """
    mock.post(UPLOAD).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        async with _client(creds, FakeTime(NOW), max_retries=2) as client:
            await client.upload(png())
    assert str(info.value) == (
        "upload: network failure after 3 attempts (ConnectError: refused). Check the "
        "connection and base_url."
    )
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_a_429_retried_until_spent_reads_its_retry_after_date(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    With no x-rate-limit-* headers, the last 429's Retry-After date becomes reset_at.
    """
    when = email.utils.formatdate(NOW + 5, usegmt=True)
    route = mock.post(UPLOAD).respond(429, headers={"retry-after": when})
    time = FakeTime(NOW)
    with pytest.raises(RateLimitError) as info:
        async with _client(creds, time, max_retries=1) as client:
            await client.upload(png())
    assert route.call_count == 2
    assert time.sleeps == [5.0]
    assert info.value.reset_at == dt.datetime.fromtimestamp(NOW + 5, dt.timezone.utc)


async def test_a_429_asking_for_exactly_the_budget_is_waited_out(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    max_rate_limit_wait is the longest wait allowed, not the first one refused.
    """
    route = mock.post(UPLOAD).mock(
        side_effect=[httpx.Response(429, headers={"retry-after": "60"}), OK]
    )
    time = FakeTime(NOW)
    async with _client(creds, time, max_rate_limit_wait=60) as client:
        result = await client.upload(png())
    assert result.media_id == 1
    assert route.call_count == 2
    assert time.sleeps == [60.0]
