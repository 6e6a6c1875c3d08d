"""
The streamed multipart body: the corners a mutation run found untested.
"""

from __future__ import annotations

import email.parser
import email.policy

from typing import TYPE_CHECKING

import pytest

import twupload._multipart

from twupload._multipart import MultipartBody

from checks import multipart_fields


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator


pytestmark = pytest.mark.anyio


async def _pieces(*pieces: bytes) -> AsyncGenerator[bytes, None]:
    for piece in pieces:
        yield piece


async def _stream(body: MultipartBody, *chunks: bytes) -> list[bytes]:
    return [piece async for piece in body.stream(_pieces(*chunks))]


def _media_part(body: MultipartBody, rendered: bytes) -> email.message.EmailMessage:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: "
        + body.headers["Content-Type"].encode()
        + b"\r\n\r\n"
        + rendered
    )
    *_, media = message.iter_parts()
    assert isinstance(media, email.message.EmailMessage)
    return media


async def test_field_names_are_quoted_and_stripped_of_line_breaks() -> None:
    """
    Quotes and backslashes in a field name are escaped; CR and LF are dropped.
    """
    name = 'we"ird\\na\rm\ne'
    body = MultipartBody([(name, "value")], media_field="media", media_size=3)
    rendered = b"".join(await _stream(body, b"abc"))
    assert b'name="we\\"ird\\\\name"\r\n' in rendered
    assert multipart_fields(body.headers["Content-Type"], rendered) == {
        'we"ird\\name': b"value",
        "media": b"abc",
    }
    assert len(rendered) == body.content_length


async def test_raw_media_is_a_file_part_and_base64_media_a_text_field() -> None:
    """
    Raw bytes go as a file named "blob" of type octet-stream; base64 text as a plain field.
    """
    raw = MultipartBody([], media_field="media", media_size=3)
    media = _media_part(raw, b"".join(await _stream(raw, b"abc")))
    assert media.get_filename() == "blob"
    assert media.get_content_type() == "application/octet-stream"

    text = MultipartBody([], media_field="media_data", media_size=3, base64=True)
    media = _media_part(text, b"".join(await _stream(text, b"abc")))
    assert media.get_filename() is None
    assert "content-type" not in media
    assert media.get_payload() == "YWJj"


async def test_a_piece_of_exactly_the_join_limit_passes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Only pieces under the limit are joined; the buffer flushes once it holds the limit.
    """
    monkeypatch.setattr(twupload._multipart, "COALESCE", 8)
    body = MultipartBody([], media_field="media", media_size=21)
    chunks = [b"a" * 3, b"b" * 8, b"c" * 3, b"d" * 5, b"e" * 2]
    pieces = await _stream(body, *chunks)
    preamble, *middle, trailer = pieces
    assert middle == [b"aaa", b"b" * 8, b"ccc" + b"d" * 5, b"ee"]
    assert len(preamble) >= 8
    assert len(trailer) >= 8
    assert len(b"".join(pieces)) == body.content_length


async def test_base64_media_is_encoded_as_it_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Each whole group of three bytes is encoded as soon as it arrives, not at the end.
    """
    monkeypatch.setattr(twupload._multipart, "COALESCE", 1)
    body = MultipartBody([], media_field="media_data", media_size=14, base64=True)
    _, *media, _ = await _stream(body, b"abcdef", b"ghijkl", b"mn")
    assert media == [b"YWJjZGVm", b"Z2hpamts", b"bW4="]
