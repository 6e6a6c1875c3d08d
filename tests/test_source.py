"""
Sources: every accepted kind, ranges, replay, and who closes what.
"""

from __future__ import annotations

import io
import os
import random
import time

from typing import TYPE_CHECKING, Any

import anyio
import pytest

import twupload._source

from twupload import InvalidMediaError
from twupload._media import SNIFF_BYTES
from twupload._source import READ_SIZE, Source, make_source

from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


pytestmark = pytest.mark.anyio


async def _read(source: Source, start: int = 0, length: int | None = None) -> bytes:
    out = bytearray()
    async for chunk in source.iter_range(
        start, source.size - start if length is None else length
    ):
        assert len(chunk) <= max(READ_SIZE, SNIFF_BYTES)
        out += chunk
    return bytes(out)


async def _opened(obj: object, size: int | None = None) -> Source:
    source = make_source(obj, size=size, limiter=anyio.CapacityLimiter(2))
    await source.open()
    return source


DATA = png(pad=3 * 1024 * 1024)


async def test_bytes_like_sources() -> None:
    """
    bytes, bytearray and memoryview give the same bytes, any range, any number of times.
    """
    for obj in (DATA, bytearray(DATA), memoryview(DATA)):
        source = await _opened(obj)
        assert source.size == len(DATA)
        assert source.head == DATA[:SNIFF_BYTES]
        assert source.replayable
        assert await _read(source) == DATA
        assert (
            await _read(source, 100, 2 * READ_SIZE) == DATA[100 : 100 + 2 * READ_SIZE]
        )
        assert await _read(source) == DATA


async def test_path_source_reads_and_closes(tmp_path: Path) -> None:
    """
    A path is opened once, read in ranges in any order, and closed by aclose.
    """
    path = tmp_path / "big.png"
    path.write_bytes(DATA)
    source = await _opened(str(path))
    assert source.size == len(DATA)
    assert (
        await _read(source, 2 * READ_SIZE, 1000)
        == DATA[2 * READ_SIZE : 2 * READ_SIZE + 1000]
    )
    assert await _read(source) == DATA
    file = source._file  # type: ignore[attr-defined]
    await source.aclose()
    await source.aclose()
    assert file.closed


@pytest.mark.parametrize(
    ("name", "match"),
    [("missing.png", "No such file"), (".", "is a directory")],
)
async def test_path_errors(tmp_path: Path, name: str, match: str) -> None:
    """
    Missing files and directories are InvalidMediaError with a hint.
    """
    with pytest.raises(InvalidMediaError, match=match):
        await _opened(tmp_path / name)


async def test_unreadable_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    A file we may not read is an InvalidMediaError.
    """

    def refuse(*_: object, **__: object) -> object:
        raise PermissionError

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(InvalidMediaError, match="Permission denied"):
        await _opened(tmp_path / "x")


async def test_small_files_are_read_whole_and_closed_at_once(tmp_path: Path) -> None:
    """
    A file up to READ_SIZE is read in the opening hop and closed before any upload starts.
    """
    data = png(pad=100_000)
    path = tmp_path / "small.png"
    path.write_bytes(data)
    source = await _opened(path)
    assert source._file is None  # type: ignore[attr-defined]
    assert source.head == data
    assert await _read(source) == data
    assert await _read(source, 5, 10) == data[5:15]


async def test_a_failing_read_at_open_closes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    If measuring or reading fails right after opening, the file is closed again.
    """
    path = tmp_path / "a.png"
    path.write_bytes(DATA)
    opened: list[Any] = []
    fds: list[int] = []
    real_open = open

    def spy(name: str, mode: str) -> Any:
        file = real_open(name, mode)
        opened.append(file)
        fds.append(file.fileno())
        return file

    real_fstat = os.fstat

    def broken(fd: int) -> os.stat_result:
        if fd in fds:
            raise OSError("I/O error")
        return real_fstat(fd)

    monkeypatch.setattr(twupload._source, "open", spy, raising=False)
    monkeypatch.setattr(os, "fstat", broken)
    with pytest.raises(OSError, match="I/O error"):
        await _opened(path)
    assert opened
    assert opened[0].closed


async def test_file_shrinking_while_uploading_is_caught(tmp_path: Path) -> None:
    """
    A file that ends early raises rather than sending short.
    """
    path = tmp_path / "a.png"
    path.write_bytes(DATA)
    source = await _opened(path)
    path.write_bytes(DATA[: SNIFF_BYTES + 10])
    with pytest.raises(InvalidMediaError, match="ended after"):
        await _read(source)
    await source.aclose()


async def test_file_object_from_current_position_not_closed() -> None:
    """
    A seekable file object is read from where it stands, replayed, and left open.
    """
    file = io.BytesIO(b"junk" + DATA)
    file.seek(4)
    source = await _opened(file)
    assert source.size == len(DATA)
    assert source.replayable
    assert await _read(source) == DATA
    assert await _read(source, 10, 20) == DATA[10:30]
    assert (
        await _read(source, SNIFF_BYTES + 10, 20)
        == DATA[SNIFF_BYTES + 10 : SNIFF_BYTES + 30]
    )
    await source.aclose()
    assert not file.closed


async def test_file_object_size_mismatch_and_text_mode() -> None:
    """
    A wrong size= and a text-mode file are refused with a fix.
    """
    with pytest.raises(InvalidMediaError, match="holds"):
        await _opened(io.BytesIO(DATA), size=3)
    with pytest.raises(InvalidMediaError, match="text mode"):
        await _opened(io.StringIO("x"))


class _Pipe:
    """
    An unseekable binary reader, like a pipe or a socket file.
    """

    def __init__(self, data: bytes, *, text: bool = False) -> None:
        self._buffer = io.BytesIO(data)
        self._text = text

    def read(self, size: int = -1) -> bytes:
        data = self._buffer.read(size)
        return data.decode("latin-1") if self._text else data  # type: ignore[return-value]

    def seekable(self) -> bool:
        return False


async def test_unseekable_file_object_needs_size_and_is_one_shot() -> None:
    """
    An unseekable reader needs size=, streams once, and refuses a replay.
    """
    with pytest.raises(InvalidMediaError, match="pass size="):
        await _opened(_Pipe(DATA))
    source = await _opened(_Pipe(DATA), size=len(DATA))
    assert not source.replayable
    assert await _read(source) == DATA
    with pytest.raises(InvalidMediaError):
        await _read(source)


async def test_file_object_returning_text_is_refused() -> None:
    """
    A reader that returns str is refused with a hint to open in binary mode.
    """
    with pytest.raises(InvalidMediaError, match="binary mode"):
        await _opened(_Pipe(b"abc", text=True), size=3)


async def test_file_object_without_seekable_is_treated_as_a_stream() -> None:
    """
    A reader without seekable() works as a one-shot stream.
    """

    class Reader:
        def __init__(self) -> None:
            self._buffer = io.BytesIO(b"abcdef")

        def read(self, size: int = -1) -> bytes:
            return self._buffer.read(size)

    source = await _opened(Reader(), size=6)
    assert not source.replayable
    assert await _read(source) == b"abcdef"


async def _agen(data: bytes, step: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), step):
        yield data[i : i + step]


@pytest.mark.parametrize("step", [1000, 100_000, 5 * 1024 * 1024])
async def test_async_iterable_any_chunking(step: int) -> None:
    """
    Async iterables stream once whatever their chunk sizes.
    """
    source = await _opened(_agen(DATA, step), size=len(DATA))
    assert source.head == DATA[: len(source.head)]
    assert not source.replayable
    assert await _read(source) == DATA
    await source.aclose()


async def test_async_iterable_errors() -> None:
    """
    Missing size, non-bytes items, replays and short streams are refused clearly.
    """
    with pytest.raises(InvalidMediaError, match="needs size="):
        make_source(_agen(DATA, 10), size=None, limiter=anyio.CapacityLimiter(1))

    async def strings() -> AsyncIterator[object]:
        yield "text"

    bad = make_source(strings(), size=4, limiter=anyio.CapacityLimiter(1))
    with pytest.raises(InvalidMediaError, match="must yield bytes"):
        await bad.open()
    await bad.aclose()

    short = await _opened(_agen(b"abc", 1), size=10)
    with pytest.raises(InvalidMediaError, match="ended after 3"):
        await _read(short)
    await short.aclose()

    once = await _opened(_agen(DATA, 70_000), size=len(DATA))
    await _read(once, 0, SNIFF_BYTES + 10)
    with pytest.raises(InvalidMediaError, match="only once"):
        await _read(once, SNIFF_BYTES + 100, 10)
    await once.aclose()


async def test_async_iterable_without_aclose() -> None:
    """
    A plain async iterator with no aclose can still be closed.
    """

    class Once:
        def __init__(self) -> None:
            self.done = False

        def __aiter__(self) -> Once:
            return self

        async def __anext__(self) -> bytes:
            if self.done:
                raise StopAsyncIteration
            self.done = True
            return b"xyz"

    source = await _opened(Once(), size=3)
    assert await _read(source) == b"xyz"
    await source.aclose()


@pytest.mark.parametrize(
    ("obj", "size", "match"),
    [
        (12, None, "Cannot upload a int"),
        (b"abc", 4, "bytes hold 3"),
        (b"abc", -1, "non-negative"),
        (b"abc", True, "non-negative"),
    ],
)
async def test_unusable_sources(obj: object, size: object, match: str) -> None:
    """
    Unknown types and impossible sizes are refused before opening.
    """
    with pytest.raises(InvalidMediaError, match=match):
        make_source(obj, size=size, limiter=anyio.CapacityLimiter(1))  # type: ignore[arg-type]


class _SlowFile(io.BytesIO):
    """
    A seekable file whose reads take a moment, so unlocked seek-then-read pairs would interleave.
    """

    def read(self, size: int | None = -1, /) -> bytes:
        time.sleep(0.001)
        return super().read(size)


async def _read_concurrently(source: Source, ranges: list[tuple[int, int]]) -> None:
    results: dict[tuple[int, int], bytes] = {}

    async def one(start: int, length: int) -> None:
        results[start, length] = await _read(source, start, length)

    async with anyio.create_task_group() as group:
        for start, length in ranges:
            group.start_soon(one, start, length)
    for (start, length), got in results.items():
        assert got == BIG[start : start + length], (start, length)
    assert len(results) == len(ranges)


BIG = bytes(random.Random(3).randbytes(5 * READ_SIZE + 77))  # noqa: S311 - test data
RANGES = [
    (start, length)
    for start in range(0, len(BIG) - READ_SIZE, READ_SIZE // 3)
    for length in (READ_SIZE + 5, 1000)
]


@pytest.mark.parametrize("pread", [True, False], ids=["pread", "seek-under-lock"])
async def test_a_path_serves_ranges_to_many_readers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pread: bool
) -> None:
    """
    Parallel APPENDs read a file at their own offsets at the same time, each getting its bytes.

    Without os.pread (Windows), seek and read happen together under a lock.
    """
    monkeypatch.setattr(twupload._source, "_HAS_PREAD", pread)
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    source = make_source(path, size=None, limiter=anyio.CapacityLimiter(8))
    await source.open()
    assert source.replayable
    try:
        await _read_concurrently(source, RANGES)
    finally:
        await source.aclose()


async def test_a_seekable_file_object_serves_ranges_to_many_readers_at_once() -> None:
    """
    A caller's seekable file is read at several offsets at once, from its own start position.
    """
    file = _SlowFile(b"junk" + BIG)
    file.seek(4)
    source = make_source(file, size=None, limiter=anyio.CapacityLimiter(8))
    await source.open()
    assert source.replayable
    await _read_concurrently(source, RANGES[::4])
    await source.aclose()
    assert not file.closed


async def test_read_at_gives_fewer_bytes_only_at_the_end(tmp_path: Path) -> None:
    """
    read_at returns what lies at the offset, short near the end and empty past it.
    """
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    for obj in (BIG, path, io.BytesIO(BIG)):
        source = await _opened(obj)
        assert await source.read_at(10, 5) == BIG[10:15]
        assert await source.read_at(len(BIG) - 3, 10) == BIG[-3:]
        assert await source.read_at(len(BIG), 10) == b""
        await source.aclose()
