"""
Sniffing, limits and the upload plan: everything decided before any I/O.
"""

from __future__ import annotations

import re
import struct
import time

from typing import TYPE_CHECKING, Any

import pytest
import respx

from twupload import AsyncMediaClient, InvalidMediaError, MediaCategory
from twupload._media import (
    LIMITS,
    MAX_ALT_TEXT,
    MAX_OWNERS,
    MB,
    check_alt_text,
    normalize_category,
    normalize_media_type,
    normalize_owners,
    sniff,
)

from checks import multipart_fields
from fakes import FakeTime
from samples import gif, jpeg, mp4, plan_of, png, webp


if TYPE_CHECKING:
    from twupload import OAuth1Credentials
    from twupload.testing import Emulator


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


@pytest.mark.parametrize(
    ("data", "options", "expected"),
    [
        (png(), {}, ("image/png", "tweet_image", False, "image")),
        (
            jpeg(),
            {"media_category": "dm_image"},
            ("image/jpeg", "dm_image", False, "image"),
        ),
        (png(), {"chunked": True}, ("image/png", "tweet_image", True, "image")),
        (gif(), {}, ("image/gif", "tweet_image", False, "image")),
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
            ("image/png", "tweet_image", False, "image"),
        ),
    ],
)
def test_plan_choices(
    data: bytes, options: dict[str, Any], expected: tuple[object, ...]
) -> None:
    """
    The plan picks type, category and flow as API.md describes.
    """
    plan = plan_of(data, **options)
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
        (png(), {"api": "2", "encoding": "base64"}, r"v1\.1 option"),
        (mp4(), {"has_alt_text": True}, "images and GIFs only"),
    ],
)
def test_plan_refusals(data: bytes, options: dict[str, Any], match: str) -> None:
    """
    Every refusal is an InvalidMediaError that says what is wrong.
    """
    with pytest.raises(InvalidMediaError, match=match):
        plan_of(data, **options)


def test_limits_table_covers_every_api_and_kind() -> None:
    """
    The one limits table has an entry per API version and kind.
    """
    for api in ("1.1", "2"):
        for kind in ("image", "gif", "video", "subtitles"):
            assert LIMITS[(api, kind)] > 0
    assert plan_of(mp4(), api="2", total_bytes=600 * MB).chunked


# Limits: the values of the one table, and every limit exactly at and one over.

SRT = b"1\n00:00:01,000 --> 00:00:02,000\nHi\n"
# Written out, not read from LIMITS, so a changed table value fails here.
EXPECTED_LIMITS = {
    ("1.1", "image"): 5 * 1024 * 1024,
    ("1.1", "gif"): 15 * 1024 * 1024,
    ("1.1", "video"): 512 * 1024 * 1024,
    ("1.1", "subtitles"): 5 * 1024 * 1024,
    ("2", "image"): 5 * 1024 * 1024,
    ("2", "gif"): 15 * 1024 * 1024,
    ("2", "video"): 16 * 1024 * 1024 * 1024,
    ("2", "subtitles"): 5 * 1024 * 1024,
}
SAMPLE_OF_KIND: dict[str, tuple[bytes, dict[str, Any]]] = {
    "image": (png(), {}),
    "gif": (gif(3), {}),
    "video": (mp4(), {}),
    "subtitles": (SRT, {"media_category": "subtitles"}),
}


def test_limits_table_values() -> None:
    """
    The table holds the service's limits for v1.1 and v2; owners and alt text too.
    """
    assert MB == 1024 * 1024
    assert LIMITS == EXPECTED_LIMITS
    assert (MAX_OWNERS, MAX_ALT_TEXT) == (100, 1000)


@pytest.mark.parametrize(("api", "kind"), sorted(EXPECTED_LIMITS))
def test_each_size_limit_is_inclusive(api: str, kind: str) -> None:
    """
    A source of exactly the limit is planned; one byte more is refused, naming the limit.
    """
    data, options = SAMPLE_OF_KIND[kind]
    limit = EXPECTED_LIMITS[(api, kind)]
    plan = plan_of(data, api=api, total_bytes=limit, **options)
    assert (plan.kind, plan.total_bytes) == (kind, limit)
    with pytest.raises(
        InvalidMediaError, match=re.escape(f"up to {limit / MB:.1f} MB")
    ) as info:
        plan_of(data, api=api, total_bytes=limit + 1, **options)
    assert f"{(limit + 1) / MB:.1f} MB" in str(info.value)
    if kind != "image":
        assert f"(API {api})" in str(info.value)


@pytest.mark.parametrize("api", ["1.1", "2"])
@pytest.mark.parametrize(
    ("data", "options"),
    [
        (png(), {"chunked": True}),
        (jpeg(), {"media_category": "dm_image"}),
        (webp(), {}),
        (gif(), {}),
    ],
)
def test_still_image_limit_holds_for_every_route(
    api: str, data: bytes, options: dict[str, Any]
) -> None:
    """
    5 MB is the still-image limit whatever the format, category or flow.
    """
    assert plan_of(data, api=api, total_bytes=5 * MB, **options).kind == "image"
    with pytest.raises(InvalidMediaError, match=r"still images up to 5\.0 MB"):
        plan_of(data, api=api, total_bytes=5 * MB + 1, **options)


def test_static_gif_with_a_gif_category_gets_the_gif_limit() -> None:
    """
    A one-frame GIF sent as tweet_gif goes chunked under the 15 MB GIF limit.
    """
    plan = plan_of(gif(), media_category="tweet_gif", total_bytes=15 * MB)
    assert (plan.kind, plan.chunked, plan.total_bytes) == ("gif", True, 15 * MB)
    with pytest.raises(InvalidMediaError, match=r"up to 15\.0 MB"):
        plan_of(gif(), media_category="tweet_gif", total_bytes=15 * MB + 1)


def test_owner_count_limit_is_inclusive() -> None:
    """
    Exactly 100 additional owners are accepted, in order; 101 are refused.
    """
    hundred = normalize_owners(range(1, 101))
    assert hundred == tuple(str(i) for i in range(1, 101))
    with pytest.raises(
        InvalidMediaError, match="has 101 ids; the service accepts at most 100"
    ):
        normalize_owners([*range(1, 101), 101])


def test_alt_text_limit_is_inclusive_and_counts_characters() -> None:
    """
    1000 characters (not bytes) are accepted; 1001 are refused with the count.
    """
    assert check_alt_text("é" * 1000) == "é" * 1000
    assert check_alt_text("") == ""
    with pytest.raises(
        InvalidMediaError, match=r"is 1001 characters; .* at most 1000\."
    ):
        check_alt_text("é" * 1001)


@pytest.mark.parametrize(
    ("data", "options", "allowed"),
    [
        (png(), {}, True),
        (gif(3), {}, True),
        (gif(), {"media_category": "tweet_gif"}, True),
        (mp4(), {}, False),
        (SRT, {"media_category": "subtitles"}, False),
    ],
)
def test_alt_text_is_for_images_and_gifs(
    data: bytes, options: dict[str, Any], allowed: bool
) -> None:
    """
    Planning with alt text passes for images and GIFs and is refused for the rest.
    """
    if allowed:
        assert plan_of(data, has_alt_text=True, **options).kind in {"image", "gif"}
    else:
        with pytest.raises(InvalidMediaError, match="images and GIFs only"):
            plan_of(data, has_alt_text=True, **options)


# GIF animation: colour tables of every size, extensions, sub-blocks.


def _gif(
    frames: int,
    *,
    global_bits: int = 0,
    local_bits: int = 0,
    global_table: bool = True,
    local_table: bool = True,
    data: bytes = b"\x02\x44\x01",
    before_frame: bytes = b"",
) -> bytes:
    """
    A GIF89a whose colour tables (zero-filled) have 2 << bits entries each.
    """
    flags = (0x80 if global_table else 0) | global_bits
    out = b"GIF89a" + struct.pack("<HHBBB", 1, 1, flags, 0, 0)
    if global_table:
        out += b"\x00" * 3 * (2 << global_bits)
    for _ in range(frames):
        out += before_frame
        local = (0x80 if local_table else 0) | local_bits
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, local)
        if local_table:
            out += b"\x00" * 3 * (2 << local_bits)
        out += b"\x02" + data + b"\x00"  # LZW code size, sub-blocks, terminator
    return out + b"\x3b"


@pytest.mark.parametrize("bits", range(8))
def test_gif_colour_tables_of_every_size(bits: int) -> None:
    """
    Global and local tables of 2 to 256 entries are skipped exactly.
    """
    for global_bits, local_bits in ((bits, 7 - bits), (bits, bits), (7, bits)):
        options = {"global_bits": global_bits, "local_bits": local_bits}
        assert sniff(_gif(2, **options)).animated, options
        assert not sniff(_gif(1, **options)).animated, options
        assert sniff(_gif(3, **options)) == sniff(_gif(2, **options))


@pytest.mark.parametrize(
    ("global_table", "local_table"), [(False, True), (True, False), (False, False)]
)
def test_gif_size_bits_without_a_table_are_ignored(
    global_table: bool, local_table: bool
) -> None:
    """
    Size bits count only when the table flag is set: nothing is skipped otherwise.
    """
    options = {
        "global_bits": 7,
        "local_bits": 7,
        "global_table": global_table,
        "local_table": local_table,
    }
    assert sniff(_gif(2, **options)).animated
    assert not sniff(_gif(1, **options)).animated


def test_gif_sub_blocks_and_extensions_are_skipped_whole() -> None:
    """
    Image-separator and extension bytes inside data sub-blocks are not mistaken for frames.
    """
    tricky = b"\x05,,,,,\x03!!!"  # two sub-blocks full of 0x2C and 0x21
    comment = b"\x21\xfe\x04,,,,\x02!,\x00"  # comment extension, two sub-blocks
    assert not sniff(_gif(1, data=tricky)).animated
    assert not sniff(_gif(1, before_frame=comment)).animated
    assert sniff(_gif(2, data=tricky, before_frame=comment)).animated
    assert sniff(gif(2)).animated  # with graphic control extensions


def test_gif_looping_extensions_and_truncated_heads() -> None:
    """
    Either looping extension marks animation; heads cut anywhere never raise.
    """
    app = b"\x21\xff\x0bANIMEXTS1.0\x03\x01\x00\x00\x00"
    assert sniff(_gif(1, before_frame=app)).animated
    assert sniff(gif(1, loop=True)).animated
    two = _gif(2, global_bits=1, local_bits=2)
    results = [sniff(two[:end]).animated for end in range(len(two) + 1)]
    second_frame = two.rindex(b"\x2c")
    assert not any(results[: second_frame + 1])
    assert all(results[second_frame + 1 :])


# WEBP and MOV / MP4 detection and plans.


def test_webp_is_sniffed_only_with_both_markers() -> None:
    """
    RIFF with a WEBP form type is WEBP; other RIFF forms and a bare WEBP tag are not.
    """
    assert sniff(webp()).media_type == "image/webp"
    assert sniff(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20).media_type is None
    assert sniff(b"RIFX\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20).media_type is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ("image/webp", "tweet_image", False, "image")),
        ({"media_type": "image/webp"}, ("image/webp", "tweet_image", False, "image")),
        ({"chunked": True}, ("image/webp", "tweet_image", True, "image")),
        (
            {"media_category": "dm_image", "encoding": "base64"},
            ("image/webp", "dm_image", False, "image"),
        ),
        ({"api": "2"}, ("image/webp", "tweet_image", False, "image")),
    ],
)
def test_webp_upload_plans(
    options: dict[str, Any], expected: tuple[object, ...]
) -> None:
    """
    WEBP is a still image: simple upload as tweet_image unless told otherwise.
    """
    plan = plan_of(webp(), **options)
    assert (plan.media_type, plan.media_category, plan.chunked, plan.kind) == expected


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"media_category": "tweet_gif"}, "is for gifs, but the media is image"),
        ({"media_category": "tweet_video"}, "is for videos"),
        ({"media_type": "image/png"}, "contradicts the bytes, which are image/webp"),
    ],
)
def test_webp_refusals(options: dict[str, Any], match: str) -> None:
    """
    WEBP cannot be sent as a GIF or video, nor declared as another type.
    """
    with pytest.raises(InvalidMediaError, match=match):
        plan_of(webp(), **options)


@pytest.mark.parametrize("atom", [b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"])
def test_mov_with_a_leading_atom_other_than_ftyp(atom: bytes) -> None:
    """
    Old QuickTime files start with moov (or mdat, wide, ...): they are MOV video.
    """
    data = struct.pack(">I", 4096) + atom + bytes(4088)
    assert sniff(data) == sniff(data[:8])
    assert sniff(data).media_type == "video/quicktime"
    plan = plan_of(data, media_type="video/quicktime")
    expected = ("video/quicktime", "tweet_video", True, "video")
    assert (plan.media_type, plan.media_category, plan.chunked, plan.kind) == expected
    assert sniff(struct.pack(">I", 8) + atom.upper()).media_type is None


@pytest.mark.parametrize(
    ("brand", "media_type"),
    [(b"qt  ", "video/quicktime"), (b"isom", "video/mp4"), (b"M4V ", "video/mp4")],
)
def test_ftyp_brand_picks_mov_or_mp4(brand: bytes, media_type: str) -> None:
    """
    The ftyp major brand tells MOV from MP4.
    """
    assert sniff(mp4(brand=brand)).media_type == media_type
    with pytest.raises(InvalidMediaError, match="contradicts the bytes"):
        plan_of(
            mp4(brand=brand),
            media_type="video/mp4" if media_type != "video/mp4" else "video/quicktime",
        )


def test_media_type_aliases() -> None:
    """
    Common misspellings of the MIME types map to the service's names.
    """
    assert normalize_media_type("image/pjpeg") == "image/jpeg"
    assert normalize_media_type("image/jpg") == "image/jpeg"
    assert normalize_media_type(" VIDEO/MOV ") == "video/quicktime"
    assert normalize_media_type("image/png") == "image/png"


# The category: always sent, so v1.1 answers with a media key.


@pytest.mark.parametrize(
    ("data", "options", "category"),
    [
        (png(), {}, "tweet_image"),
        (jpeg(), {"chunked": True}, "tweet_image"),
        (webp(), {}, "tweet_image"),
        (gif(), {}, "tweet_image"),
        (gif(3), {}, "tweet_gif"),
        (mp4(), {}, "tweet_video"),
        (mp4(brand=b"qt  "), {}, "tweet_video"),
        (png(), {"media_category": MediaCategory.DM_IMAGE.value}, "dm_image"),
        (mp4(), {"media_category": "amplify_video"}, "amplify_video"),
    ],
)
def test_every_plan_names_a_category(
    data: bytes, options: dict[str, Any], category: str
) -> None:
    """
    The caller's category wins; without one the kind's tweet_* category is inferred.
    """
    for api in ("1.1", "2"):
        assert plan_of(data, api=api, **options).media_category == category


@pytest.mark.anyio
async def test_v1_simple_upload_sends_the_inferred_category(
    creds: OAuth1Credentials,
) -> None:
    """
    A v1.1 simple upload of an image with no category sends media_category=tweet_image once.
    """
    url = "https://upload.twitter.com/1.1/media/upload.json"
    body = {"media_id": 5, "media_id_string": "5", "media_key": "3_5"}
    data = png()
    with respx.mock() as mock:
        route = mock.post(url).respond(200, json=body)
        async with AsyncMediaClient(creds) as client:
            result = await client.upload(data)
    request = route.calls.last.request
    fields = multipart_fields(request.headers["content-type"], request.content)
    assert fields == {"media_category": b"tweet_image", "media": data}
    assert request.content.count(b'name="media_category"') == 1
    assert result.media_key == "3_5"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("data", "options", "category", "prefix"),
    [
        (png(3, 2), {}, "tweet_image", "3_"),
        (gif(), {}, "tweet_image", "3_"),
        (webp(), {}, "tweet_image", "3_"),
        (png(3, 2), {"chunked": True}, "tweet_image", "3_"),
        (gif(3), {}, "tweet_gif", "16_"),
        (mp4(), {}, "tweet_video", "7_"),
        (png(3, 2), {"media_category": "dm_image"}, "dm_image", "3_"),
    ],
    ids=["png", "static-gif", "webp", "png-chunked", "animated-gif", "mp4", "dm"],
)
async def test_v1_uploads_get_a_media_key(
    twupload_emulator: Emulator,
    data: bytes,
    options: dict[str, Any],
    category: str,
    prefix: str,
) -> None:
    """
    Against the emulator (which, like v1.1, keys only categorised media) every upload
    gets a media key, simple or chunked.
    """
    emu = twupload_emulator
    emu.set_processing(check_after_secs=0)  # one step per STATUS: no waiting
    fake = FakeTime(time.time())  # processing polls without real waiting
    async with AsyncMediaClient(
        emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
    ) as client:
        result = await client.upload(data, **options)
    record = emu.get_media(result.media_id)
    assert record.category == category
    assert result.media_key == record.media_key == f"{prefix}{result.media_id}"
