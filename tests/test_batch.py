"""
Batches: order, isolation of failures, lazy consumption, bounded concurrency, cancellation.
"""

from __future__ import annotations

import itertools
import json

from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    BatchItem,
    InvalidMediaError,
    UploadResult,
)
from twupload._batch import _BatchRun

from checks import multipart_fields
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
METADATA = "https://upload.twitter.com/1.1/media/metadata/create.json"


def _width(body: bytes) -> int:
    """
    The width of the PNG in an upload's body: which source the request carries.
    """
    return int.from_bytes(body[body.index(b"IHDR") + 4 :][:4], "big")


class Server:
    """
    A respx handler that numbers uploads by the PNG width, fails on request, or blocks.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        self.release = anyio.Event()
        self.block = False
        self.finished = 0
        self.arrived = anyio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.arrived.set()
        try:
            if self.block:
                await self.release.wait()
            for _ in range(2):
                await anyio.lowlevel.checkpoint()
            width = _width(request.content)
            if width == 999:
                return httpx.Response(
                    400, json={"errors": [{"code": 324, "message": "bad"}]}
                )
            return httpx.Response(
                200, json={"media_id": width, "media_id_string": str(width)}
            )
        finally:
            self.in_flight -= 1
            self.finished += 1


@pytest.fixture
def server() -> Iterator[Server]:
    handler = Server()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(UPLOAD).mock(side_effect=handler)
        yield handler


async def test_upload_many_keeps_order_and_isolates_failures(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    Results come back in input order; a 400 and an invalid file sit in their slots.
    """
    sources = [png(width) for width in (1, 2, 999, 4)] + [b"not media", png(6)]
    async with AsyncMediaClient(creds, max_concurrency=3) as client:
        results = await client.upload_many(sources)
    assert [getattr(r, "media_id", None) for r in results] == [1, 2, None, 4, None, 6]
    assert isinstance(results[2], APIError)
    assert results[2].errors == ((324, "bad"),)
    assert isinstance(results[4], InvalidMediaError)
    assert server.max_in_flight <= 3


async def test_concurrency_is_bounded(server: Server, creds: OAuth1Credentials) -> None:
    """
    With max_concurrency=4 the server never sees more than 4 requests at once.
    """
    async with AsyncMediaClient(creds, max_concurrency=4) as client:
        results = await client.upload_many([png(i) for i in range(1, 21)])
    assert [r.media_id for r in results] == list(range(1, 21))  # type: ignore[union-attr]
    assert server.max_in_flight == 4


async def test_iter_upload_yields_items_as_they_finish(
    server: Server, creds: OAuth1Credentials, tmp_path: Path, opened: list[Any]
) -> None:
    """
    iter_upload yields one BatchItem per source with index and source, and closes every file.
    """
    paths = []
    for width in (1, 2, 999, 4):
        path = tmp_path / f"{width}.png"
        path.write_bytes(png(width))
        paths.append(path)
    async with AsyncMediaClient(creds, max_concurrency=2) as client:
        items = [item async for item in client.iter_upload(paths)]
    by_index = sorted(items, key=lambda item: item.index)
    assert [item.source for item in by_index] == paths
    assert [item.result.media_id if item.result else None for item in by_index] == [
        1,
        2,
        None,
        4,
    ]
    assert isinstance(by_index[2].error, APIError)
    assert not by_index[2].ok
    assert len(opened) == 4
    assert all(file.closed for file in opened)


async def test_iter_upload_is_lazy(server: Server, creds: OAuth1Credentials) -> None:
    """
    An endless generator of sources is consumed only as far as needed.
    """
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        for width in itertools.count(1):
            pulled += 1
            yield png(width)

    async with AsyncMediaClient(creds, max_concurrency=3) as client:
        batch = client.iter_upload(endless())
        seen = []
        async for item in batch:
            seen.append(item)
            if len(seen) == 5:
                break
        await batch.aclose()
    assert pulled <= 5 + 3
    assert all(isinstance(item, BatchItem) for item in seen)


async def test_iter_upload_accepts_async_sources(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    Sources may come from an async iterable.
    """

    async def sources() -> AsyncIterator[bytes]:
        for width in (7, 8):
            yield png(width)

    async with AsyncMediaClient(creds) as client:
        ids = sorted(
            [
                item.result.media_id
                async for item in client.iter_upload(sources())
                if item.result
            ]
        )
    assert ids == [7, 8]


async def test_iter_upload_reraises_a_failing_source_iterator(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    An exception from the caller's iterable reaches the consumer.
    """

    listing = OSError("listing failed")

    def broken() -> Iterator[bytes]:
        yield png(1)
        raise listing

    with pytest.raises(OSError, match="listing failed") as info:
        async with AsyncMediaClient(creds) as client:
            async for _ in client.iter_upload(broken()):
                pass
    assert info.value is listing
    assert server.calls == 1


async def test_iter_upload_needs_async_with(creds: OAuth1Credentials) -> None:
    """
    iter_upload refuses to run on a client that was not entered.
    """
    client = AsyncMediaClient(creds)
    with pytest.raises(RuntimeError, match="async with"):
        async for _ in client.iter_upload([png()]):
            pass
    await client.aclose()


async def test_cancelling_upload_many_cancels_everything(
    server: Server, creds: OAuth1Credentials, tmp_path: Path, opened: list[Any]
) -> None:
    """
    Cancelling upload_many stops every request in flight and closes every file.
    """
    paths = []
    for width in range(1, 7):
        path = tmp_path / f"{width}.png"
        path.write_bytes(png(width))
        paths.append(path)
    server.block = True
    async with AsyncMediaClient(creds, max_concurrency=3) as client:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(client.upload_many, paths)
                await server.arrived.wait()
                # Up to three uploads hold a slot and an open file; the first is
                # the rate-limit probe on the wire, the others wait for its answer.
                assert server.in_flight == 1
                scope.cancel()
    assert server.in_flight == 0
    assert server.finished == server.calls < 6
    assert 1 <= len(opened) <= 3
    assert all(file.closed for file in opened)


async def test_closing_iter_upload_cancels_uploads_in_flight(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    Closing the generator early cancels what is still uploading, leaving nothing behind.
    """
    async with AsyncMediaClient(creds, max_concurrency=3) as client:
        batch = client.iter_upload([png(1), png(2), png(3), png(4)])
        first = await batch.__anext__()
        server.block = True
        await batch.aclose()
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert server.in_flight == 0
    assert first.ok


async def test_leaving_the_client_cancels_a_forgotten_batch(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    A batch generator abandoned mid-way is cancelled when the client closes.
    """
    async with AsyncMediaClient(creds, max_concurrency=2) as client:
        batch = client.iter_upload([png(1), png(2), png(3), png(4)])
        first = await batch.__anext__()
        server.block = True
        server.arrived = anyio.Event()
        await server.arrived.wait()
        assert server.in_flight >= 1
    assert server.in_flight == 0
    assert first.ok
    await batch.aclose()


async def test_batch_stops_when_the_consumer_is_gone(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    If nobody receives the items any more, the batch cancels itself and pulls no more.
    """
    pulled: list[int] = []

    def sources() -> Iterator[bytes]:
        for width in range(1, 10):
            pulled.append(width)
            yield png(width)

    async with AsyncMediaClient(creds, max_concurrency=1) as client:
        send, receive = anyio.create_memory_object_stream[Any]()
        receive.close()
        scope = anyio.CancelScope()
        run = _BatchRun(client.upload, {}, send, scope, workers=1)
        await run.run(sources())
    assert scope.cancel_called
    assert pulled == [1]


async def test_closing_while_waiting_for_the_next_source(
    server: Server, creds: OAuth1Credentials
) -> None:
    """
    Closing the batch while the caller's async source is still producing cancels it cleanly.
    """
    stuck = anyio.Event()
    closed: list[bool] = []

    async def slow_sources() -> AsyncIterator[bytes]:
        try:
            yield png(1)
            await stuck.wait()
            yield png(2)
        finally:
            closed.append(True)

    async with AsyncMediaClient(creds) as client:
        batch = client.iter_upload(slow_sources())
        first = await batch.__anext__()
        await batch.aclose()
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert closed == [True]
    assert first.ok


class Recorder:
    """
    A respx handler keeping every upload's multipart fields and every alt text sent.
    """

    def __init__(self) -> None:
        self.uploads: list[dict[str, bytes]] = []
        self.alt_texts: dict[str, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata/create.json"):
            body = json.loads(request.content)
            self.alt_texts[body["media_id"]] = body["alt_text"]
            return httpx.Response(200)
        fields = multipart_fields(request.headers["content-type"], request.content)
        self.uploads.append(fields)
        width = _width(fields["media"])
        return httpx.Response(
            200, json={"media_id": width, "media_id_string": str(width)}
        )


@pytest.mark.parametrize("entry", ["iter_upload", "upload_many"])
async def test_batch_options_reach_every_upload(
    creds: OAuth1Credentials, entry: str
) -> None:
    """
    The keyword options of a batch are sent with every one of its uploads.
    """
    recorder = Recorder()
    sources = [png(width, pad=100 * width) for width in (1, 2, 3)]
    totals: set[int] = set()
    options: dict[str, Any] = {
        "media_category": "dm_image",
        "additional_owners": [12, "34"],
        "alt_text": "A test card",
        "on_progress": lambda sent, total: totals.add(total),
    }
    with respx.mock(assert_all_called=False) as mock:
        mock.post(UPLOAD).mock(side_effect=recorder)
        mock.post(METADATA).mock(side_effect=recorder)
        async with AsyncMediaClient(creds, max_concurrency=2) as client:
            if entry == "iter_upload":
                async for _ in client.iter_upload(sources, **options):
                    pass
            else:
                await client.upload_many(sources, **options)
    assert sorted(fields["media"] for fields in recorder.uploads) == sorted(sources)
    for fields in recorder.uploads:
        assert fields["media_category"] == b"dm_image"
        assert fields["additional_owners"] == b"12,34"
    assert recorder.alt_texts == {
        str(width): {"text": "A test card"} for width in (1, 2, 3)
    }
    assert totals == {len(source) for source in sources}


class Gates:
    """
    A respx handler holding each upload (named by its PNG width) until the test opens its gate.

    The first request is the rate-limit probe and goes out alone; the others
    arrive once it has been answered.
    """

    def __init__(self, expected: int) -> None:
        self.arrivals: list[int] = []
        self.first = anyio.Event()
        self.everyone = anyio.Event()
        self._expected = expected
        self._gates: dict[int, anyio.Event] = {}

    def open(self, width: int) -> None:
        self._gates.setdefault(width, anyio.Event()).set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        width = _width(request.content)
        self.arrivals.append(width)
        self.first.set()
        if len(self.arrivals) == self._expected:
            self.everyone.set()
        await self._gates.setdefault(width, anyio.Event()).wait()
        return httpx.Response(
            200, json={"media_id": width, "media_id_string": str(width)}
        )

    async def release(self, answered: list[anyio.Event]) -> list[int]:
        """
        Answer the probe, then the others from the last source to the first.

        Each gate opens only once the previous upload has been seen to finish
        (``answered[k]`` is set by the test when the k-th upload finishes), so
        the finishing order is exactly the returned one.
        """
        await self.first.wait()
        probe = self.arrivals[0]
        await self._release(probe, answered[0])
        await self.everyone.wait()
        rest = sorted(set(self.arrivals) - {probe}, reverse=True)
        for k, width in enumerate(rest, start=1):
            await self._release(width, answered[k])
        return [probe, *rest]

    async def _release(self, width: int, answered: anyio.Event) -> None:
        self.open(width)
        await answered.wait()


WIDTHS = (1, 2, 3, 4, 5)


async def test_iter_upload_items_carry_their_input_index_when_finishing_out_of_order(
    creds: OAuth1Credentials,
) -> None:
    """
    Uploads finishing in another order than the input still yield their source's position.
    """
    sources = [png(width) for width in WIDTHS]
    gates = Gates(expected=len(sources))
    answered = [anyio.Event() for _ in sources]
    items: list[BatchItem[bytes]] = []
    order: list[int] = []

    async def release() -> None:
        order.extend(await gates.release(answered))

    with respx.mock(assert_all_called=False) as mock, anyio.fail_after(10):
        mock.post(UPLOAD).mock(side_effect=gates)
        async with (
            AsyncMediaClient(creds, max_concurrency=len(sources)) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(release)
            async for item in client.iter_upload(sources):
                items.append(item)
                answered[len(items) - 1].set()

    assert order != sorted(order)  # they did finish out of order
    assert [item.index for item in items] == [WIDTHS.index(w) for w in order]
    assert all(item.source is sources[item.index] for item in items)
    # The service numbered each media by the PNG it received: the result is that source's.
    assert [item.result.media_id for item in items if item.result] == order


async def test_upload_many_returns_input_order_when_finishing_out_of_order(
    creds: OAuth1Credentials,
) -> None:
    """
    upload_many's list follows the input, not the order in which the uploads finished.
    """
    sources = [png(width) for width in WIDTHS]
    gates = Gates(expected=len(sources))
    answered = [anyio.Event() for _ in sources]
    finished: list[int] = []
    order: list[int] = []
    results: list[UploadResult | Exception] = []

    class Observed(AsyncMediaClient):
        async def upload(self, source: Any, **options: Any) -> UploadResult:
            result = await super().upload(source, **options)
            finished.append(result.media_id)
            answered[len(finished) - 1].set()
            return result

    async def release() -> None:
        order.extend(await gates.release(answered))

    with respx.mock(assert_all_called=False) as mock, anyio.fail_after(10):
        mock.post(UPLOAD).mock(side_effect=gates)
        async with (
            Observed(creds, max_concurrency=len(sources)) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(release)
            results.extend(await client.upload_many(sources))

    assert finished == order != sorted(order)  # they did finish out of order
    assert [getattr(r, "media_id", None) for r in results] == list(WIDTHS)
