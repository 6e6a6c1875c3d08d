"""
When to retry and how long to wait: capped exponential backoff with full jitter.
"""

from __future__ import annotations

import email.utils
import random

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx


if TYPE_CHECKING:
    from collections.abc import Callable


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Every failure of the network layer is worth another try; h11's
# LocalProtocolError escapes httpx unwrapped on a body/length mismatch, and is
# handled by the transport separately because it is our bug, not the network's.
RETRY_EXCEPTIONS = (httpx.TransportError,)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    How often and how patiently to retry one request.

    Attributes:
        max_retries: Retries after the first attempt (0 disables them).
        backoff_base: First backoff ceiling, seconds; it doubles per attempt.
        backoff_cap: Largest backoff ceiling, seconds.
        max_rate_limit_wait:
            Longest wait for a rate-limit reset; a longer one raises
            `RateLimitError` at once instead of sleeping.
        clock_skew: Seconds added to a reset time, for clock differences and
            the reset header's whole-second resolution.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_rate_limit_wait: float = 900.0
    clock_skew: float = 1.0

    def backoff(
        self, attempt: int, *, rng: Callable[[], float] = random.random
    ) -> float:
        """
        Seconds to wait before retry number *attempt* (1-based), with full jitter.
        """
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * rng()


def retry_after(headers: httpx.Headers, *, now: float) -> float | None:
    """
    Parse ``Retry-After`` (delta seconds or an HTTP date) into seconds from *now*.

    None when absent or unreadable; never negative.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def reset_wait(headers: httpx.Headers, *, now: float, skew: float) -> float | None:
    """
    Seconds until ``x-rate-limit-reset`` (wall-clock epoch) plus *skew*; None if absent.
    """
    value = headers.get("x-rate-limit-reset")
    if value is None or not value.strip().isdigit():
        return None
    return max(0.0, int(value) - now) + skew
