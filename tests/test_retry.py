"""
Retries: which failures are retried, how long the client waits, and when it gives up.
"""

from __future__ import annotations

import email.utils

from typing import TYPE_CHECKING

import httpx
import pytest
import respx

from twupload import APIError, AsyncMediaClient, RateLimitError, TransportError
from twupload._retry import RetryPolicy, reset_wait, retry_after

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
OK = httpx.Response(
    200,
    json={"media_id": 1, "media_id_string": "1", "image": {"image_type": "image/png"}},
)
NOW = 1_767_225_600.0


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def _client(
    creds: OAuth1Credentials, time: FakeTime, **options: object
) -> AsyncMediaClient:
    return AsyncMediaClient(creds, clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


async def test_5xx_and_network_failures_are_retried_with_fresh_bodies(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Two 503s and a dropped connection end in success, each attempt re-sending the whole body.
    """
    data = png()
    route = mock.post(UPLOAD).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(503),
            httpx.RemoteProtocolError("peer closed connection mid-body"),
            OK,
        ]
    )
    time = FakeTime(NOW)
    async with _client(creds, time, max_retries=3) as client:
        result = await client.upload(data)
    assert result.media_id == 1
    assert route.call_count == 4
    assert all(data in call.request.content for call in route.calls)
    assert len(time.sleeps) == 3
    assert all(0 <= s <= 8 for s in time.sleeps)


async def test_permanent_4xx_is_not_retried(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A 400 raises at once, after exactly one request.
    """
    route = mock.post(UPLOAD).respond(
        400, json={"errors": [{"code": 38, "message": "m"}]}
    )
    time = FakeTime(NOW)
    async with _client(creds, time) as client:
        with pytest.raises(APIError, match=r"\[38\] m"):
            await client.upload(png())
    assert route.call_count == 1
    assert time.sleeps == []


async def test_retries_spent_says_how_many_attempts(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    With max_retries=1, a persistent 500 is tried twice and reported as such.
    """
    route = mock.post(UPLOAD).respond(
        500, text="oops", headers={"x-transaction-id": "tx"}
    )
    async with _client(creds, FakeTime(NOW), max_retries=1) as client:
        with pytest.raises(APIError, match="gave up after 2 attempts") as info:
            await client.upload(png())
    assert route.call_count == 2
    assert info.value.request_id == "tx"


async def test_network_failure_after_retries_is_transport_error(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Connect errors that outlast the retries become TransportError with the httpx cause.
    """
    mock.post(UPLOAD).mock(side_effect=httpx.ConnectError("refused"))
    async with _client(creds, FakeTime(NOW), max_retries=2) as client:
        with pytest.raises(TransportError, match="after 3 attempts") as info:
            await client.upload(png())
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_one_shot_stream_is_not_retried(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    An async iterable source fails at the first 503 and the error says why.
    """
    data = png()

    async def stream() -> AsyncIterator[bytes]:
        yield data

    route = mock.post(UPLOAD).mock(side_effect=[httpx.Response(503), OK])
    async with _client(creds, FakeTime(NOW)) as client:
        with pytest.raises(APIError, match="one-shot stream"):
            await client.upload(stream(), size=len(data))
    assert route.call_count == 1


async def test_429_waits_for_the_reset_then_succeeds(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A 429 whose window resets two seconds ahead is waited out (plus skew) and retried.
    """
    limited = httpx.Response(
        429,
        json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
        headers={
            "x-rate-limit-limit": "10",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(NOW) + 2),
        },
    )
    route = mock.post(UPLOAD).mock(side_effect=[limited, OK])
    time = FakeTime(NOW)
    async with _client(creds, time, max_retries=1) as client:
        result = await client.upload(png())
    assert result.media_id == 1
    assert route.call_count == 2
    assert time.sleeps == [3.0]  # two seconds to the reset, one of skew margin


async def test_429_beyond_max_wait_raises_rate_limit_error(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A reset farther away than max_rate_limit_wait raises RateLimitError without sleeping.
    """
    reset = int(NOW) + 3600
    route = mock.post(UPLOAD).respond(
        429,
        json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
        headers={
            "x-rate-limit-limit": "10",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    time = FakeTime(NOW)
    async with _client(creds, time, max_rate_limit_wait=60) as client:
        with pytest.raises(RateLimitError) as info:
            await client.upload(png())
    assert info.value.reset_at is not None
    assert info.value.reset_at.timestamp() == reset
    assert route.call_count == 1
    assert time.sleeps == []


async def test_retry_after_is_honoured(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Retry-After on a 503 and on a 429 sets the wait.
    """
    route = mock.post(UPLOAD).mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": "7"}),
            httpx.Response(429, headers={"retry-after": "4"}),
            OK,
        ]
    )
    time = FakeTime(NOW)
    async with _client(creds, time) as client:
        await client.upload(png())
    assert route.call_count == 3
    assert time.sleeps == [7.0, 4.0]


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    """
    The ceiling doubles per attempt up to the cap; jitter scales it by [0, 1).
    """
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in range(1, 7)] == [
        0.5,
        1,
        2,
        4,
        8,
        8,
    ]
    assert policy.backoff(3, rng=lambda: 0.25) == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("12", 12.0),
        (" 0 ", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """
    Retry-After accepts delta seconds and HTTP dates; junk is ignored.
    """
    headers = httpx.Headers({} if value is None else {"retry-after": value})
    assert retry_after(headers, now=NOW) == expected


def test_reset_wait_parsing() -> None:
    """
    x-rate-limit-reset becomes seconds from now plus skew; absent or junk gives None.
    """
    assert (
        reset_wait(
            httpx.Headers({"x-rate-limit-reset": str(int(NOW) + 5)}), now=NOW, skew=1
        )
        == 6
    )
    assert (
        reset_wait(
            httpx.Headers({"x-rate-limit-reset": str(int(NOW) - 5)}), now=NOW, skew=1
        )
        == 1
    )
    assert reset_wait(httpx.Headers({}), now=NOW, skew=1) is None
    assert (
        reset_wait(httpx.Headers({"x-rate-limit-reset": "x"}), now=NOW, skew=1) is None
    )
