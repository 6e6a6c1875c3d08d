"""
Client-side pacing from the service's rate-limit headers, shared by every task of a client.

Each command (simple upload, INIT, APPEND, FINALIZE, STATUS, metadata) has its
own window. Before the first response, and after each reset, one request goes
out alone as a probe; its headers say how many more the window allows, and
only that many are sent. The rest wait for the reset (plus a skew margin)
rather than being sent and refused with 429.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio

from ._errors import RateLimitError
from ._results import RateLimit


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping


logger = logging.getLogger("twupload")


class RateLimitStore(Protocol):
    """
    Where pacing state lives; in memory by default, shareable across processes later.
    """

    async def acquire(self, key: str) -> bool:
        """
        Wait until a request for *key* may be sent; return whether it is a probe.
        """
        ...

    def release(
        self, key: str, *, probe: bool, headers: Mapping[str, str] | None
    ) -> None:
        """
        Record the outcome of a request *acquire* let through.
        """
        ...

    def snapshot(self) -> dict[str, RateLimit]:
        """
        The last limits seen, by command.
        """
        ...


@dataclass
class _Window:
    known: bool = False
    unlimited: bool = False
    reset: float = 0.0
    available: int = 0
    in_flight: int = 0
    probing: bool = False
    changed: anyio.Event = field(default_factory=anyio.Event)

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


class RateLimiter:
    """
    The in-memory `RateLimitStore`.

    Args:
        clock: Wall-clock Unix time; the reset header is an epoch, not a monotonic time.
        sleep: Async sleep (injectable, so tests need no real waiting).
        clock_skew: Seconds added to each reset time.
        max_wait: A wait longer than this raises `RateLimitError` instead.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock_skew: float = 1.0,
        max_wait: float = 900.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._skew = clock_skew
        self._max_wait = max_wait
        self._windows: dict[str, _Window] = {}
        self._seen: dict[str, RateLimit] = {}

    def snapshot(self) -> dict[str, RateLimit]:
        return dict(self._seen)

    async def acquire(self, key: str) -> bool:
        window = self._windows.setdefault(key, _Window())
        while True:
            now = self._clock()
            if window.known and now >= window.reset + self._skew:
                window.known = False
            if window.unlimited:
                window.in_flight += 1
                return False
            if window.known and window.available > 0:
                window.available -= 1
                window.in_flight += 1
                return False
            if window.known:
                wait = window.reset + self._skew - now
                reset_at = dt.datetime.fromtimestamp(window.reset, dt.timezone.utc)
                if wait > self._max_wait:
                    raise RateLimitError(
                        f"{key}: the rate-limit window is exhausted until "
                        f"{reset_at:%H:%M:%S} UTC ({wait:.0f} s), longer than "
                        f"max_rate_limit_wait={self._max_wait:.0f} s. Try again later "
                        "or raise max_rate_limit_wait.",
                        reset_at=reset_at,
                    )
                logger.info(
                    "%s: rate-limit window exhausted, waiting %.1f s for its reset",
                    key,
                    wait,
                )
                await self._sleep(wait)
                continue
            if not window.probing:
                window.probing = True
                window.in_flight += 1
                return True
            await window.changed.wait()

    def release(
        self, key: str, *, probe: bool, headers: Mapping[str, str] | None
    ) -> None:
        window = self._windows[key]
        window.in_flight -= 1
        if probe:
            window.probing = False
        limit = RateLimit.from_headers(headers) if headers is not None else None
        if limit is not None:
            self._seen[key] = limit
            reset = limit.reset_at.timestamp()
            others = window.in_flight
            fresh = max(0, limit.remaining - others)
            if not window.known or reset > window.reset:
                window.known, window.reset, window.available = True, reset, fresh
            elif reset == window.reset:
                window.available = min(window.available, fresh)
            window.unlimited = False
        elif probe and headers is not None:
            # The service answered without rate-limit headers: nothing to pace by.
            window.unlimited = True
        window.wake()
