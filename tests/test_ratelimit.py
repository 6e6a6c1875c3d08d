"""
Pacing: never send into an exhausted window, shared by every task of a client.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

from twupload import AsyncMediaClient, RateLimit, RateLimitError
from twupload._ratelimit import RateLimiter

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

NOW = 1_767_225_600.0
UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"


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
    time = FakeTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, clock_skew=1)
    assert await limiter.acquire("upload") is True
    limiter.release("upload", probe=True, headers=_headers(3, 2, NOW + 10))
    assert await limiter.acquire("upload") is False
    assert await limiter.acquire("upload") is False
    assert time.sleeps == []
    # The window is spent: the next acquire sleeps to the reset plus skew, then probes.
    assert await limiter.acquire("upload") is True
    assert time.sleeps == [11.0]
    assert limiter.snapshot() == {
        "upload": RateLimit(
            3, 2, RateLimit.from_headers(_headers(3, 2, NOW + 10)).reset_at
        )
    }  # type: ignore[union-attr]


async def test_waiters_queue_behind_the_probe() -> None:
    """
    While a probe is in flight, other tasks wait for its answer instead of sending.
    """
    time = FakeTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    order: list[str] = []

    async def task(name: str) -> None:
        probe = await limiter.acquire("INIT")
        order.append(f"{name}:{'probe' if probe else 'go'}")

    assert await limiter.acquire("INIT") is True
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
    time = FakeTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)
    await limiter.acquire("APPEND")
    limiter.release("APPEND", probe=True, headers=_headers(10, 9, NOW + 60))
    for _ in range(5):
        await limiter.acquire("APPEND")
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
    assert await limiter.acquire("STATUS") is True
    limiter.release("STATUS", probe=True, headers={})
    assert [await limiter.acquire("STATUS") for _ in range(3)] == [False] * 3


async def test_failed_probe_lets_the_next_task_probe() -> None:
    """
    A probe that got no response (network failure) hands the probe to the next task.
    """
    limiter = RateLimiter()
    assert await limiter.acquire("FINALIZE") is True
    limiter.release("FINALIZE", probe=True, headers=None)
    assert await limiter.acquire("FINALIZE") is True


async def test_too_long_a_wait_raises() -> None:
    """
    An exhausted window that resets beyond max_wait raises RateLimitError without sleeping.
    """
    time = FakeTime(NOW)
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep, max_wait=60)
    await limiter.acquire("upload")
    limiter.release("upload", probe=True, headers=_headers(1, 0, NOW + 3600))
    with pytest.raises(RateLimitError, match="max_rate_limit_wait") as info:
        await limiter.acquire("upload")
    assert info.value.reset_at is not None
    assert time.sleeps == []


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
