"""
The streamed multipart body: exact length, correct encoding, progress, mismatches.
"""

from __future__ import annotations

import base64

from typing import TYPE_CHECKING

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

import twupload._multipart

from twupload import InvalidMediaError
from twupload._multipart import (
    COALESCE,
    BytesBody,
    MultipartBody,
    base64_length,
    progress_reporter,
)

from checks import multipart_fields


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator


pytestmark = pytest.mark.anyio


async def _chunks(data: bytes, cuts: list[int]) -> AsyncGenerator[bytes, None]:
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if start < cut <= len(data):
            yield data[start:cut]
            start = cut


async def _render(
    body: MultipartBody, data: bytes, cuts: list[int], progress: list[int]
) -> bytes:
    out = bytearray()
    async for piece in body.stream(_chunks(data, cuts), on_progress=progress.append):
        out += piece
    return bytes(out)


@pytest.mark.parametrize("encode", [False, True])
async def test_fields_media_and_exact_length(encode: bool) -> None:
    """
    Text fields and the media part parse back exactly; Content-Length is the real length.
    """
    data = bytes(range(256)) * 41 + b"\r\n--tail"
    body = MultipartBody(
        [("command", "APPEND"), ("media_id", "123"), ('we"ird\n', "v")],
        media_field="media_data" if encode else "media",
        media_size=len(data),
        base64=encode,
    )
    progress: list[int] = []
    rendered = await _render(body, data, [1, 2, 1000, 5000], progress)

    assert int(body.headers["Content-Length"]) == len(rendered) == body.content_length
    fields = multipart_fields(body.headers["Content-Type"], rendered)
    assert fields["command"] == b"APPEND"
    assert fields["media_id"] == b"123"
    if encode:
        assert base64.b64decode(fields["media_data"]) == data
    else:
        assert fields["media"] == data
    assert progress[-1] == len(data)
    assert progress == sorted(progress)


@settings(max_examples=80, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=8),
)
async def test_base64_streaming_matches_one_shot_encoding(
    data: bytes, cuts: list[int]
) -> None:
    """
    However the source is chunked, the streamed base64 equals the one-shot encoding.
    """
    body = MultipartBody(
        [], media_field="media_data", media_size=len(data), base64=True
    )
    rendered = await _render(body, data, cuts, [])
    assert len(rendered) == body.content_length
    assert base64.b64encode(data) in rendered
    assert base64_length(len(data)) == len(base64.b64encode(data))


async def test_base64_of_a_multiple_of_three_has_no_tail() -> None:
    """
    Sizes divisible by three encode without padding and without a trailing chunk.
    """
    body = MultipartBody([], media_field="media_data", media_size=6, base64=True)
    rendered = await _render(body, b"abcdef", [3], [])
    assert b"YWJjZGVm\r\n--" in rendered
    assert len(rendered) == body.content_length


@pytest.mark.parametrize(("declared", "actual"), [(10, 9), (10, 11)])
async def test_length_mismatch_raises_before_a_wrong_body_is_sent(
    declared: int, actual: int
) -> None:
    """
    A source shorter or longer than declared raises instead of finishing the body.
    """
    body = MultipartBody([], media_field="media", media_size=declared)
    with pytest.raises(InvalidMediaError, match="size is 10"):
        await _render(body, b"x" * actual, [5], [])


async def test_in_memory_bodies_iterate_once_without_generators() -> None:
    """
    BytesBody yields its bytes once (nothing for an empty body) from a plain iterator.
    """
    iterator = aiter(BytesBody(b"abc"))
    assert aiter(iterator) is iterator
    assert [piece async for piece in BytesBody(b"abc")] == [b"abc"]
    assert [piece async for piece in BytesBody(b"")] == []


async def test_small_pieces_are_joined_and_large_ones_pass_through() -> None:
    """
    A small body goes out as one piece; large chunks are not copied into a buffer.
    """
    small = MultipartBody([("a", "b")], media_field="media", media_size=1000)
    pieces = [p async for p in small.stream(_chunks(b"x" * 1000, [10, 500]))]
    assert len(pieces) == 1
    big_size = 3 * COALESCE
    big = MultipartBody([], media_field="media", media_size=big_size + 10)
    data = b"y" * (big_size + 10)
    pieces = [p async for p in big.stream(_chunks(data, [5, 5 + big_size]))]
    assert [len(p) for p in pieces][1] == big_size
    fields = multipart_fields(big.headers["Content-Type"], b"".join(pieces))
    assert fields["media"] == data


async def test_coalescing_flushes_whenever_the_buffer_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    With a tiny join limit every piece flushes on its own, trailer included, and nothing is lost.
    """
    monkeypatch.setattr(twupload._multipart, "COALESCE", 8)
    data = bytes(range(200))
    body = MultipartBody([("k", "v")], media_field="media", media_size=len(data))
    pieces = [p async for p in body.stream(_chunks(data, [3, 6, 9, 50]))]
    assert len(pieces) > 4
    rendered = b"".join(pieces)
    assert len(rendered) == body.content_length
    assert multipart_fields(body.headers["Content-Type"], rendered)["media"] == data


async def test_boundaries_differ_per_body() -> None:
    """
    Each body gets a fresh random boundary.
    """
    first = MultipartBody([], media_field="media", media_size=1)
    second = MultipartBody([], media_field="media", media_size=1)
    assert first.boundary != second.boundary


def test_progress_counts_earlier_segments_against_the_whole_upload() -> None:
    """
    A segment's byte count reaches the caller offset by what earlier segments sent.
    """
    assert progress_reporter(None, total=10) is None
    calls: list[tuple[int, int]] = []
    report = progress_reporter(
        lambda sent, total: calls.append((sent, total)), total=10, base=4
    )
    assert report is not None
    report(0)
    report(6)
    assert calls == [(4, 10), (10, 10)]
