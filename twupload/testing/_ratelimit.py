"""
The service's side of rate limiting: fixed windows per command, reported in headers.

Every command has a 15-minute window (``x-rate-limit-*``); it can also have the
24-hour user and app windows the X API v2 reports (``x-user-limit-24hour-*``,
``x-app-limit-24hour-*``). A request is refused when any of them is spent.
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
#: Per-user requests per 15 minutes of the v2 endpoints, by command (X API rate
#: limits page, 2026-01-16): one-shot upload and metadata 500, STATUS 1,000,
#: initialize, append and finalize 1,875 each.
V2_LIMITS = {
    "upload": 500,
    "INIT": 1_875,
    "APPEND": 1_875,
    "FINALIZE": 1_875,
    "STATUS": 1_000,
    "metadata": 500,
}
DAY = 86_400.0
#: Header prefixes: the 15-minute window, and the 24-hour user and app windows.
WINDOW_PREFIX = "x-rate-limit-"
USER_DAY_PREFIX = "x-user-limit-24hour-"
APP_DAY_PREFIX = "x-app-limit-24hour-"


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

    def headers(self, now: float, prefix: str = WINDOW_PREFIX) -> dict[str, str]:
        start, used = self.current(now)
        return {
            f"{prefix}limit": str(self.limit),
            f"{prefix}remaining": str(max(0, self.limit - used)),
            # Rounded up: a client that waits until this second is never early.
            f"{prefix}reset": str(math.ceil(start + self.length)),
        }


def _check_limit(name: str, limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"{name} must be an int >= 0, not {limit!r}.")


def _check_length(name: str, seconds: object) -> None:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not seconds > 0
    ):
        raise ValueError(f"{name} must be positive seconds, not {seconds!r}.")


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
        # Per command: its windows by header prefix, the 15-minute one first.
        self._windows = {
            key: {WINDOW_PREFIX: _Window(limit, DEFAULT_WINDOW)}
            for key, limit in DEFAULT_LIMITS.items()
        }

    def configure(
        self,
        key: str,
        *,
        limit: int,
        window: float,
        day_limit: int | None = None,
        app_day_limit: int | None = None,
        day_window: float = DAY,
    ) -> None:
        """
        Replace *key*'s windows with fresh ones.

        *limit* requests per *window* seconds, and, when given, *day_limit*
        (user) and *app_day_limit* (app) requests per *day_window* seconds.
        """
        _check_limit("limit", limit)
        _check_length("window", window)
        windows = {WINDOW_PREFIX: _Window(limit, float(window))}
        for prefix, name, value in (
            (USER_DAY_PREFIX, "day_limit", day_limit),
            (APP_DAY_PREFIX, "app_day_limit", app_day_limit),
        ):
            if value is not None:
                _check_limit(name, value)
                _check_length("day_window", day_window)
                windows[prefix] = _Window(value, float(day_window))
        self._windows[check_key(key)] = windows

    def reset(self) -> None:
        """
        Start every window afresh, keeping the configured limits.
        """
        for windows in self._windows.values():
            for window in windows.values():
                window.start = None
                window.used = 0

    def take(self, key: str, now: float) -> tuple[bool, dict[str, str]]:
        """
        Count one request against *key*; return whether it may proceed, and the headers.

        A request refused by one window counts against none.
        """
        windows = self._windows[key].values()
        for window in windows:
            window.start, window.used = window.current(now)
        allowed = all(window.used < window.limit for window in windows)
        if allowed:
            for window in windows:
                window.used += 1
        return allowed, self.peek(key, now)

    def peek(self, key: str, now: float) -> dict[str, str]:
        """
        The headers of *key*'s windows, without counting a request or opening a window.
        """
        headers: dict[str, str] = {}
        for prefix, window in self._windows[key].items():
            headers.update(window.headers(now, prefix))
        return headers
