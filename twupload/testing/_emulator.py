"""
The `Emulator`: a local v1.1 and v2 upload service in its own thread, and what tests do with it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time

from typing import TYPE_CHECKING, Any

from anyio.from_thread import start_blocking_portal

from .._credentials import OAuth1Credentials
from ._faults import ProcessingPlan, check_api
from ._oauth import OAuthVerifier
from ._ratelimit import (
    APP_DAY_PREFIX,
    DAY,
    USER_DAY_PREFIX,
    WINDOW_PREFIX,
    check_key,
)
from ._state import EmulatorState


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from anyio.from_thread import BlockingPortal

    from ._records import (
        EmulatorStats,
        MediaRecord,
        ProcessingMode,
        RequestRecord,
    )
    from ._server import EmulatorServer
    from ._tokens import IssuedToken


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
    A local stand-in for X's media upload API, v1.1 and v2, on a real socket.

    It runs aiohttp's server on its own event loop in a background thread, so
    sync tests and async tests on asyncio or trio can use it alike. It checks
    every request's OAuth 1.0a signature against `credentials` (and, on v2
    paths, OAuth 2.0 bearer tokens from `issue_token`), implements v1.1's
    simple upload, INIT, APPEND, FINALIZE, STATUS and ``metadata/create``
    commands and v2's ``/2/media/upload`` endpoints with the service's status
    codes and error bodies, reports rate-limit headers per command, and can be
    told to misbehave.

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
            now = state.clock()
            return {media.media_id: media.record(now) for media in found if media}

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
            return media.record(self._state.clock())

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

        Rate-limit settings, the processing plan, the credentials and the
        OAuth 2.0 tokens stay.
        """
        self._state.reset()

    # Rate limits

    def set_rate_limit(
        self,
        key: str,
        *,
        limit: int,
        window: float = 900.0,
        day_limit: int | None = None,
        app_day_limit: int | None = None,
        day_window: float = DAY,
        api: str | None = None,
    ) -> None:
        """
        Allow *limit* requests per *window* seconds for one command, starting afresh.

        With *day_limit* or *app_day_limit*, the command also has the 24-hour
        user or app window of the X API v2: its answers carry
        ``x-user-limit-24hour-*`` or ``x-app-limit-24hour-*`` headers, and a
        request is refused with 429 when any window is spent.

        Args:
            key: ``"upload"``, ``"INIT"``, ``"APPEND"``, ``"FINALIZE"``,
                ``"STATUS"`` or ``"metadata"``.
            limit: Requests per window; 0 refuses them all with 429.
            window: The window's length, seconds (fractions allowed; the reset
                header rounds up to a whole second).
            day_limit: Requests per 24-hour user window; None for none.
            app_day_limit: Requests per 24-hour app window; None for none.
            day_window: The 24-hour windows' length, seconds (shorter in tests).
            api: The API version whose window this is, ``"1.1"`` or ``"2"``
                (each has its own); None sets both.
        """
        checked = check_api(api)
        apis = ("1.1", "2") if checked is None else (checked,)
        with self._state.lock:
            for version in apis:
                self._state.windows(version).configure(
                    check_key(key),
                    limit=limit,
                    window=window,
                    day_limit=day_limit,
                    app_day_limit=app_day_limit,
                    day_window=day_window,
                )

    def rate_limit(self, key: str, *, api: str = "1.1") -> Mapping[str, int]:
        """
        The windows of *key* (of API version *api*) as their headers would report them now.

        ``limit``, ``remaining`` and ``reset`` for the 15-minute window; with
        24-hour windows, also ``user_24hour_limit`` (``_remaining``,
        ``_reset``) and ``app_24hour_limit`` (...).
        """
        check_key(key)
        if check_api(api) is None:
            raise ValueError("api must be '1.1' or '2'.")
        with self._state.lock:
            headers = self._state.windows(api).peek(key, self._state.clock())
        names = {
            WINDOW_PREFIX: "",
            USER_DAY_PREFIX: "user_24hour_",
            APP_DAY_PREFIX: "app_24hour_",
        }
        found: dict[str, int] = {}
        for prefix, short in names.items():
            for name, value in headers.items():
                if name.startswith(prefix):
                    found[short + name.removeprefix(prefix)] = int(value)
        return found

    # Faults

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        command: str | None = None,
        api: str | None = None,
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
                error body for *status* in the request's API version: v1.1's
                error list (code 130 for 503, 88 for 429, ...), v2's
                ``about:blank`` problem document.
            headers: Extra response headers, such as ``{"Retry-After": "2"}``.
            command: Only requests for this command (a rate-limit key, or
                ``"token"`` for ``POST /2/oauth2/token``); None for any.
            api: Only requests to this API version (``"1.1"``, ``"2"``); None for any.
        """
        with self._state.lock:
            self._state.faults.add_failure(
                count,
                status=status,
                body=body,
                headers=headers,
                command=command,
                api=api,
            )

    def cap_usage(
        self,
        count: int | None = None,
        *,
        period: str = "Monthly",
        scope: str = "Product",
        command: str | None = None,
        api: str | None = None,
    ) -> None:
        """
        Answer media requests with 429 ``UsageCapExceeded``, as past a plan's usage cap.

        The body is the problem X sends (``"title": "UsageCapExceeded"``,
        ``type`` ending in ``/2/problems/usage-capped``, *period* and
        *scope*), and the ``x-rate-limit-*`` headers show the request's window
        as it stands, remaining requests and all: no wait reopens a cap.
        Like `fail_next`, it answers before anything else; token requests
        are never capped.

        Args:
            count: How many requests; None for every one until `clear_faults`.
            period: ``"Monthly"`` or ``"Daily"``.
            scope: ``"Product"`` or ``"Account"``.
            command: Only requests for this command; None for any media request.
            api: Only requests to this API version; None for both.
        """
        user_id = self.credentials.access_token.partition("-")[0]
        with self._state.lock:
            self._state.faults.add_usage_cap(
                count,
                period=period,
                scope=scope,
                account_id=user_id if user_id.isdigit() else "1",
                command=command,
                api=api,
            )

    def refuse_v1_1(
        self, count: int | None = None, *, command: str | None = None
    ) -> None:
        """
        Answer v1.1 requests with 403 and error 453, as for an account without v1.1 access.

        X answers so when the account's access level covers v2 only
        (``{"errors": [{"message": "You currently have access to a subset of X
        API V2 endpoints and limited v1.1 endpoints ...", "code": 453}]}``).
        v2 requests are served as usual. Like `fail_next`, it answers before
        anything else.

        Args:
            count: How many requests; None for every one until `clear_faults`.
            command: Only requests for this command; None for any.
        """
        with self._state.lock:
            self._state.faults.add_access_refusal(count, command=command)

    def drop_next(
        self,
        count: int = 1,
        *,
        after_bytes: int = 0,
        command: str | None = None,
        api: str | None = None,
    ) -> None:
        """
        Close the connection of the next *count* requests without answering.

        Args:
            count: How many requests.
            after_bytes: Media bytes to read first (0 drops as the media part
                starts); requests without media are dropped once their body
                is read.
            command: Only requests for this command; None for any.
            api: Only requests to this API version (``"1.1"``, ``"2"``); None for any.
        """
        with self._state.lock:
            self._state.faults.add_drop(
                count, after_bytes=after_bytes, command=command, api=api
            )

    def set_latency(self, seconds: float, *, command: str | None = None) -> None:
        """
        Wait *seconds* before answering each request (or each for *command*); 0 stops.
        """
        with self._state.lock:
            self._state.faults.set_latency(seconds, command)

    def clear_faults(self) -> None:
        """
        Forget every planned failure, drop and latency (usage caps and v1.1 refusals too).
        """
        with self._state.lock:
            self._state.faults.clear()

    # OAuth 2.0

    def issue_token(
        self,
        scopes: Sequence[str] = ("tweet.read", "users.read", "media.write"),
        *,
        expires_in: int = 7200,
        refresh: bool = True,
        confidential: bool = False,
    ) -> IssuedToken:
        """
        A new OAuth 2.0 user token that /2 paths accept, as after X's authorization flow.

        The token works until *expires_in* seconds from now by the emulator's
        clock (then 401), and only with the ``media.write`` scope (else 403).
        Its refresh token is exchanged at ``POST /2/oauth2/token``
        (``grant_type=refresh_token``) for a new token and a new refresh
        token; the one used stops working. `stats` counts those requests
        (``token_requests``). v1.1 paths refuse bearer tokens.

        Args:
            scopes: The scopes granted.
            expires_in: The access token's lifetime, seconds (X's: two hours).
            refresh: Issue a refresh token too (``offline.access`` is added to
                the scopes).
            confidential: Issue it to a confidential client, which refreshes
                with HTTP Basic auth (``client_id:client_secret``); a public
                client sends ``client_id`` in the form instead.

        Returns:
            The token, with its refresh token, expiry, scopes and client; its
            ``bearer_token()`` is the `twupload.BearerToken` to give a client.
        """
        with self._state.lock:
            return self._state.tokens.issue(
                scopes=scopes,
                expires_in=expires_in,
                refresh=refresh,
                confidential=confidential,
            )

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

        Processing moves with the emulator's clock, not with STATUS requests:
        FINALIZE answers ``pending`` with *check_after_secs*; every
        *check_after_secs* seconds after it, processing moves one step:
        *steps* steps say ``in_progress`` (with a growing
        ``progress_percent``), then the outcome follows. A STATUS sent before
        the wait the previous answer asked for sees the state as it is (it
        does not hurry processing), and is counted in
        ``stats.early_status_polls`` with the note
        ``"STATUS before check_after_secs"`` in `requests`. With
        ``check_after_secs=0`` there is no time to measure: each STATUS
        moves processing one step.

        To test processing without waiting, give the emulator and the client
        the same fake clock (the client sleeps *check_after_secs* on it).

        Args:
            mode: ``"succeed"``; ``"fail"`` (``state: failed`` with an
                ``error``); ``"stuck_in_progress"`` (stays ``in_progress`` at
                99% with an ``error`` object, as seen in practice); or
                ``"pending_forever"``.
            steps: ``in_progress`` steps before the outcome.
            check_after_secs: The wait the answers ask for, and each step's length.
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
