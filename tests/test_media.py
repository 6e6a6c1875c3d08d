"""
Sniffing, limits and the upload plan: everything decided before any I/O.
"""

from __future__ import annotations

from typing import Any

import pytest

from twupload import InvalidMediaError, MediaCategory
from twupload._media import (
    LIMITS,
    MB,
    check_alt_text,
    normalize_category,
    normalize_media_type,
    normalize_owners,
    plan_upload,
    sniff,
)

from samples import gif, jpeg, mp4, png, webp


@pytest.mark.parametrize(
    ("data", "media_type", "animated"),
    [
        (jpeg(), "image/jpeg", False),
        (png(), "image/png", False),
        (gif(), "image/gif", False),
        (gif(2), "image/gif", True),
        (gif(1, loop=True), "image/gif", True),
        (webp(), "image/webp", False),
        (mp4(), "video/mp4", False),
        (mp4(brand=b"qt  "), "video/quicktime", False),
        (b"\x00\x00\x00\x08wide\x00\x00", "video/quicktime", False),
        (b"hello world, not media", None, False),
        (b"", None, False),
    ],
)
def test_sniff(data: bytes, media_type: str | None, animated: bool) -> None:
    """
    Magic bytes identify each supported format, and GIF animation.
    """
    found = sniff(data)
    assert (found.media_type, found.animated) == (media_type, animated)


def test_gif_with_local_color_tables_and_truncated_head() -> None:
    """
    Frames with local colour tables are walked; a head cut mid-frame counts as static.
    """
    frame = b"\x2c" + b"\x00" * 8 + b"\x81" + b"\x00" * 12 + b"\x02\x02\x44\x01\x00"
    two = b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + frame + frame + b"\x3b"
    assert sniff(two).animated
    assert not sniff(two[:18]).animated
    assert not sniff(b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x99").animated
    assert not sniff(gif(1)[:-1]).animated  # no trailer: the walk runs off the end


def test_normalizers() -> None:
    """
    MIME types, categories and owners are normalised to the service's spelling.
    """
    assert normalize_media_type("Image/JPG; charset=x") == "image/jpeg"
    assert normalize_category(MediaCategory.TWEET_GIF) == "tweet_gif"
    assert normalize_category("dm_video") == "dm_video"
    assert normalize_category(None) is None
    assert str(MediaCategory.SUBTITLES) == "subtitles"
    assert normalize_owners([1, "0002", " 3 "]) == ("1", "2", "3")
    assert normalize_owners(()) == ()
    assert check_alt_text(None) is None
    assert check_alt_text("x" * 1000) == "x" * 1000


@pytest.mark.parametrize(
    ("owners", "match"),
    [
        ("123,456", "not a single string"),
        ([1.5], "numeric user ids"),
        ([True], "numeric user ids"),
        (["@jack"], "numeric user ids"),
        ([0], "numeric user ids"),
        (["١٢"], "numeric user ids"),
        (range(1, 102), "at most 100"),
    ],
)
def test_bad_owners(owners: Any, match: str) -> None:
    """
    Owners must be up to 100 positive numeric ids.
    """
    with pytest.raises(InvalidMediaError, match=match):
        normalize_owners(owners)


def test_bad_category_and_alt_text() -> None:
    """
    Unknown categories list the valid ones; long or non-string alt text is refused.
    """
    with pytest.raises(InvalidMediaError, match="tweet_image"):
        normalize_category("tweet_photo")
    with pytest.raises(InvalidMediaError, match="at most 1000"):
        check_alt_text("x" * 1001)
    with pytest.raises(InvalidMediaError, match="string"):
        check_alt_text(5)  # type: ignore[arg-type]


def _plan(data: bytes, **options: Any) -> Any:
    values: dict[str, Any] = {
        "api": "1.1",
        "head": data,
        "total_bytes": len(data),
        "media_type": None,
        "media_category": None,
        "chunked": None,
        "encoding": "binary",
        "has_alt_text": False,
    }
    values.update(options)
    return plan_upload(**values)


@pytest.mark.parametrize(
    ("data", "options", "expected"),
    [
        (png(), {}, ("image/png", None, False, "image")),
        (
            jpeg(),
            {"media_category": "dm_image"},
            ("image/jpeg", "dm_image", False, "image"),
        ),
        (png(), {"chunked": True}, ("image/png", None, True, "image")),
        (gif(), {}, ("image/gif", None, False, "image")),
        (
            gif(),
            {"media_category": "tweet_gif"},
            ("image/gif", "tweet_gif", True, "gif"),
        ),
        (gif(3), {}, ("image/gif", "tweet_gif", True, "gif")),
        (gif(3), {"media_category": "dm_gif"}, ("image/gif", "dm_gif", True, "gif")),
        (mp4(), {}, ("video/mp4", "tweet_video", True, "video")),
        (
            mp4(),
            {"media_category": "amplify_video"},
            ("video/mp4", "amplify_video", True, "video"),
        ),
        (
            mp4(brand=b"qt  "),
            {"media_type": "video/mov"},
            ("video/quicktime", "tweet_video", True, "video"),
        ),
        (
            b"1\n00:00:01,000 --> 00:00:02,000\nHi\n",
            {"media_category": "subtitles"},
            ("text/srt", "subtitles", True, "subtitles"),
        ),
        (
            png(),
            {"encoding": "base64", "has_alt_text": True},
            ("image/png", None, False, "image"),
        ),
    ],
)
def test_plan_choices(
    data: bytes, options: dict[str, Any], expected: tuple[object, ...]
) -> None:
    """
    The plan picks type, category and flow as API.md describes.
    """
    plan = _plan(data, **options)
    assert (plan.media_type, plan.media_category, plan.chunked, plan.kind) == expected
    assert plan.total_bytes == len(data)


@pytest.mark.parametrize(
    ("data", "options", "match"),
    [
        (b"", {}, "empty"),
        (b"plain text", {}, "Unsupported media"),
        (b"plain text", {"media_type": "image/png"}, "declared 'image/png'"),
        (
            png(),
            {"media_type": "image/jpeg"},
            "contradicts the bytes, which are image/png",
        ),
        (png(), {"encoding": "utf8"}, "encoding"),
        (png(), {"total_bytes": 5 * MB + 1}, "still images up to 5.0 MB"),
        (png(), {"total_bytes": 5 * MB + 1, "chunked": True}, "still images"),
        (gif(3), {"total_bytes": 15 * MB + 1}, "up to 15.0 MB"),
        (mp4(), {"total_bytes": 512 * MB + 1}, "up to 512.0 MB"),
        (gif(3), {"media_category": "tweet_image"}, "an animated GIF"),
        (mp4(), {"media_category": "tweet_gif"}, "video"),
        (png(), {"media_category": "tweet_video"}, "for videos"),
        (mp4(), {"chunked": False}, "only be uploaded in chunks"),
        (png(), {"chunked": True, "encoding": "base64"}, "simple upload only"),
        (mp4(), {"has_alt_text": True}, "images and GIFs only"),
    ],
)
def test_plan_refusals(data: bytes, options: dict[str, Any], match: str) -> None:
    """
    Every refusal is an InvalidMediaError that says what is wrong.
    """
    with pytest.raises(InvalidMediaError, match=match):
        _plan(data, **options)


def test_limits_table_covers_every_api_and_kind() -> None:
    """
    The one limits table has an entry per API version and kind.
    """
    for api in ("1.1", "2"):
        for kind in ("image", "gif", "video", "subtitles"):
            assert LIMITS[(api, kind)] > 0
    assert _plan(mp4(), api="2", total_bytes=600 * MB).chunked
