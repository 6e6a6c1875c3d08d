"""
Pacing: never send into an exhausted window, shared by every task of a client.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    BearerToken,
    ConfigurationError,
    InvalidMediaError,
    RateLimit,
    RateLimitError,
    RateLimitScope,
    RateLimitStore,
)
from twupload._ratelimit import RateLimiter, read_limits, scope_for
from twupload._retry import RetryPolicy
from twupload._transport import Transport

from fakes import FakeTime
from samples import SECRETS, png


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

NOW = 1_767_225_600.0
SCOPE = RateLimitScope("0123456789abcdef", "1.1")
UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"


class PacingTime(FakeTime):
    """
    Fake time for the limiter, which never has a reason to sleep for nothing.

    A sleep of zero or less would be a pacing bug that spins forever on fake time.
    """

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"the limiter slept {seconds} s"
        await super().sleep(seconds)


async def _acquire(limiter: RateLimiter, key: str, *, max_wait: float = 900.0) -> bool:
    """
    Acquire, failing instead of hanging when a pacing bug would hold the request forever.
    """
    with anyio.fail_after(10):
        return await limiter.acquire(SCOPE, key, max_wait=max_wait)


async def _release(
    limiter: RateLimiter, key: str, probe: bool, headers: Mapping[str, str] | None
) -> None:
    await limiter.release(SCOPE, key, probe, headers=headers)


def _headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
    }


async def test_first_request_probes_then_headers_allow_the_rest() -> None:
    """
    One probe goes alone; its headers let the remaining count through; then tasks wait.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "upload") is True
    await _release(limiter, "upload", True, _headers(3, 2, NOW + 10))
    assert await _acquire(limiter, "upload") is False
    assert await _acquire(limiter, "upload") is False
    assert time.sleeps == []
    # The window is spent: the next acquire sleeps to the reset plus skew, then probes.
    assert await _acquire(limiter, "upload") is True
    assert time.sleeps == [11.0]
    assert limiter.snapshot(SCOPE) == {
        "upload": RateLimit(3, 2, dt.datetime.fromtimestamp(NOW + 10, dt.timezone.utc))
    }


async def test_waiters_queue_behind_the_probe() -> None:
    """
    While a probe is in flight, other tasks wait for its answer instead of sending.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    order: list[str] = []

    async def task(name: str) -> None:
        probe = await _acquire(limiter, "INIT")
        order.append(f"{name}:{'probe' if probe else 'go'}")

    assert await _acquire(limiter, "INIT") is True
    async with anyio.create_task_group() as group:
        group.start_soon(task, "a")
        group.start_soon(task, "b")
        await anyio.wait_all_tasks_blocked()
        assert order == []
        await _release(limiter, "INIT", True, _headers(10, 5, NOW + 60))
    assert sorted(order) == ["a:go", "b:go"]


async def test_in_flight_requests_are_subtracted_from_remaining() -> None:
    """
    A later response lowers what may still be sent by the requests already in flight.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "APPEND")
    await _release(limiter, "APPEND", True, _headers(10, 9, NOW + 60))
    for _ in range(5):
        await _acquire(limiter, "APPEND")
    # One of the five answers: 7 remain at the server, 4 of ours are still in flight.
    await _release(limiter, "APPEND", False, _headers(10, 7, NOW + 60))
    window = limiter.window(SCOPE, "APPEND").buckets[""]
    assert window.available == 3  # min(4 left locally, 7 - 4)
    # An older window's late answer is ignored.
    await _release(limiter, "APPEND", False, _headers(10, 9, NOW - 60))
    assert window.available == 3


async def test_no_headers_means_no_pacing() -> None:
    """
    When the probe's answer carries no rate-limit headers, requests are not paced.
    """
    limiter = RateLimiter()
    assert await _acquire(limiter, "STATUS") is True
    await _release(limiter, "STATUS", True, {})
    assert [await _acquire(limiter, "STATUS") for _ in range(3)] == [False] * 3


async def test_failed_probe_lets_the_next_task_probe() -> None:
    """
    A probe that got no response (network failure) hands the probe to the next task.
    """
    limiter = RateLimiter()
    assert await _acquire(limiter, "FINALIZE") is True
    await _release(limiter, "FINALIZE", True, None)
    assert await _acquire(limiter, "FINALIZE") is True


async def test_too_long_a_wait_raises() -> None:
    """
    An exhausted window that resets beyond max_wait raises RateLimitError without sleeping.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "upload")
    await _release(limiter, "upload", True, _headers(1, 0, NOW + 3600))
    with pytest.raises(RateLimitError, match="max_rate_limit_wait=60 s") as info:
        await _acquire(limiter, "upload", max_wait=60)
    assert info.value.reset_at is not None
    assert time.sleeps == []


async def _exhausted(limiter: RateLimiter, key: str, reset: float) -> None:
    assert await _acquire(limiter, key) is True
    await _release(limiter, key, True, _headers(1, 0, reset))


@pytest.mark.parametrize("now", [NOW + 9, NOW + 10, NOW + 10.5, NOW + 11.5])
async def test_nothing_is_sent_before_the_reset_plus_skew(now: float) -> None:
    """
    Before the reset, at it, and inside the skew margin after it, the next probe waits.

    It goes out exactly at reset + skew, never earlier (reset - skew would be too soon).
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=2)
    await _exhausted(limiter, "upload", NOW + 10)
    time.now = now
    assert await _acquire(limiter, "upload") is True
    assert time.now == NOW + 12
    assert time.sleeps == [NOW + 12 - now]


@pytest.mark.parametrize("now", [NOW + 12, NOW + 13])
async def test_from_reset_plus_skew_on_the_probe_goes_at_once(now: float) -> None:
    """
    Once reset + skew has passed, the window is unknown again and a probe goes unpaced.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=2)
    await _exhausted(limiter, "upload", NOW + 10)
    time.now = now
    assert await _acquire(limiter, "upload") is True
    assert time.sleeps == []


async def test_a_newer_windows_headers_replace_the_current_window() -> None:
    """
    An answer from the next window (a later reset) refills what may be sent at once.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "INIT") is True
    await _release(limiter, "INIT", True, _headers(3, 1, NOW + 10))
    assert await _acquire(limiter, "INIT") is False  # the window's last request
    # Its answer already comes from the next window, which resets at NOW + 25.
    await _release(limiter, "INIT", False, _headers(3, 2, NOW + 25))
    assert [await _acquire(limiter, "INIT") for _ in range(2)] == [False, False]
    assert time.sleeps == []
    assert limiter.snapshot(SCOPE)["INIT"].reset_at.timestamp() == NOW + 25
    # Then that window is spent too: the next request waits for its reset.
    assert await _acquire(limiter, "INIT") is True
    assert time.sleeps == [26.0]


async def test_a_late_answer_never_raises_the_count_of_the_same_window() -> None:
    """
    In one window, the lowest count wins: a late, higher remaining does not refill it.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "APPEND") is True
    await _release(limiter, "APPEND", True, _headers(10, 9, NOW + 60))
    assert [await _acquire(limiter, "APPEND") for _ in range(2)] == [False, False]
    # Another client spent five: the first answer says 3 remain, one of ours in flight.
    await _release(limiter, "APPEND", False, _headers(10, 3, NOW + 60))
    # The second answer was counted before the other client's five: it says 7.
    await _release(limiter, "APPEND", False, _headers(10, 7, NOW + 60))
    assert [await _acquire(limiter, "APPEND") for _ in range(2)] == [False, False]
    assert time.sleeps == []
    assert await _acquire(limiter, "APPEND") is True
    assert time.sleeps == [61.0]


async def test_headers_reappearing_after_an_unlimited_answer_restore_pacing() -> None:
    """
    After a probe answered without limits, the first answer with limits paces again.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "STATUS") is True
    await _release(limiter, "STATUS", True, {})
    assert [await _acquire(limiter, "STATUS") for _ in range(3)] == [False] * 3
    # A header-less answer to an unpaced request changes nothing.
    await _release(limiter, "STATUS", False, {})
    assert await _acquire(limiter, "STATUS") is False
    # Limits are back: 2 remain and our 3 in flight will spend them.
    await _release(limiter, "STATUS", False, _headers(10, 2, NOW + 60))
    assert await _acquire(limiter, "STATUS") is True
    assert time.sleeps == [61.0]
    assert limiter.snapshot(SCOPE)["STATUS"] == RateLimit.from_headers(
        _headers(10, 2, NOW + 60)
    )


async def test_one_header_less_answer_inside_a_known_window_keeps_pacing() -> None:
    """
    Only the probe's answer can show a command is unlimited; a stray one cannot.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "FINALIZE") is True
    await _release(limiter, "FINALIZE", True, _headers(2, 1, NOW + 30))
    assert await _acquire(limiter, "FINALIZE") is False
    await _release(limiter, "FINALIZE", False, {})
    assert await _acquire(limiter, "FINALIZE") is True
    assert time.sleeps == [31.0]


class RecordingStore:
    """
    A RateLimitStore that records every acquire and release on the way to a RateLimiter.
    """

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.events: list[tuple[object, ...]] = []

    async def acquire(
        self, scope: RateLimitScope, key: str, *, max_wait: float
    ) -> object:
        probe = await self.inner.acquire(scope, key, max_wait=max_wait)
        self.events.append(("acquire", key, probe))
        return probe

    async def release(
        self,
        scope: RateLimitScope,
        key: str,
        permit: object,
        *,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.events.append(
            ("release", key, permit, None if headers is None else dict(headers))
        )
        await self.inner.release(scope, key, permit, headers=headers)

    def snapshot(self, scope: RateLimitScope) -> dict[str, RateLimit]:
        return self.inner.snapshot(scope)


def _transport(
    http: httpx.AsyncClient, store: RecordingStore, time: FakeTime
) -> Transport:
    return Transport(
        http,
        auth=httpx.Auth(),
        policy=RetryPolicy(max_retries=0),
        limiter=store,
        scope=SCOPE,
        clock=time.clock,
        sleep=time.sleep,
        rng=lambda: 0.5,
    )


def _request() -> httpx.Request:
    return httpx.Request("POST", UPLOAD, content=b"body")


def _unbuildable() -> httpx.Request:
    raise InvalidMediaError("the source vanished")


async def _refuses(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug below twupload")


async def _hangs(request: httpx.Request) -> httpx.Response:
    await anyio.sleep_forever()
    raise AssertionError  # pragma: no cover


async def _send_and_cancel(transport: Transport) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: transport.send("upload", _request, operation="upload"))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("network", "build", "expected"),
    [
        (_refuses, _request, RuntimeError),
        (_refuses, _unbuildable, InvalidMediaError),
        (_hangs, _request, None),  # cancelled mid-request
    ],
    ids=["exception-while-sending", "exception-while-building", "cancelled"],
)
async def test_every_slot_is_released_however_the_attempt_ends(
    network: Callable[[httpx.Request], object],
    build: Callable[[], httpx.Request],
    expected: type[Exception] | None,
) -> None:
    """
    An attempt that dies, even of a bug or a cancellation, still gives its probe back.

    A leaked probe would hold every later request of the command forever.
    """
    time = PacingTime(NOW)
    store = RecordingStore(RateLimiter(clock=time.clock, sleep=time.sleep))
    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as http:  # type: ignore[arg-type]
        transport = _transport(http, store, time)
        if expected is None:
            await _send_and_cancel(transport)
        else:
            with pytest.raises(expected):
                await transport.send("upload", build, operation="upload")
    assert store.events == [
        ("acquire", "upload", True),
        ("release", "upload", True, None),
    ]
    window = store.inner.window(SCOPE, "upload")
    assert (window.probing, window.in_flight) == (False, 0)
    # The next request of the command is not held: it goes out as the new probe.
    with anyio.fail_after(5):
        assert await store.acquire(SCOPE, "upload", max_wait=900) is True


async def test_responses_release_their_slot_with_what_they_say() -> None:
    """
    Success and error answers release the slot, with headers when they say anything.

    An error page without rate-limit headers (a proxy's 503, a bare 429) says nothing
    about the window: it must not switch pacing off as a header-less success does.
    """
    limits = _headers(5, 4, NOW + 60)
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers=limits),
            httpx.Response(200, json={}),
        ]
    )
    time = PacingTime(NOW)
    store = RecordingStore(RateLimiter(clock=time.clock, sleep=time.sleep))

    def network(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as http:
        transport = _transport(http, store, time)
        for status in (503, 429):
            with pytest.raises(APIError, match=f"HTTP {status}"):
                await transport.send("metadata", _request, operation="metadata")
        assert not store.inner.window(SCOPE, "metadata").unlimited
        await transport.send("STATUS", _request, operation="STATUS")
    assert store.events == [
        ("acquire", "metadata", True),
        ("release", "metadata", True, None),
        ("acquire", "metadata", True),
        ("release", "metadata", True, dict(httpx.Headers(limits))),
        ("acquire", "STATUS", True),
        (
            "release",
            "STATUS",
            True,
            {"content-length": "2", "content-type": "application/json"},
        ),
    ]
    assert store.inner.window(SCOPE, "STATUS").unlimited


class WindowServer:
    """
    A respx handler that enforces N requests per window, like the real service.
    """

    def __init__(self, time: FakeTime, *, limit: int, window: float) -> None:
        self.time = time
        self.limit = limit
        self.window = window
        self.start: float | None = None
        self.count = 0
        self.refused = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            now = self.time.now
            if self.start is None or now >= self.start + self.window:
                self.start, self.count = now, 0
            reset = math.ceil(self.start + self.window)
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
            if self.count >= self.limit:
                self.refused += 1
                return httpx.Response(
                    429,
                    json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
                    headers=_headers(self.limit, 0, reset),
                )
            self.count += 1
            self.served += 1
            return httpx.Response(
                200,
                json={"media_id": self.served, "media_id_string": str(self.served)},
                headers=_headers(self.limit, self.limit - self.count, reset),
            )
        finally:
            self.in_flight -= 1


async def test_batch_never_sends_into_an_exhausted_window(
    creds: OAuth1Credentials,
) -> None:
    """
    25 uploads at concurrency 8 against 10 per 3 s all succeed with zero 429s.
    """
    time = FakeTime(NOW)
    server = WindowServer(time, limit=10, window=3.0)
    with respx.mock() as mock:
        mock.post(UPLOAD).mock(side_effect=server)
        async with AsyncMediaClient(
            creds, max_concurrency=8, clock=time.clock, sleep=time.sleep
        ) as client:
            results = await client.upload_many([png()] * 25)
    assert all(not isinstance(r, Exception) for r in results)
    assert server.served == 25
    assert server.refused == 0
    assert server.max_in_flight <= 8
    assert time.now - NOW >= 2 * 3.0  # three windows were needed


async def test_two_batches_share_the_limits(creds: OAuth1Credentials) -> None:
    """
    Two concurrent upload_many calls together stay within max_concurrency and the window.
    """
    time = FakeTime(NOW)
    server = WindowServer(time, limit=6, window=2.0)
    with respx.mock() as mock:
        mock.post(UPLOAD).mock(side_effect=server)
        async with (
            AsyncMediaClient(
                creds, max_concurrency=4, clock=time.clock, sleep=time.sleep
            ) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(client.upload_many, [png()] * 9)
            group.start_soon(client.upload_many, [png()] * 9)
    assert server.served == 18
    assert server.refused == 0
    assert server.max_in_flight <= 4


async def test_a_header_less_error_on_the_probe_keeps_the_batch_paced(
    creds: OAuth1Credentials,
) -> None:
    """
    A 503 without rate-limit headers answering the first probe does not unleash the batch.
    """
    time = FakeTime(NOW)
    server = WindowServer(time, limit=3, window=10.0)
    first = True

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal first
        if first:
            first = False
            await anyio.lowlevel.checkpoint()
            return httpx.Response(503)
        return await server(request)

    with respx.mock() as mock:
        mock.post(UPLOAD).mock(side_effect=answer)
        async with AsyncMediaClient(
            creds, max_concurrency=8, clock=time.clock, sleep=time.sleep
        ) as client:
            results = await client.upload_many([png()] * 8)
    assert all(not isinstance(r, Exception) for r in results)
    assert server.served == 8
    assert server.refused == 0


# 24-hour windows, scopes, the store protocol


def _day(
    limit: int, remaining: int, reset: float, kind: str = "user"
) -> dict[str, str]:
    prefix = f"x-{kind}-limit-24hour-"
    return {
        f"{prefix}limit": str(limit),
        f"{prefix}remaining": str(remaining),
        f"{prefix}reset": str(int(reset)),
    }


async def test_an_exhausted_24_hour_window_raises_with_its_reset() -> None:
    """
    Room in the 15-minute window, none in the 24-hour one: RateLimitError, nothing slept.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    tomorrow = NOW + 80_000
    await _acquire(limiter, "upload")
    answer = _headers(100, 90, NOW + 600) | _day(3, 0, tomorrow)
    await _release(limiter, "upload", True, answer)
    with pytest.raises(RateLimitError, match="24-hour user rate-limit") as info:
        await _acquire(limiter, "upload")
    assert info.value.reset_at == dt.datetime.fromtimestamp(tomorrow, dt.timezone.utc)
    assert "2026-01-01 22:13:20 UTC" in str(info.value)
    assert time.sleeps == []
    assert limiter.snapshot(SCOPE) == {
        "upload": RateLimit(
            100, 90, dt.datetime.fromtimestamp(NOW + 600, dt.timezone.utc)
        ),
        "upload:24h-user": RateLimit(
            3, 0, dt.datetime.fromtimestamp(tomorrow, dt.timezone.utc)
        ),
    }


async def test_the_window_that_resets_last_is_waited_for() -> None:
    """
    Both the 15-minute and the app window are spent: the wait lasts until the later reset.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "INIT")
    answer = _headers(10, 0, NOW + 60) | _day(50, 0, NOW + 300, "app")
    await _release(limiter, "INIT", True, answer)
    assert await _acquire(limiter, "INIT") is True
    assert time.sleeps == [301.0]


async def test_a_probe_answer_says_which_windows_the_command_has() -> None:
    """
    After the 15-minute reset a probe goes (the day has room); its answer drops the day.

    A later answer that reports the day again brings it back.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "APPEND")
    first = _headers(2, 0, NOW + 10) | _day(100, 50, NOW + 80_000)
    await _release(limiter, "APPEND", True, first)
    assert await _acquire(limiter, "APPEND") is True
    assert time.sleeps == [11.0]
    window = limiter.window(SCOPE, "APPEND")
    assert window.buckets[":24h-user"].available == 49  # the probe counts there too
    await _release(limiter, "APPEND", True, _headers(2, 1, NOW + 30))
    assert set(window.buckets) == {""}
    assert await _acquire(limiter, "APPEND") is False
    again = _headers(2, 1, NOW + 30) | _day(100, 0, NOW + 80_000)
    await _release(limiter, "APPEND", False, again)
    with pytest.raises(RateLimitError, match="24-hour user"):
        await _acquire(limiter, "APPEND")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-user-limit-24hour-limit": "5", "x-user-limit-24hour-reset": "1"},
        {
            "x-user-limit-24hour-limit": "5",
            "x-user-limit-24hour-remaining": "many",
            "x-user-limit-24hour-reset": "1",
        },
        {
            "x-app-limit-24hour-limit": "5",
            "x-app-limit-24hour-remaining": "1",
            "x-app-limit-24hour-reset": "9" * 30,
        },
    ],
    ids=["missing", "not-a-number", "beyond-year-9999"],
)
def test_incomplete_or_unreadable_windows_are_ignored(headers: dict[str, str]) -> None:
    assert read_limits(headers | _headers(1, 1, NOW)) == {
        "": RateLimit(1, 1, dt.datetime.fromtimestamp(NOW, dt.timezone.utc))
    }


def test_scopes_name_the_account_and_api_without_secrets(
    creds: OAuth1Credentials,
) -> None:
    one = scope_for(creds, "1.1")
    assert one == scope_for(creds, "1.1")  # the same in every process
    assert re.fullmatch(r"[0-9a-f]{16}", one.account)
    assert scope_for(creds, "2") == RateLimitScope(one.account, "2")
    other_user = dataclasses.replace(creds, access_token="5678-other-SECRET")
    assert scope_for(other_user, "1.1").account != one.account
    bearer = scope_for(BearerToken("bearer-SECRET-4"), "2")
    assert bearer.api == "2"
    assert bearer.account not in {one.account, scope_for(other_user, "2").account}
    for scope in (one, bearer):
        assert not any(
            secret in repr(scope) for secret in (*SECRETS, "bearer-SECRET-4")
        )


def test_the_in_memory_store_follows_the_protocol() -> None:
    assert isinstance(RateLimiter(), RateLimitStore)


def test_a_store_that_is_not_one_is_refused(creds: OAuth1Credentials) -> None:
    with pytest.raises(
        ConfigurationError, match="RedisRateLimitStore\\(url\\), not str"
    ):
        AsyncMediaClient(creds, rate_limit_store="redis://127.0.0.1")  # type: ignore[arg-type]


async def test_one_store_keeps_each_scope_apart() -> None:
    """
    A store given to several clients: each account and API version has its own windows.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "upload")
    await _release(limiter, "upload", True, _headers(1, 0, NOW + 3600))
    for other in (RateLimitScope(SCOPE.account, "2"), RateLimitScope("other", "1.1")):
        assert await limiter.acquire(other, "upload", max_wait=0) is True
        assert limiter.snapshot(other) == {}
