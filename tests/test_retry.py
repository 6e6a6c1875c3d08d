"""
Retries: which failures are retried, how long the client waits, and when it gives up.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import time as stdlib_time

from typing import TYPE_CHECKING

import httpx
import pytest

from twupload import APIError, AsyncMediaClient, RateLimitError, TransportError
from twupload._ratelimit import RateLimiter
from twupload._retry import RetryPolicy, reset_wait, retry_after
from twupload._transport import Transport

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Sequence

    import respx

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
OK = httpx.Response(
    200,
    json={"media_id": 1, "media_id_string": "1", "image": {"image_type": "image/png"}},
)
NOW = 1_767_225_600.0


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
    # Each wait lies under its doubling ceiling (the exact schedule is tested below).
    assert len(time.sleeps) == 3
    assert all(0 <= s < c for s, c in zip(time.sleeps, [0.5, 1, 2], strict=True))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_every_retryable_status_is_retried(
    mock: respx.MockRouter, creds: OAuth1Credentials, status: int
) -> None:
    """
    429, 500, 502 (bad gateway) and 504 (gateway timeout) are retried like 503.
    """
    route = mock.post(UPLOAD).mock(side_effect=[httpx.Response(status), OK])
    time = FakeTime(NOW)
    async with _client(creds, time, max_retries=1) as client:
        result = await client.upload(png())
    assert result.media_id == 1
    assert route.call_count == 2
    assert len(time.sleeps) == 1


@pytest.mark.parametrize("status", [400, 404, 413, 501, 505])
async def test_other_errors_are_not_retried(
    mock: respx.MockRouter, creds: OAuth1Credentials, status: int
) -> None:
    """
    Statuses a retry cannot fix, 501 and 505 among them, fail after one request.
    """
    route = mock.post(UPLOAD).mock(side_effect=[httpx.Response(status), OK])
    time = FakeTime(NOW)
    async with _client(creds, time, max_retries=3) as client:
        with pytest.raises(APIError) as info:
            await client.upload(png())
    assert info.value.status_code == status
    assert route.call_count == 1
    assert time.sleeps == []


class Draws:
    """
    A scripted jitter source that counts its draws.
    """

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self.drawn = 0

    def __call__(self) -> float:
        value = self.values[self.drawn]
        self.drawn += 1
        return value


async def _send(
    answers: Sequence[httpx.Response | Exception],
    time: FakeTime,
    *,
    rng: Callable[[], float] = lambda: 0.5,
    **policy: float,
) -> tuple[httpx.Response, int]:
    """
    Send one request through a Transport whose network answers *answers* in turn.

    Returns the final response and how many requests went out.
    """
    pending = list(answers)
    sent = 0

    def network(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as http:
        transport = Transport(
            http,
            auth=httpx.Auth(),
            policy=RetryPolicy(**policy),  # type: ignore[arg-type]
            limiter=RateLimiter(clock=time.clock, sleep=time.sleep),
            clock=time.clock,
            sleep=time.sleep,
            rng=rng,
        )
        response = await transport.send(
            "upload",
            lambda: httpx.Request("POST", UPLOAD, content=b"body"),
            operation="upload",
        )
    return response, sent


async def test_backoff_schedule_is_capped_exponential_with_full_jitter() -> None:
    """
    Retry n waits jitter x min(cap, base x 2^(n-1)): 0.5, 1, 2, 4, then 8 and 8 capped.
    """
    draws = Draws([0.5, 0.25, 0.75, 0.125, 0.875, 0.375])
    time = FakeTime(NOW)
    answers: list[httpx.Response | Exception] = [httpx.Response(503)] * 6
    response, sent = await _send(
        [*answers, httpx.Response(200)],
        time,
        rng=draws,
        max_retries=6,
        backoff_base=0.5,
        backoff_cap=8.0,
    )
    assert response.status_code == 200
    assert sent == 7
    assert draws.drawn == 6  # one draw per retry
    assert time.sleeps == [
        0.5 * 0.5,
        1.0 * 0.25,
        2.0 * 0.75,
        4.0 * 0.125,
        8.0 * 0.875,
        8.0 * 0.375,
    ]


async def test_network_failures_back_off_on_the_same_schedule() -> None:
    """
    Connection failures wait the same jittered, doubling ceilings as 5xx answers.
    """
    time = FakeTime(NOW)
    failures: list[httpx.Response | Exception] = [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ]
    response, sent = await _send(
        [*failures, httpx.Response(200)],
        time,
        rng=Draws([0.5, 0.5, 0.5]),
        backoff_base=1.0,
        backoff_cap=3.0,
    )
    assert response.status_code == 200
    assert sent == 4
    assert time.sleeps == [0.5, 1.0, 1.5]  # ceilings 1, 2, then 3 (capped at 3)


async def test_429_without_any_hint_backs_off_then_raises_rate_limit_error(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A bare 429 (no Retry-After, no x-rate-limit-*) backs off like a 5xx, then gives up.
    """
    time = FakeTime(NOW)
    response, sent = await _send(
        [httpx.Response(429), httpx.Response(429), httpx.Response(200)],
        time,
        rng=Draws([0.5, 0.5]),
    )
    assert response.status_code == 200
    assert sent == 3
    assert time.sleeps == [0.25, 0.5]

    route = mock.post(UPLOAD).respond(429)
    time = FakeTime(NOW)
    async with _client(creds, time, max_retries=2) as client:
        with pytest.raises(RateLimitError, match="gave up after 3 attempts") as info:
            await client.upload(png())
    assert info.value.reset_at is None  # the service did not say
    assert route.call_count == 3
    assert len(time.sleeps) == 2
    assert all(0 <= s < c for s, c in zip(time.sleeps, [0.5, 1.0], strict=True))


# An injected clock far from the real one: the wait must come from it, not time.time().
LONG_AGO = 1_000_000_000.0  # 2001-09-09T01:46:40Z


@pytest.mark.parametrize(
    "value",
    [
        email.utils.formatdate(LONG_AGO + 42, usegmt=True),  # IMF-fixdate
        "Sunday, 09-Sep-01 01:47:22 GMT",  # RFC 850
        "Sun Sep  9 01:47:22 2001",  # asctime
    ],
)
@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_http_date_is_read_against_the_injected_clock(
    value: str, status: int
) -> None:
    """
    Retry-After as an HTTP date, in each RFC 9110 form, waits until that date by the clock.
    """
    time = FakeTime(LONG_AGO)
    response, sent = await _send(
        [httpx.Response(status, headers={"retry-after": value}), httpx.Response(200)],
        time,
    )
    assert response.status_code == 200
    assert sent == 2
    assert time.sleeps == [42.0]


async def test_retry_after_in_the_past_retries_at_once() -> None:
    """
    A Retry-After date already past means no wait at all.
    """
    time = FakeTime(LONG_AGO)
    past = email.utils.formatdate(LONG_AGO - 600, usegmt=True)
    response, _ = await _send(
        [httpx.Response(429, headers={"retry-after": past}), httpx.Response(200)],
        time,
    )
    assert response.status_code == 200
    assert time.sleeps == [0.0]


async def test_retry_after_beyond_the_budget(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Too long a Retry-After raises RateLimitError at once for a 429 and caps a 5xx's wait.
    """
    time = FakeTime(NOW)
    route = mock.post(UPLOAD).respond(429, headers={"retry-after": "3600"})
    async with _client(creds, time, max_rate_limit_wait=60) as client:
        with pytest.raises(RateLimitError) as info:
            await client.upload(png())
    assert route.call_count == 1
    assert time.sleeps == []
    assert info.value.reset_at == dt.datetime.fromtimestamp(NOW + 3600, dt.timezone.utc)

    time = FakeTime(NOW)
    response, sent = await _send(
        [httpx.Response(503, headers={"retry-after": "3600"}), httpx.Response(200)],
        time,
        max_rate_limit_wait=60,
    )
    assert (response.status_code, sent) == (200, 2)
    assert time.sleeps == [60.0]


async def test_absurd_retry_after_raises_without_a_reset_time(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A Retry-After past the year 9999 still raises RateLimitError, with reset_at None.
    """
    mock.post(UPLOAD).respond(429, headers={"retry-after": "9" * 400})
    time = FakeTime(NOW)
    async with _client(creds, time) as client:
        with pytest.raises(RateLimitError) as info:
            await client.upload(png())
    assert info.value.reset_at is None
    assert time.sleeps == []


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
    assert policy.backoff(1, rng=lambda: 0.0) == 0.0
    # A long retry budget stays at the cap instead of overflowing 2.0 ** n.
    assert policy.backoff(5000, rng=lambda: 0.5) == 4.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("12", 12.0),
        (" 0 ", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Thursday, 01-Jan-26 00:00:30 GMT", 30.0),
        ("Thu Jan  1 00:00:30 2026", 30.0),
        ("Thu, 01 Jan 2026 00:00:30 -0000", 30.0),
        ("Thu, 01 Jan 2026 01:00:30 +0100", 30.0),
        ("9" * 400, float("inf")),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Thu, 01 Jan 99999 00:00:30 GMT", None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """
    Retry-After accepts delay seconds and HTTP dates in all three forms; junk is ignored.
    """
    headers = httpx.Headers({} if value is None else {"retry-after": value})
    assert retry_after(headers, now=NOW) == expected


@pytest.fixture
def local_time_west_of_utc() -> Iterator[None]:
    """
    Run with the process's local time five hours behind UTC.
    """
    if not hasattr(stdlib_time, "tzset"):  # pragma: no cover - Windows
        pytest.skip("needs time.tzset")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XST+05"
    stdlib_time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:  # pragma: no cover - depends on the environment
            os.environ["TZ"] = saved
        stdlib_time.tzset()


@pytest.mark.usefixtures("local_time_west_of_utc")
@pytest.mark.parametrize(
    "value", ["Thu Jan  1 00:00:30 2026", "Thu, 01 Jan 2026 00:00:30 -0000"]
)
def test_zoneless_http_dates_are_gmt_not_local_time(value: str) -> None:
    """
    An asctime date names no zone and "-0000" names none known: both are GMT (RFC 9110).
    """
    assert stdlib_time.timezone == 5 * 3600
    assert retry_after(httpx.Headers({"retry-after": value}), now=NOW) == 30.0


@pytest.mark.parametrize("digit", ["\N{SUPERSCRIPT TWO}", "\N{SUPERSCRIPT ONE}0"])
def test_non_ascii_digits_are_junk_not_a_crash(digit: str) -> None:
    """
    Latin-1 superscripts pass str.isdigit but not int(); they are ignored like junk.
    """
    raw = digit.encode("latin-1")
    headers = httpx.Headers([(b"retry-after", raw), (b"x-rate-limit-reset", raw)])
    assert retry_after(headers, now=NOW) is None
    assert reset_wait(headers, now=NOW, skew=1) is None


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
