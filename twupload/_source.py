"""
Every kind of source the caller may pass, read in bounded chunks off the event loop.

A source is opened once per upload, yields byte ranges as async iterators (a
retry or an APPEND segment asks for its range again) and is closed at the end.
Replayable sources serve ranges at any offset, also several at once (parallel
APPENDs): files by positional reads, file objects by seek and read under a
lock, each in one worker thread. Files twupload opened are closed by twupload;
file objects the caller passed are never closed.
"""

from __future__ import annotations

import io
import os
import threading

from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

import anyio

from ._errors import InvalidMediaError
from ._media import SNIFF_BYTES


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterable

    from anyio import CapacityLimiter

# Large reads keep the number of thread hops per file small; two of them in
# flight per segment still keep memory at a few MB per segment in flight.
READ_SIZE = 1024 * 1024
# os.pread reads at an offset without moving a shared file position (not on Windows).
_HAS_PREAD = hasattr(os, "pread")
_ONE_SHOT = (
    "This source can be read only once, in order; pass a path, bytes or a "
    "seekable file to allow retries and resuming."
)


@runtime_checkable
class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Source:
    """
    An opened source: its size, its first bytes, and its byte ranges on demand.

    Attributes:
        size: Total bytes.
        head: The first bytes (up to `SNIFF_BYTES`), used for sniffing and
            yielded again as the start of the stream.
        replayable: Whether a range can be read twice, and ranges read at any
            offset and at the same time (needed for retries, resuming and
            parallel APPENDs). Otherwise ranges must be asked for in order.
        description: Short text for messages and logs.
    """

    size: int
    head: bytes
    replayable: bool = True
    description: str = "source"

    async def open(self) -> None:
        """
        Acquire what reading needs and fill `head`.
        """

    async def aclose(self) -> None:
        """
        Release what `open` acquired; idempotent.
        """

    async def read_at(self, offset: int, size: int) -> bytes:
        """
        Up to *size* bytes from *offset*; fewer near the end, empty past it.

        Never blocks the event loop. Safe to await from several tasks at once
        when `replayable`.
        """
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    async def iter_range(self, start: int, length: int) -> AsyncGenerator[bytes, None]:
        """
        Yield the bytes of ``[start, start + length)`` in chunks of at most `READ_SIZE`.

        Raises:
            InvalidMediaError: The source ended early (it shrank while uploading).
        """
        position, end = start, start + length
        head = self.head
        if position < len(head):
            piece = head[position:end]
            position += len(piece)
            yield piece
        while position < end:
            chunk = await self.read_at(position, min(READ_SIZE, end - position))
            if not chunk:
                raise InvalidMediaError(
                    f"{self.description} ended after {position} of {self.size} bytes; "
                    "do not change a file while it uploads."
                )
            position += len(chunk)
            yield chunk


class BytesSource(Source):
    """
    Bytes already in memory; slices are copied chunk by chunk, never as a whole.
    """

    description = "the bytes"

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self.size = self._view.nbytes
        self.head = bytes(self._view[:SNIFF_BYTES])

    async def read_at(self, offset: int, size: int) -> bytes:
        return bytes(self._view[offset : offset + size])


class PathSource(Source):
    """
    A file on disk, opened by twupload (and so closed by it).
    """

    def __init__(self, path: str | os.PathLike[str], limiter: CapacityLimiter) -> None:
        self._path = os.fspath(path)
        self._limiter = limiter
        self._file: BinaryIO | None = None
        self._lock = threading.Lock()
        self.description = f"file {self._path!r}"
        self.size = 0
        self.head = b""

    async def open(self) -> None:
        try:
            self._file, self.size, self.head = await anyio.to_thread.run_sync(
                _open_and_read, self._path, limiter=self._limiter
            )
        except FileNotFoundError:
            raise InvalidMediaError(
                f"No such file: {self._path!r}. Check the path."
            ) from None
        except IsADirectoryError:
            raise InvalidMediaError(
                f"{self._path!r} is a directory; pass the files in it."
            ) from None
        except PermissionError:
            raise InvalidMediaError(
                f"Permission denied reading {self._path!r}."
            ) from None

    async def read_at(self, offset: int, size: int) -> bytes:
        file = self._file
        if file is None:
            raise RuntimeError("read from a closed source")  # pragma: no cover
        return await anyio.to_thread.run_sync(
            _read_file_at, file, self._lock, offset, size, limiter=self._limiter
        )

    async def aclose(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            # Closing a regular file does not block; doing it inline keeps
            # cancellation from leaking the descriptor.
            file.close()


def _read_file_at(
    file: BinaryIO, lock: threading.Lock, offset: int, size: int
) -> bytes:
    """
    Read at *offset* in a worker thread, whatever other threads read meanwhile.
    """
    if _HAS_PREAD:
        return os.pread(file.fileno(), size, offset)
    with lock:
        file.seek(offset)
        return file.read(size)


def _open_and_read(path: str) -> tuple[BinaryIO | None, int, bytes]:
    """
    Open, measure and read the first `READ_SIZE` bytes in one thread hop.

    A file that fits is closed at once and served from memory: most images
    then cost one hop instead of three.
    """
    file = open(path, "rb")  # noqa: PTH123, SIM115 - closed here or in PathSource.aclose
    try:
        size = os.fstat(file.fileno()).st_size
        head = file.read(min(size, READ_SIZE))
    except BaseException:
        file.close()
        raise
    if len(head) >= size:
        file.close()
        return None, size, head
    return file, size, head


class FileObjectSource(Source):
    """
    A binary file object the caller opened: read from its current position, never closed.
    """

    description = "the file object"

    def __init__(
        self, file: _Readable, size: int | None, limiter: CapacityLimiter
    ) -> None:
        self._file: Any = file
        self._limiter = limiter
        self._lock = threading.Lock()
        self._declared = size
        self._start = 0
        self._position = 0
        self.size = 0
        self.head = b""
        try:
            self.replayable = bool(file.seekable())  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            self.replayable = False

    async def open(self) -> None:
        if self.replayable:
            self._start = self._file.tell()
            end = self._file.seek(0, io.SEEK_END)
            self._file.seek(self._start)
            self.size = end - self._start
            if self._declared is not None and self._declared != self.size:
                raise InvalidMediaError(
                    f"size={self._declared} but the file object holds {self.size} "
                    "bytes from its current position; drop size= or fix it."
                )
        elif self._declared is None:
            raise InvalidMediaError(
                "The file object cannot seek, so its size is unknown; pass size=."
            )
        else:
            self.size = self._declared
        self.head = await self.read_at(0, min(self.size, SNIFF_BYTES))

    async def read_at(self, offset: int, size: int) -> bytes:
        if self.replayable:
            data = await anyio.to_thread.run_sync(
                self._seek_and_read, self._start + offset, size, limiter=self._limiter
            )
        elif offset != self._position:
            raise InvalidMediaError(_ONE_SHOT)
        else:
            data = await anyio.to_thread.run_sync(
                self._file.read, size, limiter=self._limiter
            )
        if not isinstance(data, bytes):
            raise InvalidMediaError(
                "The file object returned text; open it in binary mode ('rb')."
            )
        self._position = offset + len(data)
        return data

    def _seek_and_read(self, position: int, size: int) -> object:
        # Seek and read as one step: another segment's read may run meanwhile.
        with self._lock:
            self._file.seek(position)
            return self._file.read(size)


class AsyncIterableSource(Source):
    """
    An async iterable of bytes with a declared size: streamed once, never replayed.
    """

    replayable = False
    description = "the async iterable"

    def __init__(self, iterable: AsyncIterable[bytes], size: int | None) -> None:
        if size is None:
            raise InvalidMediaError(
                "An async iterable source needs size= (its total bytes)."
            )
        self.size = size
        self.head = b""
        self._iterator = aiter(iterable)
        self._buffer = bytearray()
        self._position = 0

    async def open(self) -> None:
        wanted = min(self.size, SNIFF_BYTES)
        while len(self._buffer) < wanted:
            chunk = await self._next()
            if not chunk:
                break
            self._buffer += chunk
        self.head = bytes(self._buffer[:wanted])
        del self._buffer[:wanted]
        self._position = len(self.head)

    async def _next(self) -> bytes:
        try:
            chunk = await anext(self._iterator)
        except StopAsyncIteration:
            return b""
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidMediaError(
                f"The async iterable yielded {type(chunk).__name__}; it must yield bytes."
            )
        return bytes(chunk)

    async def read_at(self, offset: int, size: int) -> bytes:
        if offset != self._position:
            raise InvalidMediaError(_ONE_SHOT)
        chunk = bytes(self._buffer) or await self._next()
        self._buffer.clear()
        if len(chunk) > size:
            self._buffer += chunk[size:]
            chunk = chunk[:size]
        self._position += len(chunk)
        return chunk

    async def aclose(self) -> None:
        closer = getattr(self._iterator, "aclose", None)
        if closer is not None:
            await closer()


def make_source(
    source: object, *, size: int | None, limiter: CapacityLimiter
) -> Source:
    """
    Wrap whatever the caller passed, or refuse it with a message that lists what works.
    """
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or size < 0
    ):
        raise InvalidMediaError(f"size must be a non-negative int, not {size!r}.")
    if isinstance(source, (bytes, bytearray, memoryview)):
        result: Source = BytesSource(source)
        if size is not None and size != result.size:
            raise InvalidMediaError(
                f"size={size} but the bytes hold {result.size}; drop size=."
            )
        return result
    if isinstance(source, (str, os.PathLike)):
        return PathSource(source, limiter)
    if isinstance(source, io.TextIOBase):
        raise InvalidMediaError("The file is open in text mode; open it with 'rb'.")
    if isinstance(source, _Readable):
        return FileObjectSource(source, size, limiter)
    if hasattr(source, "__aiter__"):
        return AsyncIterableSource(source, size)
    raise InvalidMediaError(
        f"Cannot upload a {type(source).__name__}: pass a path, bytes, a binary "
        "file object, or an async iterable of bytes with size=."
    )
