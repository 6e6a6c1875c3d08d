"""
Batches: `upload_many` and `iter_upload`, over one client's shared slots and pacing.

Both run several uploads at once in task groups, and both promise that no
`ExceptionGroup` reaches the caller: an upload's `TwUploadError` is its result,
and anything else (the caller's own callback or source failing) cancels the
batch and is raised as it is.
"""

from __future__ import annotations

import contextlib

from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from ._errors import TwUploadError
from ._results import BatchItem, UploadResult


if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        Awaitable,
        Callable,
        Iterable,
    )

    from anyio.abc import ObjectSendStream, TaskGroup

    from ._types import MediaSource

    _Upload = Callable[..., Awaitable[UploadResult]]


S = TypeVar("S", bound="MediaSource")


async def upload_many(
    upload: _Upload, sources: Iterable[S], options: dict[str, Any], *, workers: int
) -> list[UploadResult | TwUploadError]:
    """
    Upload every source; one entry per source, in input order.

    A fixed set of workers shares one iterator, rather than a task per source:
    starting thousands of tasks at once stalls the event loop.
    """
    items = list(sources)
    results: list[UploadResult | TwUploadError | None] = [None] * len(items)
    pending = enumerate(items)
    failure: list[Exception] = []

    async def settle(source: S) -> UploadResult | TwUploadError:
        try:
            return await upload(source, **options)
        except TwUploadError as exc:
            return exc

    async def worker(group: TaskGroup) -> None:
        try:
            for index, source in pending:
                results[index] = await settle(source)
        except Exception as exc:  # noqa: BLE001 - raised below, unwrapped
            failure.append(exc)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        for _ in range(min(workers, len(items))):
            group.start_soon(worker, group)
    if failure:
        raise failure[0]
    return [r for r in results if r is not None]


class BatchIterator(Generic[S]):
    """
    The uploads of one `AsyncMediaClient.iter_upload` call, as they finish.

    Iterate it with ``async for`` to get a `BatchItem` per source. Use it as an
    async context manager (or call `aclose`) to cancel the uploads still in
    flight as soon as you leave the loop early::

        async with client.iter_upload(paths) as batch:
            async for item in batch:
                ...

    An exception that is not a `TwUploadError` (from your sources or callback)
    ends the loop and is raised as it is.
    """

    # A class rather than an async generator: the uploads run in the client's
    # background group (a task group must be left by the task that entered it,
    # and a generator may be resumed from any task or never closed), and an
    # abandoned async generator warns on trio when it is collected.

    def __init__(
        self,
        upload: _Upload,
        sources: Iterable[S] | AsyncIterable[S],
        options: dict[str, Any],
        *,
        workers: int,
        background: TaskGroup,
    ) -> None:
        send, self._receive = anyio.create_memory_object_stream[
            "BatchItem[S] | Exception"
        ]()
        self._scope = anyio.CancelScope()
        self._run = _BatchRun(upload, options, send, self._scope, workers=workers)
        self._sources = sources
        self._background: TaskGroup | None = background

    def __aiter__(self) -> BatchIterator[S]:
        return self

    async def __anext__(self) -> BatchItem[S]:
        if self._background is not None:
            # Start on the first step, so an iterator never iterated costs nothing.
            self._background.start_soon(self._run.run, self._sources)
            self._background = None
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._stop()
            raise StopAsyncIteration from None
        if isinstance(item, Exception):
            self._stop()
            raise item
        return item

    async def aclose(self) -> None:
        """
        Cancel the uploads still in flight and pull no more sources.
        """
        self._stop()
        await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> BatchIterator[S]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Breaking out of `async for` drops the last reference. The event loop
        # may be gone by now, so only close the stream: the batch then stops
        # (cancelling what is in flight) as soon as an upload finishes.
        self._receive.close()

    def _stop(self) -> None:
        # Cancel first, so no upload finishing now starts another source.
        self._background = None
        self._scope.cancel()
        self._receive.close()


class _BatchRun(Generic[S]):
    """
    Feeds sources to uploads as slots free up and hands every outcome to the consumer.

    Nothing but cancellation may escape `run`: it runs in the client's background
    group, where an exception would cancel the caller's own code.
    """

    def __init__(
        self,
        upload: _Upload,
        options: dict[str, Any],
        send: ObjectSendStream[BatchItem[S] | Exception],
        scope: anyio.CancelScope,
        *,
        workers: int,
    ) -> None:
        self._upload = upload
        self._options = options
        self._send = send
        self._scope = scope
        self._feeder = anyio.Semaphore(workers)

    async def run(self, sources: Iterable[S] | AsyncIterable[S]) -> None:
        with self._scope:
            async with self._send, anyio.create_task_group() as group:
                try:
                    await self._feed(sources, group)
                except Exception as exc:  # noqa: BLE001 - the consumer raises it
                    await self._deliver(exc)

    async def _feed(
        self, sources: Iterable[S] | AsyncIterable[S], group: TaskGroup
    ) -> None:
        async with contextlib.aclosing(_aiterate(sources)) as each:
            index = 0
            while True:
                # Take a slot before pulling the next source, so at most
                # *workers* sources are pulled but not yet yielded.
                await self._feeder.acquire()
                # anyio may grant the slot as cancellation arrives; do not
                # pull another source for a batch being torn down.
                if self._scope.cancel_called:
                    return
                try:
                    source = await anext(each)
                except StopAsyncIteration:
                    return
                group.start_soon(self._one, index, source)
                index += 1

    async def _one(self, index: int, source: S) -> None:
        try:
            result = await self._upload(source, **self._options)
        except TwUploadError as exc:
            await self._deliver(BatchItem(index, source, None, exc))
        except Exception as exc:  # noqa: BLE001 - the consumer raises it
            await self._deliver(exc)
        else:
            await self._deliver(BatchItem(index, source, result, None))
        finally:
            self._feeder.release()

    async def _deliver(self, item: BatchItem[S] | Exception) -> None:
        try:
            await self._send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The consumer has gone: stop the batch.
            self._scope.cancel()


async def _aiterate(sources: Iterable[S] | AsyncIterable[S]) -> AsyncGenerator[S, None]:
    if isinstance(sources, AsyncIterable):
        async for item in sources:
            yield item
    else:
        for item in sources:
            yield item
