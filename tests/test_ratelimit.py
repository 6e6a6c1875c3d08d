"""
Pacing: never send into an exhausted window, shared by every task of a client.
"""

from __future__ import annotations

import datetime as dt
import math

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    InvalidMediaError,
    RateLimit,
    RateLimitError,
)
from twupload._ratelimit import RateLimiter
from twupload._retry import RetryPolicy
from twupload._transport import Transport

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

NOW = 1_767_225_600.0
UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"


class PacingTime(FakeTime):
    """
    Fake time for the limiter, which never has a reason to sleep for nothing.

    A sleep of zero or less would be a pacing bug that spins forever on fake time.
    """

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"the limiter slept {seconds} s"
        await super().sleep(seconds)


async def _acquire(limiter: RateLimiter, key: str) -> bool:
    """
    Acquire, failing instead of hanging when a pacing bug would hold the request forever.
    """
    with anyio.fail_after(10):
        return await limiter.acquire(key)


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
    limiter.release("upload", probe=True, headers=_headers(3, 2, NOW + 10))
    assert await _acquire(limiter, "upload") is False
    assert await _acquire(limiter, "upload") is False
    assert time.sleeps == []
    # The window is spent: the next acquire sleeps to the reset plus skew, then probes.
    assert await _acquire(limiter, "upload") is True
    assert time.sleeps == [11.0]
    assert limiter.snapshot() == {
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
        limiter.release("INIT", probe=True, headers=_headers(10, 5, NOW + 60))
    assert sorted(order) == ["a:go", "b:go"]


async def test_in_flight_requests_are_subtracted_from_remaining() -> None:
    """
    A later response lowers what may still be sent by the requests already in flight.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await _acquire(limiter, "APPEND")
    limiter.release("APPEND", probe=True, headers=_headers(10, 9, NOW + 60))
    for _ in range(5):
        await _acquire(limiter, "APPEND")
    # One of the five answers: 7 remain at the server, 4 of ours are still in flight.
    limiter.release("APPEND", probe=False, headers=_headers(10, 7, NOW + 60))
    window = limiter._windows["APPEND"]
    assert window.available == 3  # min(4 left locally, 7 - 4)
    # An older window's late answer is ignored.
    limiter.release("APPEND", probe=False, headers=_headers(10, 9, NOW - 60))
    assert window.available == 3


async def test_no_headers_means_no_pacing() -> None:
    """
    When the probe's answer carries no rate-limit headers, requests are not paced.
    """
    limiter = RateLimiter()
    assert await _acquire(limiter, "STATUS") is True
    limiter.release("STATUS", probe=True, headers={})
    assert [await _acquire(limiter, "STATUS") for _ in range(3)] == [False] * 3


async def test_failed_probe_lets_the_next_task_probe() -> None:
    """
    A probe that got no response (network failure) hands the probe to the next task.
    """
    limiter = RateLimiter()
    assert await _acquire(limiter, "FINALIZE") is True
    limiter.release("FINALIZE", probe=True, headers=None)
    assert await _acquire(limiter, "FINALIZE") is True


async def test_too_long_a_wait_raises() -> None:
    """
    An exhausted window that resets beyond max_wait raises RateLimitError without sleeping.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, max_wait=60)
    await _acquire(limiter, "upload")
    limiter.release("upload", probe=True, headers=_headers(1, 0, NOW + 3600))
    with pytest.raises(RateLimitError, match="max_rate_limit_wait") as info:
        await _acquire(limiter, "upload")
    assert info.value.reset_at is not None
    assert time.sleeps == []


async def _exhausted(limiter: RateLimiter, key: str, reset: float) -> None:
    assert await _acquire(limiter, key) is True
    limiter.release(key, probe=True, headers=_headers(1, 0, reset))


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
    limiter.release("INIT", probe=True, headers=_headers(3, 1, NOW + 10))
    assert await _acquire(limiter, "INIT") is False  # the window's last request
    # Its answer already comes from the next window, which resets at NOW + 25.
    limiter.release("INIT", probe=False, headers=_headers(3, 2, NOW + 25))
    assert [await _acquire(limiter, "INIT") for _ in range(2)] == [False, False]
    assert time.sleeps == []
    assert limiter.snapshot()["INIT"].reset_at.timestamp() == NOW + 25
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
    limiter.release("APPEND", probe=True, headers=_headers(10, 9, NOW + 60))
    assert [await _acquire(limiter, "APPEND") for _ in range(2)] == [False, False]
    # Another client spent five: the first answer says 3 remain, one of ours in flight.
    limiter.release("APPEND", probe=False, headers=_headers(10, 3, NOW + 60))
    # The second answer was counted before the other client's five: it says 7.
    limiter.release("APPEND", probe=False, headers=_headers(10, 7, NOW + 60))
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
    limiter.release("STATUS", probe=True, headers={})
    assert [await _acquire(limiter, "STATUS") for _ in range(3)] == [False] * 3
    # A header-less answer to an unpaced request changes nothing.
    limiter.release("STATUS", probe=False, headers={})
    assert await _acquire(limiter, "STATUS") is False
    # Limits are back: 2 remain and our 3 in flight will spend them.
    limiter.release("STATUS", probe=False, headers=_headers(10, 2, NOW + 60))
    assert await _acquire(limiter, "STATUS") is True
    assert time.sleeps == [61.0]
    assert limiter.snapshot()["STATUS"] == RateLimit.from_headers(
        _headers(10, 2, NOW + 60)
    )


async def test_one_header_less_answer_inside_a_known_window_keeps_pacing() -> None:
    """
    Only the probe's answer can show a command is unlimited; a stray one cannot.
    """
    time = PacingTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await _acquire(limiter, "FINALIZE") is True
    limiter.release("FINALIZE", probe=True, headers=_headers(2, 1, NOW + 30))
    assert await _acquire(limiter, "FINALIZE") is False
    limiter.release("FINALIZE", probe=False, headers={})
    assert await _acquire(limiter, "FINALIZE") is True
    assert time.sleeps == [31.0]


class RecordingStore:
    """
    A RateLimitStore that records every acquire and release on the way to a RateLimiter.
    """

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.events: list[tuple[object, ...]] = []

    async def acquire(self, key: str) -> bool:
        probe = await self.inner.acquire(key)
        self.events.append(("acquire", key, probe))
        return probe

    def release(
        self, key: str, *, probe: bool, headers: Mapping[str, str] | None
    ) -> None:
        self.events.append(
            ("release", key, probe, None if headers is None else dict(headers))
        )
        self.inner.release(key, probe=probe, headers=headers)

    def snapshot(self) -> dict[str, RateLimit]:
        return self.inner.snapshot()


def _transport(
    http: httpx.AsyncClient, store: RecordingStore, time: FakeTime
) -> Transport:
    return Transport(
        http,
        auth=httpx.Auth(),
        policy=RetryPolicy(max_retries=0),
        limiter=store,
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
    window = store.inner._windows["upload"]
    assert (window.probing, window.in_flight) == (False, 0)
    # The next request of the command is not held: it goes out as the new probe.
    with anyio.fail_after(5):
        assert await store.acquire("upload") is True


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
        assert not store.inner._windows["metadata"].unlimited
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
    assert store.inner._windows["STATUS"].unlimited


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
