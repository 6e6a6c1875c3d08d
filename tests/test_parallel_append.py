"""
Parallel APPENDs: several segments of one chunked upload in flight, against the emulator.

Out-of-order completion is made deterministic by `Gate`, an httpx transport in
front of the real one (real sockets to the emulator) that lets APPENDs through
in a scripted order, can stall one mid-body, and counts what is in flight. No
test relies on timing for the order of events.
"""

from __future__ import annotations

import collections
import contextlib
import io
import random
import re

from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import httpx
import pytest

from twupload import (
    APIError,
    AsyncMediaClient,
    ConfigurationError,
    ResumeState,
)

from samples import mp4


if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Sequence,
    )
    from pathlib import Path

    from twupload import OAuth1Credentials
    from twupload._multipart import StreamedBody
    from twupload.testing import Emulator, RequestRecord

    from fakes import FakeTime


pytestmark = pytest.mark.anyio

KIB = 1024
SEG = 256 * KIB
_INDEX = re.compile(rb'name="segment_index"\r\n\r\n(\d+)\r\n')


def video(segments: int, *, tail: int = 1000, seed: int = 7) -> bytes:
    """
    An MP4 head followed by random bytes: every segment differs, so a swap shows.
    """
    head = mp4(24)
    size = segments * SEG + tail
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    return head + rng.randbytes(size - len(head))


def _client(emu: Emulator, fake: FakeTime, **options: Any) -> AsyncMediaClient:
    return AsyncMediaClient(
        emu.credentials,
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
        segment_bytes=SEG,
        **options,
    )


def _appends(emu: Emulator) -> list[RequestRecord]:
    return [r for r in emu.requests if r.command == "APPEND"]


class _Held(httpx.AsyncByteStream):
    """
    A request body whose first piece the gate already read; it may stall mid-body.
    """

    def __init__(
        self,
        first: bytes,
        rest: StreamedBody,
        *,
        seen: Callable[[], Awaitable[None]],
        stalled: Callable[[], None] | None,
    ) -> None:
        self._first: bytes | None = first
        self._rest = rest
        self._seen: Callable[[], Awaitable[None]] | None = seen
        self._stalled = stalled
        self._halfway = False

    def __aiter__(self) -> _Held:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._seen is not None:
            # The headers are out: the media follows once the server has them.
            seen, self._seen = self._seen, None
            await seen()
        chunk = await self._rest.__anext__()
        if self._stalled is None:
            return chunk
        if not self._halfway:
            # Half of the media goes out; the request then hangs until cancelled.
            self._halfway = True
            return chunk[: len(chunk) // 2]
        self._stalled()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover - sleep_forever only raises

    async def aclose(self) -> None:
        await self._rest.aclose()


class Gate(httpx.AsyncBaseTransport):
    """
    httpx's real transport, with APPENDs let through in a scripted order.

    The client's rate limiter sends the first APPEND of a client alone (its
    probe), so an order starts with the first segment sent.

    An APPEND's media follows its headers only once the emulator has started
    handling every request sent so far: a test that ends by cutting requests
    off then never stops the emulator while it is still accepting their
    connections (which would leave sockets for the garbage collector).

    Args:
        emu: The emulator the requests go to.
        order: Segment indexes in the order they may be sent, each once the
            one before has been answered (or has stalled); an index not (or no
            longer) in the order waits until cancelled. None lets all through.
        stall: Indexes whose body stops halfway, so the request never ends.
        before: Called just before the given index is sent.
        barrier: Hold every APPEND but the first until this many are in
            flight, so the peak is reached for sure.
    """

    def __init__(
        self,
        emu: Emulator,
        *,
        order: Sequence[int] | None = None,
        stall: Sequence[int] = (),
        before: dict[int, Callable[[], object]] | None = None,
        barrier: int = 0,
    ) -> None:
        self._emu = emu
        self._forwarded = 0
        self._inner = httpx.AsyncHTTPTransport()
        self._order = None if order is None else list(order)
        self._stall = set(stall)
        self._before = before or {}
        self._barrier = barrier
        self._turn = 0
        self._changed: anyio.Event | None = None
        self.in_flight = 0
        self.peak = 0
        self.entered = 0
        self.sent: list[int] = []
        self.stalled: list[int] = []

    @property
    def pool(self) -> Any:
        return self._inner._pool

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """
        Return once *condition* holds; it is checked whenever the gate changes.

        A scripted order the client cannot follow fails after a while, rather
        than hanging the test.
        """
        with anyio.fail_after(10):
            while not condition():
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()

    async def _seen_by_server(self) -> None:
        forwarded = self._forwarded
        with anyio.fail_after(10):
            while self._emu.stats.requests < forwarded:  # noqa: ASYNC110 - another thread
                await anyio.sleep(0.002)

    def _may_go(self, index: int) -> bool:
        if self._barrier and self.entered > 1 and self.peak < self._barrier:
            return False
        if self._order is None:
            return True
        return self._turn < len(self._order) and self._order[self._turn] == index

    def _advance(self) -> None:
        self._turn += 1
        self._wake()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("content-type", "").startswith("multipart/"):
            self._forwarded += 1
            return await self._inner.handle_async_request(request)
        self.in_flight += 1
        self.entered += 1
        self.peak = max(self.peak, self.in_flight)
        self._wake()
        try:
            body: StreamedBody = request.stream  # type: ignore[assignment]
            first = await body.__anext__()
            found = _INDEX.search(first)
            assert found is not None
            index = int(found[1])
            await self.wait_until(lambda: self._may_go(index))
            if index in self._before:
                self._before[index]()
            self.sent.append(index)
            self._forwarded += 1
            if index in self._stall:

                def stalled() -> None:
                    self.stalled.append(index)
                    self._advance()

                request.stream = _Held(
                    first, body, seen=self._seen_by_server, stalled=stalled
                )
                return await self._inner.handle_async_request(request)
            request.stream = _Held(first, body, seen=self._seen_by_server, stalled=None)
            response = await self._inner.handle_async_request(request)
            if self._order is not None:
                self._advance()
            return response
        finally:
            self.in_flight -= 1
            self._wake()

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextlib.asynccontextmanager
async def _gated(
    emu: Emulator, fake: FakeTime, gate: Gate, **options: Any
) -> AsyncIterator[AsyncMediaClient]:
    """
    A client that sends through *gate*; the httpx client is closed afterwards.
    """
    async with (
        httpx.AsyncClient(transport=gate) as http,
        _client(emu, fake, http_client=http, **options) as client,
    ):
        yield client


def _monotonic(progress: list[tuple[int, int]], total: int) -> None:
    sent = [s for s, _ in progress]
    assert sent == sorted(set(sent)), "progress went back or repeated"
    assert all(t == total for _, t in progress)
    assert sent[-1] == total


@pytest.mark.parametrize("api", ["1.1", "2"])
async def test_segments_finishing_out_of_order_assemble_byte_exact(
    emu: Emulator, fake: FakeTime, api: str
) -> None:
    """
    Segments the server receives in scrambled order still make the exact original bytes.
    """
    data = video(9)  # 10 segments, the last one short
    order = [0, 3, 2, 1, 6, 5, 4, 9, 8, 7]  # each window of three, backwards
    gate = Gate(emu, order=order)
    progress: list[tuple[int, int]] = []
    async with _gated(emu, fake, gate, api=api, max_segments_in_flight=3) as client:
        result = await client.upload(
            data,
            media_category="tweet_video",
            on_progress=lambda sent, total: progress.append((sent, total)),
        )
    assert [r.segment_index for r in _appends(emu)] == order
    assert gate.peak == 3
    record = emu.get_media(result.media_id)
    assert record.data == data
    assert [s.index for s in record.segments] == list(range(10))
    _monotonic(progress, len(data))


@pytest.mark.parametrize("in_flight", [2, 4])
async def test_never_more_than_n_segments_in_flight(
    emu: Emulator, fake: FakeTime, in_flight: int
) -> None:
    """
    N APPENDs are in flight at the peak, never more, at the client and at the server.
    """
    data = video(11)
    # The barrier lets the first N through together, and each one's media waits
    # until the server has them all: the peak is reached at both ends for sure.
    gate = Gate(emu, barrier=in_flight)
    async with _gated(emu, fake, gate, max_segments_in_flight=in_flight) as client:
        result = await client.upload(data)
    assert gate.peak == in_flight
    assert emu.max_concurrent == in_flight
    assert emu.get_media(result.media_id).data == data
    assert sorted(r.segment_index for r in _appends(emu)) == list(range(12))


@pytest.mark.aiohttp_transport
async def test_a_failed_segment_is_retried_alone(emu: Emulator, fake: FakeTime) -> None:
    """
    A 503 on one APPEND resends that segment only; progress never goes back.
    """
    data = video(7)
    emu.fail_next(status=503, command="APPEND")
    progress: list[tuple[int, int]] = []
    async with _client(emu, fake, max_retries=2) as client:
        result = await client.upload(
            data, on_progress=lambda sent, total: progress.append((sent, total))
        )
    tries: dict[int | None, list[int | None]] = collections.defaultdict(list)
    for record in _appends(emu):
        tries[record.segment_index].append(record.status)
    # The rate limiter's probe goes first and alone: segment 0 gets the 503.
    assert tries == {0: [503, 204], **{i: [204] for i in range(1, 8)}}
    assert emu.get_media(result.media_id).data == data
    _monotonic(progress, len(data))


async def test_resume_after_a_failure_among_segments_in_flight(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    One segment fails while two others are in flight (one halfway through its body).

    Only the segments answered are acknowledged; resuming sends exactly the rest,
    in parallel again, and the server ends with the original bytes.
    """
    data = video(6)  # segments 0-6
    gate = Gate(
        emu,
        order=[0, 3, 2, 4, 1],
        stall=[4],
        before={1: lambda: emu.fail_next(status=503, command="APPEND")},
    )
    with pytest.raises(APIError, match="APPEND segment 1") as info:
        async with _gated(emu, fake, gate, max_retries=0) as client:
            await client.upload(data)
    assert gate.stalled == [4]  # segment 4 was halfway when it was cancelled
    assert gate.sent == [0, 3, 2, 4, 1]  # 5 was still waiting for its turn
    assert gate.in_flight == 0
    state = info.value.resume
    assert state is not None
    assert state.acknowledged == (0, 2, 3)
    record = emu.get_media(state.media_id)
    assert [s.index for s in record.segments] == [0, 2, 3]

    emu.reset_stats()
    again = Gate(emu, barrier=3)
    async with _gated(emu, fake, again) as client:
        result = await client.upload(
            data, resume=ResumeState.from_json(state.to_json())
        )
    assert sorted(r.segment_index for r in _appends(emu)) == [1, 4, 5, 6]
    assert again.peak == 3
    assert emu.stats.by_command.get("INIT") is None
    assert result.media_id == state.media_id
    assert emu.get_media(result.media_id).data == data


async def test_cancelling_leaves_no_file_open_and_no_request_in_flight(
    emu: Emulator, fake: FakeTime, tmp_path: Path, opened: list[Any]
) -> None:
    """
    Cancelled with three segments halfway, the upload closes its file and every request.
    """
    path = tmp_path / "clip.mp4"
    path.write_bytes(video(8))
    gate = Gate(emu, order=[0, 1, 2, 3], stall=[1, 2, 3])
    resumes: list[ResumeState | None] = []

    async def upload(client: AsyncMediaClient) -> None:
        try:
            await client.upload(path)
        except anyio.get_cancelled_exc_class() as exc:
            resumes.append(getattr(exc, "resume", None))
            raise

    async with _gated(emu, fake, gate) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(upload, client)
            await gate.wait_until(lambda: len(gate.stalled) == 3)
            assert gate.in_flight == 3
            group.cancel_scope.cancel()
        assert gate.in_flight == 0
        assert all(c.is_idle() or c.is_closed() for c in gate.pool.connections)
    assert len(opened) == 1
    assert opened[0].closed
    (state,) = resumes
    assert state is not None
    assert state.acknowledged == (0,)


async def test_an_exception_from_on_progress_leaves_as_itself(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    The caller's callback failing mid-flight cancels the other segments and is not wrapped.
    """
    mine = KeyError("progress")

    def on_progress(sent: int, total: int) -> None:
        if sent > SEG:  # once the probe is done, while others are in flight
            raise mine

    gate = Gate(emu, barrier=3)
    with pytest.raises(KeyError) as info:
        async with _gated(emu, fake, gate) as client:
            await client.upload(video(8), on_progress=on_progress)
    assert info.value is mine
    assert gate.in_flight == 0
    assert info.value.resume.acknowledged == (0,)  # type: ignore[attr-defined]


async def test_one_in_flight_sends_in_order_as_before(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    max_segments_in_flight=1 sends one segment after the other, reporting the same progress.
    """
    data = video(5)
    emu.set_latency(0.02, command="APPEND")
    progress: list[tuple[int, int]] = []
    async with _client(emu, fake, max_segments_in_flight=1) as client:
        result = await client.upload(
            data, on_progress=lambda sent, total: progress.append((sent, total))
        )
    assert [r.segment_index for r in _appends(emu)] == list(range(6))
    assert emu.max_concurrent == 1
    assert emu.get_media(result.media_id).data == data
    _monotonic(progress, len(data))
    # Every segment's end is reported, as the sequential flow always did.
    ends = {min((i + 1) * SEG, len(data)) for i in range(6)}
    assert ends <= {sent for sent, _ in progress}


async def _chunks(data: bytes, step: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), step):
        yield data[i : i + step]


class _Pipe:
    """
    An unseekable binary reader, like a pipe.
    """

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buffer.read(size)

    def seekable(self) -> bool:
        return False


@pytest.mark.parametrize("kind", ["async iterable", "pipe"])
async def test_sources_read_in_order_send_one_segment_at_a_time(
    emu: Emulator, fake: FakeTime, kind: str
) -> None:
    """
    An async iterable or an unseekable file goes up one segment at a time, in order.
    """
    data = video(5)
    emu.set_latency(0.02, command="APPEND")
    source: object = _chunks(data, 100_000) if kind == "async iterable" else _Pipe(data)
    async with _client(emu, fake, max_segments_in_flight=4) as client:
        result = await client.upload(
            source, size=len(data), media_category="tweet_video"
        )
    assert [r.segment_index for r in _appends(emu)] == list(range(6))
    assert emu.max_concurrent == 1
    assert emu.get_media(result.media_id).data == data


async def test_appends_stay_paced_by_the_rate_limit(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    With 4 APPENDs per window and 3 in flight, the client waits for resets instead of a 429.
    """
    emu.set_rate_limit("APPEND", limit=4, window=60.0)
    data = video(9)
    async with _client(emu, fake) as client:
        result = await client.upload(data)
    assert emu.stats.rejected_429 == 0
    assert len(_appends(emu)) == 10
    assert sum(fake.sleeps) >= 2 * 60.0  # two window resets were waited out
    assert emu.get_media(result.media_id).data == data


async def test_resuming_with_every_segment_acknowledged_only_finalizes(
    emu: Emulator, fake: FakeTime
) -> None:
    """
    A resume state that already lists every segment goes straight to FINALIZE.
    """
    data = video(2)
    emu.fail_next(4, status=503, command="FINALIZE", headers={"Retry-After": "0"})
    with pytest.raises(APIError, match="FINALIZE") as info:
        async with _client(emu, fake) as client:
            await client.upload(data)
    state = info.value.resume
    assert state is not None
    assert state.acknowledged == (0, 1, 2)
    emu.reset_stats()
    async with _client(emu, fake) as client:
        result = await client.upload(data, resume=state)
    assert set(emu.stats.by_command) == {"FINALIZE", "STATUS"}
    assert emu.get_media(result.media_id).data == data


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "3", None])
def test_max_segments_in_flight_is_checked_before_any_io(
    value: object, creds: OAuth1Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A bad max_segments_in_flight is a ConfigurationError from the constructor itself.
    """

    def no_http(**_: object) -> NoReturn:
        raise AssertionError("an httpx client was created")

    monkeypatch.setattr("twupload._client.OwnClient", no_http)
    with pytest.raises(ConfigurationError, match="max_segments_in_flight"):
        AsyncMediaClient(creds, max_segments_in_flight=value)  # type: ignore[arg-type]
