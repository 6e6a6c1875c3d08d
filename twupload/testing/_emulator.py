"""
The `Emulator`: a local v1.1 upload service in its own thread, and what tests do with it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time

from typing import TYPE_CHECKING, Any

from anyio.from_thread import start_blocking_portal

from .._credentials import OAuth1Credentials
from ._faults import ProcessingPlan
from ._oauth import OAuthVerifier
from ._ratelimit import check_key
from ._state import EmulatorState


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from anyio.from_thread import BlockingPortal

    from ._records import (
        EmulatorStats,
        MediaRecord,
        ProcessingMode,
        RequestRecord,
    )
    from ._server import EmulatorServer


def random_credentials() -> OAuth1Credentials:
    """
    Fresh OAuth 1.0a credentials in the service's formats, good for one emulator.
    """
    user_id = 1_000_000 + secrets.randbelow(10**12)
    return OAuth1Credentials(
        consumer_key=secrets.token_urlsafe(18),
        consumer_secret=secrets.token_urlsafe(37),
        access_token=f"{user_id}-{secrets.token_urlsafe(30)}",
        access_token_secret=secrets.token_urlsafe(33),
    )


class Emulator:
    """
    A local stand-in for ``upload.twitter.com``'s v1.1 media API, on a real socket.

    It runs aiohttp's server on its own event loop in a background thread, so
    sync tests and async tests on asyncio or trio can use it alike. It checks
    every request's OAuth 1.0a signature against `credentials`, implements the
    simple upload, INIT, APPEND, FINALIZE, STATUS and ``metadata/create``
    commands with the service's status codes and error bodies, reports
    rate-limit headers per command, and can be told to misbehave.

    Use it as a context manager (or call `start` and `stop`)::

        with Emulator() as emu:
            client = AsyncMediaClient(emu.credentials, base_url=emu.url)

    Args:
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        credentials: The only OAuth 1.0a credentials accepted; None makes random ones.
        keep_bytes: Keep every media's bytes for inspection. With False, only
            sizes and SHA-256 digests are kept, so huge uploads need little memory.
        clock: Unix time for rate-limit windows, media expiry and OAuth
            timestamps; tests can pass a fake clock they advance themselves.
        media_ttl: Seconds before media expires (``expires_after_secs``).
        request_log_size: Requests kept in `requests` (the oldest are forgotten).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: OAuth1Credentials | None = None,
        keep_bytes: bool = True,
        clock: Callable[[], float] = time.time,
        media_ttl: int = 86_400,
        request_log_size: int = 10_000,
    ) -> None:
        self.credentials = credentials or random_credentials()
        self._host = host
        self._port = port
        self._state = EmulatorState(
            clock=clock,
            keep_bytes=keep_bytes,
            media_ttl=media_ttl,
            log_size=request_log_size,
        )
        self._verifier = OAuthVerifier(self.credentials, clock=clock)
        self._lifecycle = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._server: EmulatorServer | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        where = self._url or "stopped"
        return f"<Emulator {where} consumer_key={self.credentials.consumer_key!r}>"

    # Lifecycle

    def start(self) -> None:
        """
        Start serving in a background thread; `url` is valid once this returns.

        Raises:
            RuntimeError: It is already running.
            ImportError: aiohttp is not installed (``pip install 'twupload[emulator]'``).
            OSError: The port cannot be bound.
        """
        with self._lifecycle:
            if self._stack is not None:
                raise RuntimeError("This Emulator is already running.")
            try:
                from ._server import EmulatorServer  # noqa: PLC0415
            except ImportError as exc:
                raise ImportError(
                    "twupload's emulator needs aiohttp: pip install 'twupload[emulator]'"
                ) from exc
            server = EmulatorServer(
                self._state, self._verifier, host=self._host, port=self._port
            )
            stack = contextlib.ExitStack()
            portal = stack.enter_context(start_blocking_portal("asyncio"))
            try:
                port = portal.call(server.start)
            except BaseException:
                stack.close()
                raise
            self._stack, self._portal, self._server = stack, portal, server
            host = f"[{self._host}]" if ":" in self._host else self._host
            self._url = f"http://{host}:{port}"

    def stop(self) -> None:
        """
        Stop serving and close every connection; does nothing if not running.
        """
        with self._lifecycle:
            stack, portal, server = self._stack, self._portal, self._server
            self._stack = self._portal = self._server = None
            self._url = None
            if stack is None or portal is None or server is None:
                return
            with stack:
                portal.call(server.stop)

    def __enter__(self) -> Emulator:  # noqa: PYI034 - 3.10 has no Self
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """
        ``http://host:port``: pass it as ``AsyncMediaClient(base_url=...)``.

        Raises:
            RuntimeError: The emulator is not running.
        """
        if self._url is None:
            raise RuntimeError("The Emulator is not running; call start() first.")
        return self._url

    # Inspection

    @property
    def media(self) -> dict[int, MediaRecord]:
        """
        Every unexpired media, by media id, as frozen snapshots.
        """
        state = self._state
        with state.lock:
            found = [state.find(media_id) for media_id in list(state.media)]
            return {media.media_id: media.record() for media in found if media}

    def get_media(self, media_id: int | str) -> MediaRecord:
        """
        One media's snapshot.

        Raises:
            KeyError: The emulator holds no such media (or it expired).
        """
        with self._state.lock:
            media = self._state.find(int(media_id))
            if media is None:
                raise KeyError(media_id)
            return media.record()

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """
        The requests received, oldest first (no headers, no bodies, no secrets).
        """
        return self._state.requests()

    @property
    def stats(self) -> EmulatorStats:
        """
        Counters since the start or the last `reset_stats`.
        """
        return self._state.stats()

    @property
    def max_concurrent(self) -> int:
        """
        The most requests that were in progress at the same time.
        """
        return self._state.stats().max_concurrent

    def reset_stats(self) -> None:
        """
        Zero the counters (`stats`, `max_concurrent`) and clear `requests`.
        """
        self._state.reset_stats()

    def reset(self) -> None:
        """
        Forget all media, counters, the request log, planned faults and window usage.

        Rate-limit settings, the processing plan and the credentials stay.
        """
        self._state.reset()

    # Rate limits

    def set_rate_limit(self, key: str, *, limit: int, window: float = 900.0) -> None:
        """
        Allow *limit* requests per *window* seconds for one command, starting afresh.

        Args:
            key: ``"upload"``, ``"INIT"``, ``"APPEND"``, ``"FINALIZE"``,
                ``"STATUS"`` or ``"metadata"``.
            limit: Requests per window; 0 refuses them all with 429.
            window: The window's length, seconds.
        """
        with self._state.lock:
            self._state.rate_limits.configure(
                check_key(key), limit=limit, window=window
            )

    def rate_limit(self, key: str) -> Mapping[str, int]:
        """
        The window of *key* as its headers would report it now: limit, remaining, reset.
        """
        check_key(key)
        with self._state.lock:
            headers = self._state.rate_limits.peek(key, self._state.clock())
        return {
            name.removeprefix("x-rate-limit-"): int(value)
            for name, value in headers.items()
        }

    # Faults

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        command: str | None = None,
    ) -> None:
        """
        Answer the next *count* requests with an error instead of serving them.

        The request's body is read first; nothing is stored, no rate-limit
        window is counted and the signature is not checked, as when a front
        end fails before the service sees the request.

        Args:
            count: How many requests.
            status: The HTTP status to answer with.
            body: Bytes, text or a JSON object; None sends the service's usual
                error body for *status* (code 130 for 503, 88 for 429, ...).
            headers: Extra response headers, such as ``{"Retry-After": "2"}``.
            command: Only requests for this command (a rate-limit key); None for any.
        """
        with self._state.lock:
            self._state.faults.add_failure(
                count, status=status, body=body, headers=headers, command=command
            )

    def drop_next(
        self, count: int = 1, *, after_bytes: int = 0, command: str | None = None
    ) -> None:
        """
        Close the connection of the next *count* requests without answering.

        Args:
            count: How many requests.
            after_bytes: Media bytes to read first (0 drops as the media part
                starts); requests without media are dropped once their body
                is read.
            command: Only requests for this command; None for any.
        """
        with self._state.lock:
            self._state.faults.add_drop(count, after_bytes=after_bytes, command=command)

    def set_latency(self, seconds: float, *, command: str | None = None) -> None:
        """
        Wait *seconds* before answering each request (or each for *command*); 0 stops.
        """
        with self._state.lock:
            self._state.faults.set_latency(seconds, command)

    def clear_faults(self) -> None:
        """
        Forget every planned failure, drop and latency.
        """
        with self._state.lock:
            self._state.faults.clear()

    def set_processing(
        self,
        mode: ProcessingMode = "succeed",
        *,
        steps: int = 1,
        check_after_secs: int = 1,
        error_code: int = 1,
        error_name: str = "InvalidMedia",
        error_message: str = "Unsupported video format",
    ) -> None:
        """
        Choose how background processing of GIFs and videos finalized from now on goes.

        FINALIZE answers ``pending``; each STATUS request then moves one step:
        *steps* answers say ``in_progress`` (with a growing
        ``progress_percent``), then the outcome follows.

        Args:
            mode: ``"succeed"``; ``"fail"`` (``state: failed`` with an
                ``error``); ``"stuck_in_progress"`` (stays ``in_progress`` at
                99% with an ``error`` object, as seen in practice); or
                ``"pending_forever"``.
            steps: ``in_progress`` answers before the outcome.
            check_after_secs: The wait the answers ask for.
            error_code: The processing error's code (1 InvalidMedia, 3 UnsupportedMedia).
            error_name: Its name.
            error_message: Its message.
        """
        plan = ProcessingPlan(
            mode=mode,
            steps=steps,
            check_after_secs=check_after_secs,
            error_code=error_code,
            error_name=error_name,
            error_message=error_message,
        )
        with self._state.lock:
            self._state.processing = plan
