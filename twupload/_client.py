"""
AsyncMediaClient: the lifecycle, the options, and the one-upload and batch entry points.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import time

from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from . import _batch
from ._auth import OAuth1Auth, OAuth1Signer
from ._batch import BatchIterator
from ._chunked import ChunkedOptions, ChunkedUpload
from ._credentials import BearerToken, OAuth1Credentials
from ._errors import APIError, ConfigurationError, InvalidMediaError, TwUploadError
from ._http import OwnClient
from ._media import (
    check_alt_text,
    normalize_category,
    normalize_owners,
    plan_upload,
)
from ._multipart import progress_reporter
from ._oauth2 import TokenRefresher
from ._protocol import MediaProtocol, V1Protocol, V2Protocol
from ._ratelimit import RateLimiter, RateLimitStore, scope_for
from ._results import ResumeState
from ._retry import RetryPolicy
from ._source import make_source
from ._transport import Transport


if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        Awaitable,
        Callable,
        Iterable,
        Mapping,
    )
    from types import TracebackType

    import httpx

    from anyio.abc import TaskGroup

    from ._media import MediaCategory
    from ._results import ProcessingInfo, RateLimit, UploadResult
    from ._types import MediaSource, ProgressCallback


logger = logging.getLogger("twupload")
S = TypeVar("S", bound="MediaSource")

#: Read when ``base_url=`` is not given, so a program can be pointed at the emulator.
BASE_URL_ENV_VAR = "TWUPLOAD_BASE_URL"
DEFAULT_BASE_URLS = {"1.1": "https://upload.twitter.com", "2": "https://api.x.com"}
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_PROTOCOLS: dict[str, Callable[..., MediaProtocol]] = {
    "1.1": V1Protocol,
    "2": V2Protocol,
}


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class AsyncMediaClient:
    """
    Uploads media to X, concurrently, paced by the service's rate limits.

    Use it as an async context manager; it owns the httpx client it creates
    (and closes it on exit) but never closes one you pass in.

    Args:
        credentials: `OAuth1Credentials`, or a `BearerToken` for ``api="2"``.
        base_url: Scheme and host of the service (the emulator's URL in tests).
            When omitted: the ``TWUPLOAD_BASE_URL`` environment variable if set (so
            the same program runs against the emulator unchanged), else
            ``https://upload.twitter.com`` for v1.1, ``https://api.x.com`` for v2.
        api: ``"1.1"`` or ``"2"``.
        max_concurrency: Uploads in flight at once, across every call on this client.
        timeout: Per request, in seconds, or an `httpx.Timeout`.
        max_retries: Retries per request for 5xx, 429 and network failures.
        http_client: An `httpx.AsyncClient` to use instead of creating one:
            for a proxy, say (the client twupload creates reads no proxy
            settings from the environment). Requests then go through its
            ``send``, with its hooks and cookies, at some CPU cost per request.
        processing_timeout: Longest wait for media processing, seconds.
        max_rate_limit_wait: Longest wait for a rate-limit reset before
            `RateLimitError` is raised instead, seconds.
        segment_bytes: Preferred APPEND segment size for chunked uploads; grown
            to ``ceil(total / 1000)`` when the upload would need more than 1000
            segments, and never above *max_segment_bytes*.
        max_segment_bytes: The largest APPEND segment sent, 5 MiB by default
            (the v1.1 limit; v2 publishes none). A chunked upload that would need
            more than 1000 segments of this size is refused before any I/O; lower
            it if the service answers an APPEND with 413.
        max_segments_in_flight: APPENDs of one chunked upload sent at once (the
            service assembles segments by index). Each still counts against the
            APPEND rate limit, and the upload as a whole takes one of the
            *max_concurrency* slots. Sources that can be read only in order (async
            iterables, unseekable files) send one at a time; 1 sends every
            upload's segments one after the other.
        rate_limit_store: Where pacing state lives: by default a
            `MemoryRateLimitStore` of this client's own; or any `RateLimitStore`,
            such as an open `RedisRateLimitStore`, which every client of the same
            account shares, in any process (never closed by the client). Windows
            are kept per account (derived from *credentials*, never a secret) and
            API version.
        on_token_refresh: Called with the new `BearerToken` after each refresh of
            the client's token (a sync function, or an async one, which is
            awaited): store it, since X retires the old refresh token. The
            token is refreshed when it expires within 60 seconds and once after
            a 401, if it has a refresh token; concurrent uploads share one refresh.
        clock: Wall-clock Unix time, for rate-limit resets and OAuth 1.0a timestamps
            (tests inject one).
        sleep: Async sleep (tests inject one).
    """

    def __init__(
        self,
        credentials: OAuth1Credentials | BearerToken,
        *,
        base_url: str | None = None,
        api: str = "1.1",
        max_concurrency: int = 8,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
        processing_timeout: float = 600.0,
        max_rate_limit_wait: float = 900.0,
        segment_bytes: int = 4 * 1024 * 1024,
        max_segment_bytes: int = 5 * 1024 * 1024,
        max_segments_in_flight: int = 3,
        rate_limit_store: RateLimitStore | None = None,
        on_token_refresh: Callable[[BearerToken], object] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        env_base_url = os.environ.get(BASE_URL_ENV_VAR)
        base_url = base_url or env_base_url or DEFAULT_BASE_URLS.get(api, "")
        _check_settings(
            credentials,
            api=api,
            base_url=base_url,
            from_env=base_url == env_base_url,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            segment_bytes=segment_bytes,
            max_segment_bytes=max_segment_bytes,
            max_segments_in_flight=max_segments_in_flight,
        )
        refresher: TokenRefresher | None = None
        if isinstance(credentials, BearerToken):
            refresher = TokenRefresher(
                credentials, base_url=base_url, on_refresh=on_token_refresh, clock=clock
            )
            auth: httpx.Auth = refresher.auth
        elif on_token_refresh is not None:
            raise ConfigurationError(
                "on_token_refresh needs a BearerToken: OAuth 1.0a tokens are not refreshed."
            )
        else:
            auth = OAuth1Auth(OAuth1Signer(credentials, clock=clock))

        self._owns_http = http_client is None
        # Every upload may have max_segments_in_flight requests open at once.
        self._http = http_client or OwnClient(
            max_concurrency=max_concurrency * max_segments_in_flight, timeout=timeout
        )
        self._max_concurrency = max_concurrency
        policy = RetryPolicy(
            max_retries=max_retries, max_rate_limit_wait=max_rate_limit_wait
        )
        if rate_limit_store is not None and not isinstance(
            rate_limit_store, RateLimitStore
        ):
            raise ConfigurationError(
                "rate_limit_store must be a RateLimitStore, such as "
                f"RedisRateLimitStore(url), not {type(rate_limit_store).__name__}."
            )
        self._limits = (
            RateLimiter(clock=clock, sleep=sleep)
            if rate_limit_store is None
            else rate_limit_store
        )
        self._scope = scope_for(credentials, api)
        new_transport = Transport if refresher is None else refresher.transport
        transport = new_transport(
            self._http,
            auth=auth,
            policy=policy,
            limiter=self._limits,
            scope=self._scope,
            clock=clock,
            sleep=sleep,
        )
        self._protocol = _PROTOCOLS[api](
            transport, base_url=base_url, max_segment_bytes=max_segment_bytes
        )
        self._chunked = ChunkedOptions(
            segment_bytes=segment_bytes,
            processing_timeout=processing_timeout,
            sleep=sleep,
            clock=clock,
            segments_in_flight=max_segments_in_flight,
        )
        self._state = _State.UNOPENED
        self._task_group: TaskGroup | None = None
        self._slots: anyio.CapacityLimiter | None = None
        self._file_threads: anyio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return (
            f"<AsyncMediaClient api={self._protocol.api!r} "
            f"max_concurrency={self._max_concurrency} state={self._state.name.lower()}>"
        )

    # Lifecycle

    async def __aenter__(self) -> AsyncMediaClient:  # noqa: PYI034 - 3.10 has no Self
        if self._state is not _State.UNOPENED:
            raise RuntimeError(
                "An AsyncMediaClient can be entered once; create a new one."
                if self._state is _State.OPENED
                else "This AsyncMediaClient is closed; create a new one."
            )
        self._state = _State.OPENED
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._task_group = self._task_group, None
        assert group is not None  # noqa: S101 - set by __aenter__
        # The body's exception must leave `async with` as the same object, and a
        # task group wraps whatever it is handed in an ExceptionGroup. So the
        # group gets only a cancellation (to tell an outer cancel from its own);
        # returning None then lets the body's exception propagate unchanged.
        cancelled = exc if isinstance(exc, anyio.get_cancelled_exc_class()) else None
        try:
            group.cancel_scope.cancel()
            if cancelled is None:
                await group.__aexit__(None, None, None)
            else:
                await group.__aexit__(exc_type, cancelled, tb)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """
        Close the client (and the httpx client, if this client created it).
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._owns_http:
            with anyio.CancelScope(shield=True):
                await self._http.aclose()

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise RuntimeError("This AsyncMediaClient is closed; create a new one.")
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self._max_concurrency)
            # Our own thread budget for file reads, so anyio's shared default
            # (40 threads) is not the bottleneck of a large batch.
            self._file_threads = anyio.CapacityLimiter(max(self._max_concurrency, 4))

    # Introspection

    @property
    def rate_limits(self) -> Mapping[str, RateLimit]:
        """
        The last rate limits the service reported, by command.

        Keys are ``"upload"``, ``"INIT"``, ``"APPEND"``, ``"FINALIZE"``,
        ``"STATUS"`` and ``"metadata"`` (their 15-minute windows), once each has
        been seen; and ``"<command>:24h-user"`` and ``"<command>:24h-app"`` for
        the 24-hour windows the v2 API reports. With a shared store, the limits
        this process saw.
        """
        return self._limits.snapshot(self._scope)

    # One upload

    async def upload(
        self,
        source: MediaSource,
        *,
        size: int | None = None,
        media_category: str | MediaCategory | None = None,
        media_type: str | None = None,
        additional_owners: Iterable[int | str] = (),
        alt_text: str | None = None,
        encoding: str = "binary",
        chunked: bool | None = None,
        on_progress: ProgressCallback | None = None,
        on_processing: Callable[[ProcessingInfo], object] | None = None,
        resume: ResumeState | None = None,
        shared: bool = False,
    ) -> UploadResult:
        """
        Upload one image, GIF or video, and return what the service accepted.

        Args:
            source: A path, bytes-like data, a binary file object (read from its
                current position and left open), or an async iterable of bytes
                with *size*.
            size: Total bytes; needed for async iterables and unseekable files.
            media_category: A `MediaCategory` or its string; inferred when omitted
                (``tweet_image``, ``tweet_gif`` or ``tweet_video``).
            media_type: MIME type; sniffed from the bytes when omitted.
            additional_owners: Up to 100 numeric user ids who may also use the media.
            alt_text: Up to 1000 characters, set once the upload succeeds.
            encoding: ``"binary"`` or ``"base64"`` (simple upload only).
            chunked: None chooses; True or False forces the chunked or simple flow.
            on_progress: Called as ``on_progress(sent_bytes, total_bytes)`` while sending.
            on_processing: Called with each `ProcessingInfo` while the service processes.
            resume: A `ResumeState` from a failed chunked upload of the same source.
            shared: Make direct-message media reusable across conversations
                (``dm_*`` categories only). Sent on INIT / initialize, so the
                upload goes chunked.

        Raises:
            InvalidMediaError: Bad input, before any network I/O.
            APIError: The service refused the upload (see the subclasses).
            TransportError: The network failed and retries are spent.
            UploadTimeoutError: Processing outlasted *processing_timeout*.
            ResumeExpiredError: *resume* refers to media the service discarded.
        """
        self._check_open()
        category = normalize_category(media_category)
        owners = normalize_owners(additional_owners)
        alt = check_alt_text(alt_text)
        if resume is not None and not isinstance(resume, ResumeState):
            raise InvalidMediaError(
                "resume must be a ResumeState (see ResumeState.from_json)."
            )
        if on_progress is not None and not callable(on_progress):
            raise InvalidMediaError("on_progress must be callable.")
        if not isinstance(shared, bool):
            raise InvalidMediaError(f"shared must be True or False, not {shared!r}.")
        assert self._slots is not None  # noqa: S101 - set by _check_open
        assert self._file_threads is not None  # noqa: S101 - set by _check_open
        src = make_source(source, size=size, limiter=self._file_threads)

        async with self._slots:
            try:
                await src.open()
                plan = plan_upload(
                    api=self._protocol.api,
                    head=src.head,
                    total_bytes=src.size,
                    media_type=media_type,
                    media_category=category,
                    chunked=True if resume is not None else chunked,
                    encoding=encoding,
                    has_alt_text=alt is not None,
                    shared=shared,
                    max_segment_bytes=self._protocol.max_segment_bytes,
                )
                if plan.chunked:
                    result = await ChunkedUpload(
                        self._protocol,
                        src,
                        plan,
                        owners=owners,
                        options=self._chunked,
                        on_progress=on_progress,
                        on_processing=on_processing,
                    ).run(resume)
                else:
                    result = await self._protocol.upload_simple(
                        src,
                        plan,
                        owners=owners,
                        base64=encoding == "base64",
                        on_progress=progress_reporter(on_progress, total=src.size),
                    )
            finally:
                with anyio.CancelScope(shield=True):
                    await src.aclose()

        if alt is not None:
            await self._alt_text_after_upload(result, alt)
        return result

    async def _alt_text_after_upload(self, result: UploadResult, text: str) -> None:
        try:
            await self._protocol.set_alt_text(result.media_id, text)
        except APIError as exc:
            exc.args = (
                (
                    f"{exc.args[0]} Media {result.media_id} was uploaded, but its alt "
                    f"text was not set; retry with set_alt_text({result.media_id}, ...)."
                ),
            )
            raise

    async def status(self, media_id: int | str) -> UploadResult:
        """
        Ask the service for a media id's state (STATUS), including processing progress.
        """
        self._check_open()
        return await self._protocol.status(_media_id(media_id))

    async def set_alt_text(self, media_id: int | str, text: str) -> None:
        """
        Attach alt text (up to 1000 characters) to an uploaded image or GIF.
        """
        self._check_open()
        checked = check_alt_text(text)
        assert checked is not None  # noqa: S101 - a str stays a str
        await self._protocol.set_alt_text(_media_id(media_id), checked)

    async def set_subtitles(
        self,
        video_media_id: int | str,
        subtitles_media_id: int | str,
        *,
        language_code: str,
        display_name: str | None = None,
        video_category: str | MediaCategory = "tweet_video",
    ) -> None:
        """
        Associate uploaded subtitles with an uploaded video, before or after posting.

        Upload the SRT or VTT file first with ``media_category="subtitles"``.

        Args:
            video_media_id: The video's media id.
            subtitles_media_id: The subtitles' media id.
            language_code: A BCP 47 language code, such as ``"en"``.
            display_name: The name viewers see, such as ``"English"``.
            video_category: The video's category: ``tweet_video`` or ``amplify_video``.
        """
        self._check_open()
        await self._protocol.set_subtitles(
            _media_id(video_media_id),
            _media_id(subtitles_media_id),
            language_code=_language_code(language_code),
            display_name=_display_name(display_name),
            video_category=_subtitled_category(video_category),
        )

    async def delete_subtitles(
        self,
        video_media_id: int | str,
        *,
        language_code: str,
        video_category: str | MediaCategory = "tweet_video",
    ) -> None:
        """
        Dissociate a video's subtitles in *language_code* (the service deletes them).

        Args:
            video_media_id: The video's media id.
            language_code: The BCP 47 code the subtitles were set with.
            video_category: The video's category: ``tweet_video`` or ``amplify_video``.
        """
        self._check_open()
        await self._protocol.delete_subtitles(
            _media_id(video_media_id),
            language_code=_language_code(language_code),
            video_category=_subtitled_category(video_category),
        )

    # Batches

    async def upload_many(
        self, sources: Iterable[S], **options: Any
    ) -> list[UploadResult | TwUploadError]:
        """
        Upload every source concurrently; one entry per source, in input order.

        A failed upload is returned as its exception, and does not stop the
        others. Cancelling the call cancels every upload in flight; an exception
        that is not a `TwUploadError` (from your callback, say) cancels the batch
        and is raised as it is. Takes the same keyword options as `upload`.
        """
        self._check_open()
        return await _batch.upload_many(
            self.upload, sources, options, workers=self._max_concurrency
        )

    def iter_upload(
        self, sources: Iterable[S] | AsyncIterable[S], **options: Any
    ) -> BatchIterator[S]:
        """
        Yield a `BatchItem` as each upload finishes, consuming *sources* lazily.

        At most ``max_concurrency`` sources are open at once. Breaking out of
        the loop (or closing the generator) cancels the uploads still in
        flight; leaving ``async with`` cancels them too. An exception that is
        not a `TwUploadError` (from *sources* or your callback) ends the loop
        and is raised as it is. Needs the client to be entered with ``async with``.
        Takes the same keyword options as `upload`.
        """
        self._check_open()
        if self._task_group is None:
            raise RuntimeError(
                "iter_upload needs `async with AsyncMediaClient(...) as client:`."
            )
        return BatchIterator(
            self.upload,
            sources,
            options,
            workers=self._max_concurrency,
            background=self._task_group,
        )


def _media_id(value: int | str) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.isdigit())
    ):
        raise InvalidMediaError(f"media_id must be a numeric id, not {value!r}.")
    return int(value)


# The subtitles endpoints name the video's category in CamelCase (v1.1 and v2 docs).
_SUBTITLED_CATEGORIES = {"tweet_video": "TweetVideo", "amplify_video": "AmplifyVideo"}


def _subtitled_category(value: str | MediaCategory) -> str:
    name = normalize_category(value) or ""
    if name not in _SUBTITLED_CATEGORIES:
        raise InvalidMediaError(
            f"Subtitles go with tweet_video or amplify_video media, not {name or value!r}."
        )
    return _SUBTITLED_CATEGORIES[name]


def _language_code(value: object) -> str:
    if not isinstance(value, str) or not _LANGUAGE_CODE.fullmatch(value):
        raise InvalidMediaError(
            f"language_code must be a BCP 47 code such as 'en' or 'pt-BR', not {value!r}."
        )
    return value


def _display_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidMediaError(
            f"display_name must be a non-empty string or None, not {value!r}."
        )
    return value


def _check_settings(
    credentials: object,
    *,
    api: str,
    base_url: str,
    from_env: bool,
    max_concurrency: int,
    max_retries: int,
    segment_bytes: int,
    max_segment_bytes: int,
    max_segments_in_flight: int,
) -> None:
    if not isinstance(credentials, (OAuth1Credentials, BearerToken)):
        raise ConfigurationError(
            "credentials must be OAuth1Credentials or BearerToken "
            f"(got {type(credentials).__name__})."
        )
    if api not in {"1.1", "2"}:
        raise ConfigurationError(f'api must be "1.1" or "2", not {api!r}.')
    if isinstance(credentials, BearerToken) and api != "2":
        raise ConfigurationError(
            'A BearerToken works with api="2" only; v1.1 needs OAuth1Credentials.'
        )
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"base_url must start with http:// or https://, not {base_url!r}"
            + (
                f" (from the {BASE_URL_ENV_VAR} environment variable)."
                if from_env
                else "."
            )
        )
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ConfigurationError(
            f"max_concurrency must be an int >= 1, not {max_concurrency!r}."
        )
    if (
        isinstance(max_retries, bool)
        or not isinstance(max_retries, int)
        or max_retries < 0
    ):
        raise ConfigurationError(
            f"max_retries must be an int >= 0, not {max_retries!r}."
        )
    if segment_bytes < 1:
        raise ConfigurationError(
            f"segment_bytes must be positive, not {segment_bytes!r}."
        )
    if (
        isinstance(max_segment_bytes, bool)
        or not isinstance(max_segment_bytes, int)
        or max_segment_bytes < 1
    ):
        raise ConfigurationError(
            f"max_segment_bytes must be an int >= 1, not {max_segment_bytes!r}."
        )
    if (
        isinstance(max_segments_in_flight, bool)
        or not isinstance(max_segments_in_flight, int)
        or max_segments_in_flight < 1
    ):
        raise ConfigurationError(
            "max_segments_in_flight must be an int >= 1, not "
            f"{max_segments_in_flight!r}."
        )
