"""
The chunked flow: INIT, APPEND each segment, FINALIZE, then STATUS while processing.

It speaks only the `MediaProtocol` interface, so v1.1 and v2 share it. Up to
`ChunkedOptions.segments_in_flight` APPENDs are sent at once (the service
assembles segments by index, not by arrival); a source that can be read only
in order sends one at a time. Every failure after INIT leaves a `ResumeState`
on the exception, listing exactly the segments that succeeded, so the caller
can continue without sending them again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ._errors import (
    InvalidMediaError,
    MediaProcessingError,
    ResumeExpiredError,
    UploadTimeoutError,
    end_sentence,
)
from ._media import MAX_SEGMENTS
from ._protocol import Segment
from ._results import ResumeState


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from anyio.abc import TaskGroup

    from ._media import UploadPlan
    from ._protocol import MediaProtocol
    from ._results import ProcessingInfo, UploadResult
    from ._source import Source


logger = logging.getLogger("twupload")

DEFAULT_CHECK_AFTER = 2.0


def segment_size_for(total_bytes: int, *, preferred: int, maximum: int) -> int:
    """
    The segment size: *preferred* (capped at *maximum*), grown so that at most
    1000 segments are needed: at least ``ceil(total_bytes / 1000)``.

    Raises:
        InvalidMediaError: Even *maximum*-sized segments would need more than 1000.
    """
    size = max(min(preferred, maximum), -(-total_bytes // MAX_SEGMENTS))
    if size > maximum:
        raise InvalidMediaError(
            f"{total_bytes} bytes need segments of {size} bytes to fit in "
            f"{MAX_SEGMENTS} APPENDs, above max_segment_bytes={maximum}; raise "
            "max_segment_bytes on the client or make the file smaller."
        )
    return size


def segments(total_bytes: int, size: int) -> list[Segment]:
    """
    Split ``[0, total_bytes)`` into consecutive segments of *size* (the last may be shorter).
    """
    return [
        Segment(index, start, min(size, total_bytes - start))
        for index, start in enumerate(range(0, total_bytes, size))
    ]


@dataclass(frozen=True, slots=True)
class ChunkedOptions:
    """
    Settings of the chunked flow that come from the client.

    Attributes:
        segment_bytes: Preferred segment size.
        processing_timeout: Longest total wait for processing, seconds.
        sleep: Async sleep (injectable).
        clock: The clock the processing deadline is measured on (injectable).
        segments_in_flight: Most APPENDs of one upload sent at once (1 sends
            them one after the other).
    """

    segment_bytes: int
    processing_timeout: float
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    segments_in_flight: int = 1


class ChunkedUpload:
    """
    One chunked upload of one source.
    """

    def __init__(
        self,
        protocol: MediaProtocol,
        source: Source,
        plan: UploadPlan,
        *,
        owners: Sequence[str],
        options: ChunkedOptions,
        on_progress: Callable[[int, int], object] | None,
        on_processing: Callable[[ProcessingInfo], object] | None,
    ) -> None:
        self._protocol = protocol
        self._source = source
        self._plan = plan
        self._owners = owners
        self._options = options
        self._on_progress = on_progress
        self._on_processing = on_processing
        self._state: ResumeState | None = None

    def _check_resume(self, state: ResumeState) -> None:
        if state.api != self._protocol.api:
            raise InvalidMediaError(
                f"This resume state comes from API {state.api}, but the client speaks "
                f"{self._protocol.api}; resume it with a client of the same api."
            )
        if state.total_bytes != self._source.size:
            raise InvalidMediaError(
                f"The resume state is for {state.total_bytes} bytes but the source has "
                f"{self._source.size}; resume with the same source."
            )
        if state.is_expired():
            raise ResumeExpiredError(
                f"Media {state.media_id} expired at {state.expires_at:%Y-%m-%d %H:%M:%S} "
                "UTC; upload the source again without resume."
            )

    async def run(self, resume: ResumeState | None) -> UploadResult:
        """
        Upload, resuming from *resume* when given; errors after INIT carry ``resume``.
        """
        if resume is not None:
            self._check_resume(resume)
            self._state = resume
        else:
            size = segment_size_for(
                self._source.size,
                preferred=self._options.segment_bytes,
                maximum=self._protocol.max_segment_bytes,
            )
            created = await self._protocol.init(self._plan, owners=self._owners)
            self._state = ResumeState(
                media_id=created.media_id,
                api=self._protocol.api,
                segment_size=size,
                acknowledged=(),
                total_bytes=self._source.size,
                expires_at=created.expires_at,
                media_type=self._plan.media_type,
            )
        try:
            return await self._append_and_finalize()
        except BaseException as exc:
            _attach(exc, self._state)
            raise

    async def _append_and_finalize(self) -> UploadResult:
        state = self._state
        assert state is not None  # noqa: S101 - set by run()
        done = set(state.acknowledged)
        todo: list[Segment] = []
        sent_before = 0
        for segment in segments(state.total_bytes, state.segment_size):
            if segment.index in done:
                sent_before += segment.length
            else:
                todo.append(segment)
        progress = _Progress(
            self._on_progress, total=self._source.size, base=sent_before
        )
        # A source read only in order (async iterable, unseekable file) cannot
        # feed two segments at once.
        width = self._options.segments_in_flight if self._source.replayable else 1
        await self._append_all(iter(todo), min(width, len(todo)), done, progress)

        result = await self._protocol.finalize(state.media_id)
        return await self._wait_for_processing(result)

    async def _append_all(
        self,
        todo: Iterator[Segment],
        width: int,
        done: set[int],
        progress: _Progress,
    ) -> None:
        """
        Send every segment of *todo* through *width* slots; return once all succeeded.

        Each slot takes the next segment as it frees up, so a segment is read
        from the source only when its APPEND starts. The first failure (after
        the transport's retries) cancels the other slots and is raised as it
        is, never in an ExceptionGroup.
        """
        if width <= 1:
            await self._append_each(todo, done, progress)
            return
        failures: list[BaseException] = []

        async def slot(group: TaskGroup) -> None:
            try:
                await self._append_each(todo, done, progress)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:  # noqa: BLE001 - raised below, unwrapped
                failures.append(exc)
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for _ in range(width):
                group.start_soon(slot, group)
        if failures:
            raise failures[0]

    async def _append_each(
        self, todo: Iterator[Segment], done: set[int], progress: _Progress
    ) -> None:
        assert self._state is not None  # noqa: S101 - set by run()
        media_id = self._state.media_id
        for segment in todo:
            await self._protocol.append(
                media_id,
                segment,
                self._source,
                on_progress=progress.reporter(segment.index),
            )
            # Only a segment whose APPEND returned counts: one cancelled
            # mid-request is sent again on resume.
            done.add(segment.index)
            self._state = _with_acknowledged(self._state, done)

    async def _wait_for_processing(self, result: UploadResult) -> UploadResult:
        deadline = self._options.clock() + self._options.processing_timeout
        while (info := result.processing) is not None:
            if self._on_processing is not None:
                self._on_processing(info)
            if info.error is not None or info.state == "failed":
                error = info.error
                raise MediaProcessingError(
                    end_sentence(
                        f"Processing of media {result.media_id} failed"
                        f"{f': [{error.code}] {error.name}: {error.message}' if error else ''}"
                    )
                    + " Check the file plays locally and meets the service's limits "
                    "(codec, duration, dimensions).",
                    code=error.code if error else None,
                    name=error.name if error else None,
                    detail=error.message if error else None,
                    media_id=result.media_id,
                )
            if info.state == "succeeded":
                return result
            remaining = deadline - self._options.clock()
            if remaining <= 0:
                raise UploadTimeoutError(
                    f"Media {result.media_id} was still {info.state} after "
                    f"{self._options.processing_timeout:.0f} s; raise processing_timeout "
                    "or check later with client.status(media_id).",
                    media_id=result.media_id,
                )
            wait = info.check_after_secs
            delay = DEFAULT_CHECK_AFTER if wait is None else max(float(wait), 0.1)
            logger.info(
                "media %d: processing %s (%s%%), checking again in %.1f s",
                result.media_id,
                info.state,
                info.progress_percent if info.progress_percent is not None else "?",
                min(delay, remaining),
            )
            await self._options.sleep(min(delay, remaining))
            result = await self._protocol.status(result.media_id)
        return result


class _Progress:
    """
    ``on_progress(sent, total)`` for segments that may be in flight together.

    *sent* is the sum of how far each segment's body got (plus *base*, the
    bytes acknowledged before this call), so it grows as any segment advances,
    whatever order they finish in. A segment sent again (a retry) counts only
    once it passes where it got before: the value never goes down, and never
    above *total*.
    """

    def __init__(
        self, callback: Callable[[int, int], object] | None, *, total: int, base: int
    ) -> None:
        self._callback = callback
        self._total = total
        self._sent = base
        self._furthest: dict[int, int] = {}

    def reporter(self, index: int) -> Callable[[int], None] | None:
        """
        The byte counter for segment *index*'s body, or None without a callback.
        """
        callback = self._callback
        if callback is None:
            return None

        def report(sent: int) -> None:
            gained = sent - self._furthest.get(index, 0)
            if gained > 0:
                self._furthest[index] = sent
                self._sent += gained
                callback(self._sent, self._total)

        return report


def _with_acknowledged(state: ResumeState, done: set[int]) -> ResumeState:
    return dataclasses.replace(state, acknowledged=tuple(sorted(done)))


def _attach(exc: BaseException, state: ResumeState | None) -> None:
    # Cancellation exceptions are not ours, but a caller who catches one can
    # still resume; an exception type that refuses attributes just goes without.
    with contextlib.suppress(AttributeError):
        exc.resume = state  # type: ignore[attr-defined]
