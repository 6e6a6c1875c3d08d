"""
When to retry and how long to wait: capped exponential backoff with full jitter.
"""

from __future__ import annotations

import datetime as dt
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

_MAX_EXPONENT = 1000


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
        # The exponent is bounded: 2.0 ** 1024 raises OverflowError, and any
        # cap is reached long before 2 ** 1000.
        doubling = 2.0 ** min(attempt - 1, _MAX_EXPONENT)
        ceiling = min(self.backoff_cap, self.backoff_base * doubling)
        return ceiling * rng()


def _seconds(value: str) -> float | None:
    """
    A header's whole number of seconds (``1*DIGIT``), or None.

    ``str.isdigit`` alone also accepts digits ``int`` refuses, such as the
    Latin-1 superscripts a header can carry; a number too long for a float is
    infinitely far away.
    """
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return float(value)


def retry_after(headers: httpx.Headers, *, now: float) -> float | None:
    """
    Parse ``Retry-After`` (delay seconds or an HTTP date) into seconds from *now*.

    An HTTP date is GMT in each of its three forms (RFC 9110 section 5.6.7),
    the asctime form too, which names no zone. None when absent or unreadable;
    never negative.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    delay = _seconds(value)
    if delay is not None:
        return delay
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # asctime, or "-0000": GMT, not local time
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now)


def reset_wait(headers: httpx.Headers, *, now: float, skew: float) -> float | None:
    """
    Seconds until ``x-rate-limit-reset`` (wall-clock epoch) plus *skew*; None if absent.
    """
    value = headers.get("x-rate-limit-reset")
    reset = None if value is None else _seconds(value)
    if reset is None:
        return None
    return max(0.0, reset - now) + skew
