"""
Request bodies read as they arrive: a byte-counting reader, multipart parts, media sinks.

The multipart parser is the emulator's own rather than aiohttp's reader:
aiohttp's pushes data back into the stream through a deprecated call and
wraps that in `warnings.catch_warnings`, which swaps the process-wide warning
filters from the server thread while tests run theirs. This one keeps a
buffer of one network read plus a delimiter's length, so a part of any size
streams through in bounded memory.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.utils
import hashlib

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ._images import HEAD_BYTES


if TYPE_CHECKING:
    from hashlib import _Hash


#: Largest text field of a multipart body, and largest JSON body.
MAX_FIELD_BYTES = 64 * 1024
#: Largest part-header block.
MAX_PART_HEADER_BYTES = 16 * 1024
_WHITESPACE = b" \t\r\n"


class BodyError(Exception):
    """
    The body is malformed; the message says how (it is sent back to the client).
    """


class ByteStream(Protocol):
    """
    What the reader needs of aiohttp's request stream.
    """

    async def readany(self) -> bytes:
        """
        Return the next bytes that arrived; empty at the end of the body.
        """
        ...


class BodyReader:
    """
    Reads one request body, counting every byte.

    Attributes:
        read_bytes: Body bytes read so far.
    """

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self.read_bytes = 0

    async def chunk(self) -> bytes:
        """
        The next bytes of the body; empty at its end.
        """
        data = await self._stream.readany()
        self.read_bytes += len(data)
        return data

    async def drain(self) -> None:
        """
        Read and discard the rest of the body.
        """
        while await self.chunk():
            pass

    async def read_all(self, limit: int) -> bytes | None:
        """
        The whole body; None (with the body drained) when it exceeds *limit* bytes.
        """
        data = bytearray()
        while chunk := await self.chunk():
            data += chunk
            if len(data) > limit:
                await self.drain()
                return None
        return bytes(data)


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """
    The headers of one multipart part that the emulator cares about.

    Attributes:
        name: The ``name`` of its Content-Disposition, if any.
        filename: The ``filename``, if any.
    """

    name: str | None
    filename: str | None


def _param(message: email.message.Message, name: str) -> str | None:
    value = message.get_param(name, header="content-disposition")
    if value is None or isinstance(value, str):
        return value
    return email.utils.collapse_rfc2231_value(value)


def multipart_boundary(content_type: str) -> str | None:
    """
    The boundary parameter of a multipart/form-data Content-Type, or None.
    """
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


class MultipartParser:
    """
    Split a multipart body into parts whose data is read piece by piece.

    Args:
        body: The request body.
        boundary: The boundary from the Content-Type.
    """

    def __init__(self, body: BodyReader, boundary: str) -> None:
        self._body = body
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # A leading CRLF lets the first delimiter match like the others.
        self._buffer = bytearray(b"\r\n")
        self._in_part = False
        self._finished = False

    async def _fill(self, what: str) -> None:
        data = await self._body.chunk()
        if not data:
            raise BodyError(f"The multipart body ended {what}.")
        self._buffer += data

    async def next_part(self) -> PartHeaders | None:
        """
        Skip to the next part and return its headers; None after the last part.
        """
        while self._in_part:
            await self.read()
        if self._finished:
            return None
        keep = len(self._delimiter) - 1
        while (start := self._buffer.find(self._delimiter)) < 0:
            del self._buffer[: max(0, len(self._buffer) - keep)]
            await self._fill("before its boundary")
        del self._buffer[: start + len(self._delimiter)]
        while len(self._buffer) < 2:  # noqa: PLR2004
            await self._fill("after a boundary")
        if self._buffer.startswith(b"--"):
            self._finished = True
            self._buffer.clear()
            await self._body.drain()
            return None
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                raise BodyError("A multipart part has too many header bytes.")
            await self._fill("inside part headers")
        _padding, _, lines = bytes(self._buffer[:end]).partition(b"\r\n")
        del self._buffer[: end + 4]
        message = email.parser.BytesHeaderParser().parsebytes(lines + b"\r\n\r\n")
        self._in_part = True
        return PartHeaders(_param(message, "name"), _param(message, "filename"))

    async def read(self) -> bytes:
        """
        The next piece of the current part's data; empty at the part's end.
        """
        if not self._in_part:
            return b""
        keep = len(self._delimiter) - 1
        while True:
            end = self._buffer.find(self._delimiter)
            if end >= 0:
                data = bytes(self._buffer[:end])
                # Leave the delimiter for next_part to consume.
                del self._buffer[:end]
                self._in_part = False
                return data
            if len(self._buffer) > keep:
                data = bytes(self._buffer[:-keep])
                del self._buffer[:-keep]
                return data
            await self._fill("inside a part")

    async def read_text(self) -> str:
        """
        The whole current part as UTF-8 text.

        Raises:
            BodyError: It is longer than `MAX_FIELD_BYTES` or not UTF-8.
        """
        data = bytearray()
        while piece := await self.read():
            data += piece
            if len(data) > MAX_FIELD_BYTES:
                raise BodyError("A multipart text field is too long.")
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise BodyError("A multipart text field is not UTF-8.") from None


@dataclass(frozen=True, slots=True)
class Received:
    """
    Media bytes as a sink took them in.

    Attributes:
        field: ``"media"`` or ``"media_data"``.
        size: Decoded bytes.
        sha256: Hex digest of the decoded bytes.
        data: The bytes, unless not kept or over the limit.
        head: The first `HEAD_BYTES` bytes, always kept.
        too_large: More bytes arrived than the limit allows.
        invalid: ``media_data`` was not valid base64.
        continued: A copy of the media's running hash, extended by these bytes.
    """

    field: str
    size: int
    sha256: str
    data: bytes | None
    head: bytes
    too_large: bool
    invalid: bool
    continued: _Hash | None = None


class Sink:
    """
    Takes a media part in as it arrives: counts, hashes, and keeps it if asked.

    Args:
        field: ``"media"`` (raw bytes) or ``"media_data"`` (base64 text).
        keep: Whether to keep the bytes (up to *limit*).
        limit: Bytes the command accepts; more are counted and hashed, never kept.
        continues: A running hash to extend with a copy (chunked uploads).
    """

    def __init__(
        self, *, field: str, keep: bool, limit: int, continues: _Hash | None = None
    ) -> None:
        self._field = field
        self._limit = limit
        self._digest = hashlib.sha256()
        self._continued = continues.copy() if continues is not None else None
        self._data: bytearray | None = bytearray() if keep else None
        self._head = bytearray()
        self._pending = bytearray()
        self._size = 0
        self._invalid = False

    def write(self, chunk: bytes) -> None:
        """
        Take in the next piece of the part.
        """
        if self._field == "media":
            self._add(chunk)
            return
        self._pending += chunk.translate(None, _WHITESPACE)
        usable = len(self._pending) - len(self._pending) % 4
        if usable:
            self._add(self._decode(bytes(self._pending[:usable])))
            del self._pending[:usable]

    def _decode(self, text: bytes) -> bytes:
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            self._invalid = True
            return b""

    def _add(self, raw: bytes) -> None:
        self._size += len(raw)
        self._digest.update(raw)
        if self._continued is not None:
            self._continued.update(raw)
        if len(self._head) < HEAD_BYTES:
            self._head += raw[: HEAD_BYTES - len(self._head)]
        if self._data is not None:
            if self._size > self._limit:
                self._data = None
            else:
                self._data += raw

    def close(self) -> Received:
        """
        Finish the part and report what arrived.
        """
        if self._pending:
            self._invalid = True
        return Received(
            field=self._field,
            size=self._size,
            sha256=self._digest.hexdigest(),
            data=bytes(self._data) if self._data is not None else None,
            head=bytes(self._head),
            too_large=self._size > self._limit,
            invalid=self._invalid,
            continued=self._continued,
        )
