"""
Client-side pacing from the service's rate-limit headers, shared by every task of a client.

Each command (simple upload, INIT, APPEND, FINALIZE, STATUS, metadata) has its
own window. Before the first response, and after each reset, one request goes
out alone as a probe; its headers say how many more the window allows, and
only that many are sent. The rest wait for the reset (plus a skew margin)
rather than being sent and refused with 429.

A response can report up to three buckets for its command, and pacing obeys
each: the 15-minute window (``x-rate-limit-*``) and, on the X API v2, the
24-hour user and app windows (``x-user-limit-24hour-*``,
``x-app-limit-24hour-*``). A request goes when every bucket the command's
answers report has room; a probe goes when one of them is unknown (never
seen, or past its reset), unless another is known to be exhausted.

Where that state lives is a `RateLimitStore`: in this process by default
(`MemoryRateLimitStore`), or in Redis for every worker of an account
(`twupload.RedisRateLimitStore`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import anyio

from ._credentials import BearerToken
from ._errors import RateLimitError
from ._results import RateLimit


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ._credentials import OAuth1Credentials


logger = logging.getLogger("twupload")

_UTC = dt.timezone.utc

#: The buckets a response can report: the suffix of their `rate_limits` key (the
#: 15-minute window's is the command alone), the header prefix, and their name
#: in messages.
BUCKETS = (
    ("", "x-rate-limit-", "15-minute"),
    (":24h-user", "x-user-limit-24hour-", "24-hour user"),
    (":24h-app", "x-app-limit-24hour-", "24-hour app"),
)
_HEADERS = tuple(
    (suffix, f"{prefix}limit", f"{prefix}remaining", f"{prefix}reset")
    for suffix, prefix, _ in BUCKETS
)
#: How messages name each bucket, by suffix.
BUCKET_NAMES = {suffix: name for suffix, _, name in BUCKETS}


def read_limits(headers: Mapping[str, str]) -> dict[str, RateLimit]:
    """
    Every bucket *headers* report, by `BUCKETS` suffix (``""`` for the 15-minute window).

    A bucket counts only when its three headers are present and numeric, as
    `RateLimit.from_headers` reads the 15-minute one.
    """
    # One pass over the headers, then cheap lookups: an httpx.Headers lookup
    # scans every header, and a missing one raises inside.
    multi_items = getattr(headers, "multi_items", None)
    values = (
        dict(multi_items())  # httpx.Headers: names already lower case
        if multi_items is not None
        else {name.lower(): value for name, value in headers.items()}
    )
    found: dict[str, RateLimit] = {}
    for suffix, limit, remaining, reset in _HEADERS:
        value = values.get(limit)
        if value is None:
            continue
        try:
            found[suffix] = RateLimit(
                limit=int(value),
                remaining=int(values[remaining]),
                reset_at=dt.datetime.fromtimestamp(int(values[reset]), _UTC),
            )
        except (KeyError, ValueError, OverflowError, OSError):
            continue
    return found


class RateLimitScope(NamedTuple):
    """
    Whose windows a request counts against: one account on one API version.

    Windows of different scopes never mix, in any store.
    """

    #: A stable, non-reversible id of the credentials (16 hex digits of a
    #: SHA-256), never a secret.
    account: str
    #: ``"1.1"`` or ``"2"``.
    api: str


#: The scope of a transport built without one (tests of the transport alone).
UNSCOPED = RateLimitScope("", "")


def account_id(*parts: str) -> str:
    """
    16 hex digits of the SHA-256 of *parts*: the same for the same parts, in any process.
    """
    digest = hashlib.sha256("\0".join(("twupload", *parts)).encode())
    return digest.hexdigest()[:16]


def scope_for(credentials: OAuth1Credentials | BearerToken, api: str) -> RateLimitScope:
    """
    The scope of a client: its account (app and user) and its API version.

    OAuth 1.0a: the consumer key and the access token, which names the user.
    OAuth 2.0: the access token the client starts with.
    """
    if isinstance(credentials, BearerToken):
        return RateLimitScope(account_id("oauth2", credentials.token), api)
    return RateLimitScope(
        account_id("oauth1", credentials.consumer_key, credentials.access_token), api
    )


def too_long_a_wait(
    key: str, suffix: str, reset: float, wait: float, max_wait: float
) -> RateLimitError:
    """
    The error for a window that stays closed longer than *max_wait* seconds.
    """
    reset_at = dt.datetime.fromtimestamp(reset, _UTC)
    when = f"{reset_at:%H:%M:%S}" if suffix == "" else f"{reset_at:%Y-%m-%d %H:%M:%S}"
    return RateLimitError(
        f"{key}: the {BUCKET_NAMES[suffix]} rate-limit window is exhausted until "
        f"{when} UTC ({wait:.0f} s), longer than max_rate_limit_wait="
        f"{max_wait:.0f} s. Try again later or raise max_rate_limit_wait.",
        reset_at=reset_at,
    )


@runtime_checkable
class RateLimitStore(Protocol):
    """
    Where pacing state lives: what a client asks before and after each request.

    twupload ships two: the in-memory default (one client's tasks) and
    `RedisRateLimitStore` (every process and machine of an account). Another
    backend implements these three methods. A store may serve many clients:
    every call names the *scope* (account and API version) and the *key* (the
    command's window: ``"upload"``, ``"INIT"``, ``"APPEND"``, ``"FINALIZE"``,
    ``"STATUS"``, ``"metadata"``), and windows of different scopes or keys
    never mix.

    The client calls `acquire` before each attempt of a request and `release`
    after it, exactly once per successful `acquire`, whatever happened to the
    attempt (answered, failed, cancelled).
    """

    async def acquire(
        self, scope: RateLimitScope, key: str, *, max_wait: float
    ) -> object:
        """
        Wait until a request may be sent, and return a permit for `release`.

        Before a window is known, one request at a time goes out as a probe
        (the permit says so, if the store cares); after its answer, only as
        many as the headers allow; the rest wait for the reset.

        Raises:
            RateLimitError: The window stays closed longer than *max_wait*
                seconds (``reset_at`` says until when).
            RateLimitStoreError: The store cannot be reached; nothing may be sent.
        """
        ...

    async def release(
        self,
        scope: RateLimitScope,
        key: str,
        permit: object,
        *,
        headers: Mapping[str, str] | None,
    ) -> None:
        """
        Record how a request *acquire* let through ended; must not raise.

        *headers* are the response's, or None when the attempt says nothing
        about the window (no response, or an error page without rate-limit
        headers). An answer without any rate-limit headers to a probe means
        the command is not limited.
        """
        ...

    def snapshot(self, scope: RateLimitScope) -> dict[str, RateLimit]:
        """
        The last limits this process saw for *scope*, by command and bucket.

        Keys are the command (its 15-minute window), and ``"<command>:24h-user"``
        / ``"<command>:24h-app"`` for the 24-hour windows the v2 API reports.
        """
        ...


@dataclass(slots=True)
class _Bucket:
    reset: float
    available: int


@dataclass(slots=True)
class _Window:
    #: The buckets known now, by suffix.
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    #: The buckets the command's answers report.
    names: frozenset[str] = frozenset()
    #: Every bucket of *names* is known: requests go without a probe.
    complete: bool = False
    unlimited: bool = False
    in_flight: int = 0
    probing: bool = False
    changed: anyio.Event = field(default_factory=anyio.Event)

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def scan(self, now: float, skew: float) -> tuple[str, _Bucket] | None:
        """
        Forget the buckets past their reset; return the exhausted one that resets last.
        """
        blocked: tuple[str, _Bucket] | None = None
        expired: list[str] = []
        for suffix, bucket in self.buckets.items():
            if now >= bucket.reset + skew:
                expired.append(suffix)
            elif bucket.available <= 0 and (
                blocked is None or bucket.reset > blocked[1].reset
            ):
                blocked = (suffix, bucket)
        for suffix in expired:
            del self.buckets[suffix]
            self.complete = False
        return blocked

    def take(self) -> None:
        self.in_flight += 1
        for bucket in self.buckets.values():
            bucket.available -= 1

    def learn(self, limits: dict[str, RateLimit], *, probe: bool) -> None:
        """
        Fold an answer's limits in; in one window the lowest count wins.
        """
        others = self.in_flight
        buckets = self.buckets
        for suffix, limit in limits.items():
            reset = limit.reset_at.timestamp()
            fresh = max(0, limit.remaining - others)
            bucket = buckets.get(suffix)
            if bucket is None or reset > bucket.reset:
                buckets[suffix] = _Bucket(reset, fresh)
            elif reset == bucket.reset:
                bucket.available = min(bucket.available, fresh)
        if probe:
            # The probe's answer says which buckets the command has now.
            self.names = frozenset(limits)
            for gone in buckets.keys() - self.names:
                del buckets[gone]
        else:
            self.names |= limits.keys()
        self.complete = self.names <= buckets.keys()
        self.unlimited = False


class MemoryRateLimitStore:
    """
    The in-memory `RateLimitStore`: each client's default, for its own tasks.

    Pass one to several clients to have them share their windows within one
    process (each account and API version keeps its own); use
    `RedisRateLimitStore` to share them between processes.

    Args:
        clock: Wall-clock Unix time; the reset header is an epoch, not a monotonic time.
        sleep: Async sleep (injectable, so tests need no real waiting).
        clock_skew: Seconds added to each reset time.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock_skew: float = 1.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._skew = clock_skew
        self._windows: dict[tuple[RateLimitScope, str], _Window] = {}
        self._seen: dict[RateLimitScope, dict[str, RateLimit]] = {}

    def snapshot(self, scope: RateLimitScope) -> dict[str, RateLimit]:
        return dict(self._seen.get(scope, ()))

    def window(self, scope: RateLimitScope, key: str) -> _Window:
        """
        The state of one window (created empty), for `acquire`, `release` and tests.
        """
        window = self._windows.get((scope, key))
        if window is None:
            window = self._windows[scope, key] = _Window()
        return window

    async def acquire(
        self, scope: RateLimitScope, key: str, *, max_wait: float
    ) -> bool:
        """
        Wait for room in every bucket of the window; return whether this is the probe.
        """
        window = self.window(scope, key)
        skew = self._skew
        while True:
            if window.unlimited:
                window.in_flight += 1
                return False
            now = self._clock()
            blocked = window.scan(now, skew)
            if blocked is not None:
                suffix, bucket = blocked
                wait = bucket.reset + skew - now
                if wait > max_wait:
                    raise too_long_a_wait(key, suffix, bucket.reset, wait, max_wait)
                logger.info(
                    "%s: %s rate-limit window exhausted, waiting %.1f s for its reset",
                    key,
                    BUCKET_NAMES[suffix],
                    wait,
                )
                await self._sleep(wait)
                continue
            if window.complete:
                window.take()
                return False
            if not window.probing:
                window.probing = True
                window.take()
                return True
            await window.changed.wait()

    async def release(
        self,
        scope: RateLimitScope,
        key: str,
        permit: object,
        *,
        headers: Mapping[str, str] | None,
    ) -> None:
        """
        Fold the answer in and wake the waiters; never yields to the event loop.
        """
        window = self._windows[scope, key]
        window.in_flight -= 1
        probe = permit is True
        if probe:
            window.probing = False
        limits = read_limits(headers) if headers is not None else None
        if limits:
            seen = self._seen.get(scope)
            if seen is None:
                seen = self._seen[scope] = {}
            for suffix, limit in limits.items():
                seen[key + suffix] = limit
            window.learn(limits, probe=probe)
        elif probe and headers is not None:
            # The service answered without rate-limit headers: nothing to pace by.
            window.unlimited = True
            window.buckets.clear()
            window.names = frozenset()
            window.complete = False
        window.wake()


#: The name the rest of the package (and its tests) use.
RateLimiter = MemoryRateLimitStore
