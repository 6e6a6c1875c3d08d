"""
multipart/form-data bodies streamed from a source, with an exact Content-Length.

httpx's ``files=`` reads real files synchronously on the event loop and cannot
stream async files, and an async ``content=`` without a length goes out
chunked, which the upload service refuses. So the body is built here: text
fields and part headers are rendered once into bytes, the media part is
streamed, and the length is known before the first byte is sent.
"""

from __future__ import annotations

import binascii
import contextlib
import secrets

from typing import TYPE_CHECKING

import httpx

from ._errors import InvalidMediaError


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence


# Pieces smaller than this are joined into one write (see MultipartBody.stream).
COALESCE = 256 * 1024


def _quote(name: str) -> str:
    return (
        name.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\r", "")
        .replace("\n", "")
    )


class StreamedBody(httpx.AsyncByteStream):
    """
    A streamed request body that httpx iterates without a generator of its own.

    httpx iterates its byte streams through async generators, which httpcore
    abandons when a write fails; trio then warns as they are garbage collected
    (encode/httpx#3686), failing test suites that turn warnings into errors.
    This class-based stream leaves nothing to the collector: `aclose` (called
    by the transport after every attempt) closes the source's generators.
    """

    #: What made the body fail (the source, or the caller's progress callback),
    #: kept because an HTTP stack may re-raise it as a network error: the
    #: httpx-aiohttp transport turns it into ``httpx.ConnectTimeout``.
    failure: Exception | None = None

    def __init__(self, chunks: AsyncGenerator[bytes, None]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            self.failure = exc
            raise

    async def aclose(self) -> None:
        await self._chunks.aclose()


class BytesBody(httpx.ByteStream):
    """
    An in-memory request body (form, JSON, empty) whose async iteration makes no generator.

    Being a `httpx.ByteStream`, its bytes are readable as ``request.content``
    (the OAuth 1.0a signer reads form bodies; other transports send bytes
    directly), unlike httpx's own async iteration of it (see `StreamedBody`).
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Once(self._data)


class _Once:
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data or None

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


def progress_reporter(
    callback: Callable[[int, int], object] | None, *, total: int, base: int = 0
) -> Callable[[int], None] | None:
    """
    Adapt the caller's ``on_progress(sent, total)`` to one body's byte count.

    *base* is what earlier requests of the same upload (earlier segments) sent.
    """
    if callback is None:
        return None

    def report(sent: int) -> None:
        callback(base + sent, total)

    return report


def base64_length(size: int) -> int:
    """
    Length of the standard base64 encoding of *size* bytes.
    """
    return 4 * -(-size // 3)


class MultipartBody:
    """
    One request body: text fields, then a single media part streamed from chunks.

    Args:
        fields: ``(name, value)`` text fields sent before the media part.
        media_field: ``"media"`` (raw bytes) or ``"media_data"`` (base64 text).
        media_size: Raw bytes the chunks will add up to.
        base64: Whether to base64-encode the media part on the fly.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        *,
        media_field: str,
        media_size: int,
        base64: bool = False,
    ) -> None:
        self.boundary = secrets.token_hex(16)
        self.media_size = media_size
        self.base64 = base64
        dash = f"--{self.boundary}\r\n"
        parts = [
            f'{dash}Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields
        ]
        media_headers = (
            f'{dash}Content-Disposition: form-data; name="{_quote(media_field)}"\r\n\r\n'
            if base64
            else f'{dash}Content-Disposition: form-data; name="{_quote(media_field)}"; '
            'filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        self._preamble = ("".join(parts) + media_headers).encode()
        self._trailer = f"\r\n--{self.boundary}--\r\n".encode()
        encoded = base64_length(media_size) if base64 else media_size
        self.content_length = len(self._preamble) + encoded + len(self._trailer)

    @property
    def headers(self) -> dict[str, str]:
        """
        The Content-Type (with boundary) and Content-Length to send.
        """
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(self.content_length),
        }

    async def stream(
        self,
        chunks: AsyncGenerator[bytes, None],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """
        Yield the whole body, encoding and counting the media chunks as they pass.

        *on_progress* receives the number of raw media bytes sent so far.

        Pieces under `COALESCE` bytes are joined before they are yielded: each
        write costs a full round through the HTTP stack, so a small image goes
        out as one write instead of four (part headers, head, rest, trailer).

        Raises:
            InvalidMediaError: The chunks did not add up to *media_size*; the
                request is abandoned rather than sent with a wrong length.
        """
        buffered = b""
        async with contextlib.aclosing(self._pieces(chunks, on_progress)) as pieces:
            async for piece in pieces:
                if len(piece) >= COALESCE:
                    if buffered:
                        yield buffered
                        buffered = b""
                    yield piece
                    continue
                buffered += piece
                if len(buffered) >= COALESCE:
                    yield buffered
                    buffered = b""
        if buffered:
            yield buffered

    async def _pieces(
        self,
        chunks: AsyncGenerator[bytes, None],
        on_progress: Callable[[int], None] | None,
    ) -> AsyncGenerator[bytes, None]:
        yield self._preamble
        sent = 0
        carry = b""
        try:
            async for chunk in chunks:
                sent += len(chunk)
                if sent > self.media_size:
                    break
                if self.base64:
                    data = carry + chunk
                    cut = len(data) - len(data) % 3
                    carry = data[cut:]
                    if cut:
                        yield binascii.b2a_base64(data[:cut], newline=False)
                else:
                    yield chunk
                if on_progress is not None:
                    on_progress(sent)
        finally:
            # Close the source's iterator now, not at garbage collection
            # (trio warns about async generators finalized that way).
            await chunks.aclose()
        if sent != self.media_size:
            raise InvalidMediaError(
                f"The source produced {'more than ' if sent > self.media_size else ''}"
                f"{sent} bytes but its size is {self.media_size}; check size= "
                "and do not change a file while it uploads."
            )
        if carry:
            yield binascii.b2a_base64(carry, newline=False)
        yield self._trailer
