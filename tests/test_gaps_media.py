"""
Sniffing, normalizing and planning: the corners a mutation run found untested.
"""

from __future__ import annotations

import decimal
import struct

import pytest

from twupload import InvalidMediaError, MediaCategory
from twupload._media import (
    MB,
    _human,
    normalize_category,
    normalize_media_type,
    normalize_owners,
    sniff,
)

from samples import gif, plan_of, png


def _gif87a() -> bytes:
    """
    A one-frame GIF87a: the older header, with no extension blocks.
    """
    return (
        b"GIF87a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x44\x01\x00"
        + b"\x3b"
    )


def test_a_gif87a_is_a_gif() -> None:
    """
    Both GIF versions are sniffed, the 1987 one too.
    """
    found = sniff(_gif87a())
    assert (found.media_type, found.animated) == ("image/gif", False)
    assert plan_of(_gif87a()).media_type == "image/gif"


def test_a_media_type_with_several_parameters_is_still_its_base_type() -> None:
    """
    Every parameter after the first ``;`` is dropped, however many there are.
    """
    assert normalize_media_type("image/PNG; charset=x; q=1") == "image/png"
    assert plan_of(png(), media_type="Image/Png; a=1; b=2").media_type == "image/png"


def test_a_category_member_mismatch_names_the_service_string() -> None:
    """
    A MediaCategory member is turned into its string before anything quotes it.
    """
    assert normalize_category(MediaCategory.DM_VIDEO) == "dm_video"
    assert type(normalize_category(MediaCategory.DM_VIDEO)) is str
    with pytest.raises(InvalidMediaError) as info:
        plan_of(png(), media_category=normalize_category(MediaCategory.TWEET_VIDEO))
    assert str(info.value) == (
        "media_category 'tweet_video' is for videos, but the media is image "
        "(image/png). Use a matching category or omit it."
    )


def test_an_unknown_category_lists_the_valid_ones() -> None:
    """
    The refusal lists every category the service knows, comma-separated, sorted.
    """
    with pytest.raises(InvalidMediaError) as info:
        normalize_category("tweet_photo")
    assert str(info.value) == (
        "Unknown media_category 'tweet_photo'. Use one of: amplify_video, dm_gif, "
        "dm_image, dm_video, subtitles, tweet_gif, tweet_image, tweet_video."
    )


@pytest.mark.parametrize(
    "owner", [decimal.Decimal(12), 12.0, b"12", True, None], ids=repr
)
def test_owners_are_ints_or_digit_strings_only(owner: object) -> None:
    """
    A value that merely prints as digits (a Decimal, a float) is not a user id.
    """
    with pytest.raises(InvalidMediaError, match="give numeric user ids"):
        normalize_owners([owner])  # type: ignore[list-item]


def test_a_one_byte_subtitle_file_is_not_empty() -> None:
    """
    Only a zero-byte source is empty; one byte of subtitles is something to upload.
    """
    plan = plan_of(b"1", media_category="subtitles")
    assert (plan.kind, plan.total_bytes, plan.chunked) == ("subtitles", 1, True)
    with pytest.raises(InvalidMediaError, match="Unsupported media"):
        plan_of(b"\x89")


def test_an_animated_gif_in_an_image_category_is_named_so() -> None:
    """
    The refusal calls an animated GIF by that name, not by its MIME type.
    """
    with pytest.raises(InvalidMediaError) as info:
        plan_of(gif(3), media_category="tweet_image")
    assert str(info.value) == (
        "media_category 'tweet_image' is for images, but the media is an animated "
        "GIF. Use a matching category or omit it."
    )


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 bytes"),
        (MB - 1, "1048575 bytes"),
        (MB, "1.0 MB"),
        (5 * MB + 1, "5.0 MB"),
        (15 * MB, "15.0 MB"),
    ],
)
def test_sizes_below_a_megabyte_are_shown_in_bytes(size: int, shown: str) -> None:
    """
    Sizes read as MB from one MB up, and as a byte count below.
    """
    assert _human(size) == shown


def _ts_packets(count: int) -> bytes:
    return (b"\x47" + bytes(range(187))) * count


def test_two_mpeg_ts_packets_are_enough() -> None:
    """
    Two 188-byte packets, each starting with the sync byte, make an MPEG-TS head.
    """
    assert sniff(_ts_packets(2)).media_type == "video/mp2t"
    assert sniff(_ts_packets(1)).media_type is None


def test_mpeg_ts_is_told_by_its_first_four_packets() -> None:
    """
    Sniffing looks at four packets at most: what follows them does not matter.
    """
    head = _ts_packets(4) + b"\x00" * 188 + _ts_packets(1)
    assert sniff(head).media_type == "video/mp2t"
    assert sniff(_ts_packets(3) + b"\x00" * 188).media_type is None


def test_webm_is_told_by_its_doc_type_in_the_first_64_bytes() -> None:
    """
    An EBML file is WebM when "webm" appears within its first 64 bytes, no later.
    """
    ebml = b"\x1a\x45\xdf\xa3"
    within = ebml + b"\x00" * 56 + b"webm"  # bytes 60-63
    beyond = ebml + b"\x00" * 57 + b"webm"  # bytes 61-64
    assert sniff(within + b"\x00" * 100).media_type == "video/webm"
    assert sniff(beyond + b"\x00" * 100).media_type is None
