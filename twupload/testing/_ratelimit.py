"""
The service's side of rate limiting: one fixed window per command, reported in headers.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

from ._records import RATE_LIMIT_KEYS


#: Requests per 15-minute window, by command, as recorded from the live v1.1 service
#: (simple upload, INIT, APPEND, FINALIZE); STATUS and metadata follow the v2 table.
DEFAULT_LIMITS = {
    "upload": 415,
    "INIT": 200,
    "APPEND": 20_000,
    "FINALIZE": 615,
    "STATUS": 1_000,
    "metadata": 500,
}
DEFAULT_WINDOW = 900.0


@dataclass
class _Window:
    limit: int
    length: float
    start: float | None = None
    used: int = 0

    def current(self, now: float) -> tuple[float, int]:
        """
        The start and the use of the window that holds *now*.
        """
        if self.start is None or now >= self.start + self.length:
            return now, 0
        return self.start, self.used

    def headers(self, now: float) -> dict[str, str]:
        start, used = self.current(now)
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(max(0, self.limit - used)),
            # Rounded up: a client that waits until this second is never early.
            "x-rate-limit-reset": str(math.ceil(start + self.length)),
        }


def check_key(key: str) -> str:
    """
    Return *key* if it names a rate-limit window, else raise `ValueError`.
    """
    if key not in RATE_LIMIT_KEYS:
        raise ValueError(
            f"Unknown rate-limit key {key!r}; use one of {', '.join(RATE_LIMIT_KEYS)}."
        )
    return key


class RateLimits:
    """
    Fixed windows that open with the first request after the previous one ended.

    Not thread-safe by itself: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        self._windows = {
            key: _Window(limit, DEFAULT_WINDOW) for key, limit in DEFAULT_LIMITS.items()
        }

    def configure(self, key: str, *, limit: int, window: float) -> None:
        """
        Replace *key*'s window with a fresh one of *limit* requests per *window* seconds.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be an int >= 0, not {limit!r}.")
        if not window > 0:
            raise ValueError(f"window must be positive seconds, not {window!r}.")
        self._windows[check_key(key)] = _Window(limit, float(window))

    def reset(self) -> None:
        """
        Start every window afresh, keeping the configured limits.
        """
        for window in self._windows.values():
            window.start = None
            window.used = 0

    def take(self, key: str, now: float) -> tuple[bool, dict[str, str]]:
        """
        Count one request against *key*; return whether it may proceed, and the headers.
        """
        window = self._windows[key]
        window.start, window.used = window.current(now)
        allowed = window.used < window.limit
        if allowed:
            window.used += 1
        return allowed, window.headers(now)

    def peek(self, key: str, now: float) -> dict[str, str]:
        """
        The headers of *key*'s window, without counting a request or opening a window.
        """
        return self._windows[key].headers(now)
