"""
Sending one logical request: pacing, signing, retrying, and mapping failures.

The protocol layer hands over a *build* function rather than a request,
because a streamed body can be sent only once: every attempt builds a fresh
request (and so a fresh stream from the source).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time

from typing import TYPE_CHECKING

import anyio

from ._errors import (
    APIError,
    RateLimitError,
    TransportError,
    error_from_response,
    is_usage_capped,
)
from ._http import OwnClient
from ._ratelimit import UNSCOPED, read_limits
from ._retry import (
    RETRY_EXCEPTIONS,
    RETRY_STATUSES,
    RetryPolicy,
    reset_wait,
    retry_after,
)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from ._ratelimit import RateLimitScope, RateLimitStore


logger = logging.getLogger("twupload")


def _pacing_headers(response: httpx.Response | None) -> httpx.Headers | None:
    """
    What an attempt tells the rate limiter: the response's headers, or None for nothing.

    A success without rate-limit headers means the command is not limited; an
    error page without them (a 503 from a proxy, a bare 429) says nothing
    about the window, and must not switch pacing off.
    """
    if response is None:
        return None
    if response.is_success or read_limits(response.headers):
        return response.headers
    return None


def _utc(timestamp: float) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):  # a Retry-After beyond year 9999
        return None


class Transport:
    """
    Sends requests for the protocol layer under one client's limits and policy.

    Args:
        http: The httpx client that carries the requests.
        auth: Signs each attempt.
        policy: Retry and backoff settings.
        limiter: Shared rate-limit pacing.
        scope: The account and API version whose windows *limiter* keeps.
        clock: Wall-clock Unix time (injectable).
        sleep: Async sleep (injectable).
        rng: Jitter source in [0, 1) (injectable).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        auth: httpx.Auth,
        policy: RetryPolicy,
        limiter: RateLimitStore,
        scope: RateLimitScope = UNSCOPED,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self._auth = auth
        # twupload's own client has a shorter path; the caller's keeps its hooks.
        self._send: Callable[..., Awaitable[httpx.Response]] = (
            http.send_signed if isinstance(http, OwnClient) else http.send
        )
        self._policy = policy
        self.limiter = limiter
        self.scope = scope
        self._clock = clock
        self._sleep = sleep
        self._rng = rng

    async def send(
        self,
        key: str,
        build: Callable[[], httpx.Request],
        *,
        operation: str,
        replayable: bool = True,
    ) -> httpx.Response:
        """
        Send until a 2xx arrives, retries are spent, or the error is not retryable.

        Args:
            key: Rate-limit window (``"upload"``, ``"INIT"``, ``"APPEND"``, ...).
            build: Makes a fresh request for each attempt.
            operation: Short name for messages and logs.
            replayable: Whether *build* may be called again (False for one-shot streams).

        Raises:
            APIError: Or a subclass, for error responses.
            TransportError: For network failures after retries.
        """
        attempt = 0
        while True:
            permit = await self.limiter.acquire(
                self.scope, key, max_wait=self._policy.max_rate_limit_wait
            )
            response: httpx.Response | None = None
            failure: httpx.TransportError | None = None
            try:
                request = build()
                logger.debug("%s: %s %s", operation, request.method, request.url.path)
                try:
                    response = await self._send(request, auth=self._auth)
                except Exception as exc:
                    # A body that failed on its own (a shrinking file, the
                    # caller's callback) is not a network failure, whatever the
                    # HTTP stack wrapped it in: raise it as it is, no retry.
                    own = getattr(request.stream, "failure", None)
                    if own is not None and own is not exc:
                        raise own from None
                    if not isinstance(exc, RETRY_EXCEPTIONS):
                        raise
                    failure = exc
                finally:
                    # A body abandoned mid-write still holds the source's
                    # generators: close them now, not at garbage collection.
                    with anyio.CancelScope(shield=True):
                        await request.stream.aclose()  # type: ignore[union-attr]
            finally:
                await self.limiter.release(
                    self.scope, key, permit, headers=_pacing_headers(response)
                )

            if response is not None:
                logger.debug("%s: HTTP %d", operation, response.status_code)
                if response.is_success:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise error_from_response(response, operation=operation)
                if is_usage_capped(response):  # no wait or retry lifts a usage cap
                    raise error_from_response(response, operation=operation)

            wait = self._wait_before_retry(response, attempt + 1)
            if attempt >= self._policy.max_retries or not replayable or wait is None:
                raise self._final_error(
                    response, failure, operation, attempt, replayable=replayable
                )

            attempt += 1
            logger.info(
                "%s: %s; retry %d of %d in %.2f s",
                operation,
                f"HTTP {response.status_code}"
                if response is not None
                else type(failure).__name__,
                attempt,
                self._policy.max_retries,
                wait,
            )
            await self._sleep(wait)

    def _wait_before_retry(
        self, response: httpx.Response | None, attempt: int
    ) -> float | None:
        """
        Seconds to wait before the next attempt; None when waiting exceeds the budget.
        """
        backoff = self._policy.backoff(attempt, rng=self._rng)
        if response is None:
            return backoff
        now = self._clock()
        hinted = retry_after(response.headers, now=now)
        if response.status_code == 429:  # noqa: PLR2004
            if hinted is None:
                hinted = reset_wait(
                    response.headers, now=now, skew=self._policy.clock_skew
                )
            wait = backoff if hinted is None else hinted
            return None if wait > self._policy.max_rate_limit_wait else wait
        if hinted is not None:
            return min(hinted, self._policy.max_rate_limit_wait)
        return backoff

    def _final_error(
        self,
        response: httpx.Response | None,
        failure: httpx.TransportError | None,
        operation: str,
        attempt: int,
        *,
        replayable: bool,
    ) -> APIError | TransportError:
        note = (
            ""
            if replayable
            else " The source is a one-shot stream, so it was not retried; pass a "
            "path, bytes or a seekable file to allow retries."
        )
        tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
        if response is not None:
            error = error_from_response(response, operation=operation)
            error.args = (f"{error.args[0]} (gave up {tries}.){note}",)
            if isinstance(error, RateLimitError) and error.reset_at is None:
                # No x-rate-limit-* headers: Retry-After still says when to return.
                now = self._clock()
                hinted = retry_after(response.headers, now=now)
                if hinted is not None:
                    error.reset_at = _utc(now + hinted)
            return error
        error_ = TransportError(
            f"{operation}: network failure {tries} ({type(failure).__name__}: "
            f"{failure}). Check the connection and base_url.{note}"
        )
        error_.__cause__ = failure
        return error_
