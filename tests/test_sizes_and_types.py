"""
Sizes and types: the segment-size cap, the 1000-segment ceiling, and ``shared``.

Against the emulator, on asyncio and trio; errors are caught outside
``async with AsyncMediaClient(...)``, where a caller catches them.
"""

from __future__ import annotations

import struct
import time

from typing import TYPE_CHECKING, Any

import pytest

from twupload import APIError, AsyncMediaClient, ConfigurationError, InvalidMediaError
from twupload._chunked import segment_size_for
from twupload._media import (
    DEFAULT_MAX_SEGMENT_BYTES,
    LIMITS,
    MAX_SEGMENTS,
    MB,
    sniff,
)

from fakes import FakeTime
from samples import mp4, plan_of, png


if TYPE_CHECKING:
    from twupload import OAuth1Credentials
    from twupload.testing import Emulator

pytestmark = pytest.mark.anyio
APIS = ["1.1", "2"]


def _plan(data: bytes, *, api: str = "2", **options: Any) -> Any:
    """
    `samples.plan_of`, on v2 unless *api* says otherwise.
    """
    return plan_of(data, api=api, **options)


def _client(emu: Emulator, api: str, **options: Any) -> AsyncMediaClient:
    emu.set_processing(check_after_secs=0)
    fake = FakeTime(time.time())
    return AsyncMediaClient(
        emu.credentials,
        api=api,
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
        **options,
    )


# The 1000-segment ceiling, before any I/O.


def test_the_defaults_are_the_documented_append_limits() -> None:
    """
    1000 APPENDs (segment_index 0-999) of at most 5 MiB each, by default.
    """
    assert (MAX_SEGMENTS, DEFAULT_MAX_SEGMENT_BYTES) == (1000, 5 * MB)


@pytest.mark.anyio(False)
def test_a_video_beyond_1000_segments_is_refused_naming_the_option() -> None:
    """
    16 GiB is v2's documented video limit, but 1000 x 5 MiB carry only 4.9 GB.
    """
    limit = LIMITS[("2", "video")]
    fits = _plan(mp4(), total_bytes=MAX_SEGMENTS * 5 * MB, max_segment_bytes=5 * MB)
    assert (fits.chunked, fits.total_bytes) == (True, 5000 * MB)
    with pytest.raises(InvalidMediaError) as info:
        _plan(mp4(), total_bytes=MAX_SEGMENTS * 5 * MB + 1, max_segment_bytes=5 * MB)
    message = str(info.value)
    assert "1000 APPENDs" in message
    assert "max_segment_bytes=5242880" in message
    assert f"up to {limit / MB:.1f} MB" in message
    assert "5.0 MB" not in message.split("carry", maxsplit=1)[0]
    big = _plan(mp4(), total_bytes=limit, max_segment_bytes=18 * MB)
    assert big.total_bytes == limit


@pytest.mark.anyio(False)
def test_the_documented_limit_still_wins_over_a_bigger_segment_cap() -> None:
    """
    Raising max_segment_bytes does not lift the table's limit, whose message names it.
    """
    limit = LIMITS[("1.1", "video")]
    with pytest.raises(InvalidMediaError, match=r"up to 512\.0 MB for it \(API 1\.1\)"):
        _plan(mp4(), api="1.1", total_bytes=limit + 1, max_segment_bytes=100 * MB)


@pytest.mark.anyio(False)
def test_segment_size_grows_from_the_total_and_never_passes_the_cap() -> None:
    """
    At least ceil(total / 1000), the preferred size otherwise, never above the cap.
    """
    assert segment_size_for(10, preferred=8, maximum=5) == 5
    assert segment_size_for(5001, preferred=1, maximum=10) == 6
    assert segment_size_for(5000, preferred=1, maximum=10) == 5
    with pytest.raises(InvalidMediaError, match="above max_segment_bytes=5; raise"):
        segment_size_for(5001, preferred=1, maximum=5)


@pytest.mark.anyio(False)
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "5"])
def test_a_bad_max_segment_bytes_is_a_configuration_error(
    creds: OAuth1Credentials, value: Any
) -> None:
    """
    The constructor refuses a cap that is not a positive int.
    """
    with pytest.raises(ConfigurationError, match="max_segment_bytes must be an int"):
        AsyncMediaClient(creds, max_segment_bytes=value)


@pytest.mark.parametrize("api", APIS)
async def test_appends_never_exceed_max_segment_bytes(
    twupload_emulator: Emulator, api: str
) -> None:
    """
    A smaller cap than the preferred size makes every APPEND fit under it.
    """
    emu = twupload_emulator
    data = mp4(3 * MB + 10)
    async with _client(emu, api, segment_bytes=4 * MB, max_segment_bytes=MB) as client:
        result = await client.upload(data)
    record = emu.get_media(result.media_id)
    assert [s.size for s in record.segments] == [MB, MB, MB, 10]
    appends = [r for r in emu.requests if r.command == "APPEND"]
    assert sorted(r.segment_index or 0 for r in appends) == [0, 1, 2, 3]


@pytest.mark.parametrize("api", APIS)
async def test_a_refused_size_sends_nothing(
    twupload_emulator: Emulator, api: str
) -> None:
    """
    A source beyond 1000 segments of the cap is refused before any request.
    """
    emu = twupload_emulator
    emu.reset_stats()
    data = mp4(2001)
    with pytest.raises(InvalidMediaError, match="1000 APPENDs"):
        async with _client(emu, api, max_segment_bytes=2) as client:
            await client.upload(data)
    assert emu.requests == ()


@pytest.mark.parametrize("api", APIS)
async def test_413_on_append_says_to_lower_the_segment_size(
    twupload_emulator: Emulator, api: str
) -> None:
    """
    An APPEND answered 413 is about the segment, not the media's category.
    """
    emu = twupload_emulator
    emu.fail_next(status=413, body=b"", command="APPEND")
    with pytest.raises(APIError) as info:
        async with _client(emu, api) as client:
            await client.upload(mp4())
    message = str(info.value)
    assert info.value.status_code == 413
    assert "Segment too large: lower the segment size" in message
    assert "max_segment_bytes" in message
    assert "larger than the service accepts for its category" not in message


# shared=True: DM media reusable across conversations.


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("data", "category"), [(mp4(), "dm_video"), (png(), "dm_image")]
)
async def test_shared_is_sent_at_init_and_forces_the_chunked_flow(
    twupload_emulator: Emulator, api: str, data: bytes, category: str
) -> None:
    """
    The emulator records ``shared`` from INIT (form ``true``) / initialize (JSON true).
    """
    emu = twupload_emulator
    emu.reset_stats()
    async with _client(emu, api) as client:
        result = await client.upload(data, media_category=category, shared=True)
    record = emu.get_media(result.media_id)
    assert (record.shared, record.category) == (True, category)
    commands = [r.command for r in emu.requests]
    assert commands[0] == "INIT"
    assert "upload" not in commands


@pytest.mark.parametrize("api", APIS)
async def test_not_shared_by_default(twupload_emulator: Emulator, api: str) -> None:
    """
    Without shared=True the media is not shared, and a DM image goes up in one request.
    """
    emu = twupload_emulator
    emu.reset_stats()
    async with _client(emu, api) as client:
        result = await client.upload(png(), media_category="dm_image")
    assert emu.get_media(result.media_id).shared is False
    assert [r.command for r in emu.requests] == ["upload"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"shared": True}, "direct-message media only, not to 'tweet_image'"),
        (
            {"shared": True, "media_category": "tweet_video"},
            "not to 'tweet_video'",
        ),
        (
            {"shared": True, "media_category": "dm_image", "chunked": False},
            "shared=True is sent on INIT / initialize only",
        ),
        ({"shared": 1}, "shared must be True or False"),
    ],
)
async def test_bad_shared_is_refused_before_any_io(
    twupload_emulator: Emulator, api: str, options: dict[str, Any], match: str
) -> None:
    """
    shared=True outside dm_*, with chunked=False, or not a bool: InvalidMediaError.
    """
    emu = twupload_emulator
    emu.reset_stats()
    data = mp4() if options.get("media_category") == "tweet_video" else png()
    with pytest.raises(InvalidMediaError, match=match):
        async with _client(emu, api) as client:
            await client.upload(data, **options)
    assert emu.requests == ()


# The v2-only types of the spec's media_type list: BMP, TIFF, WebM, MPEG-TS.


def bmp(width: int = 3, height: int = -2) -> bytes:
    """
    A BMP file header and a BITMAPINFOHEADER (40 bytes), then a few pixels.
    """
    header = b"BM" + struct.pack("<IHHI", 70, 0, 0, 54)
    info = struct.pack("<IiiHHI", 40, width, height, 1, 24, 0) + bytes(20)
    return header + info + bytes(16)


def tiff(big_endian: bool = False) -> bytes:
    """
    A TIFF header (either byte order) and padding.
    """
    return (
        b"MM\x00*\x00\x00\x00\x08" if big_endian else b"II*\x00\x08\x00\x00\x00"
    ) + bytes(64)


def webm(size: int = 4096) -> bytes:
    """
    An EBML header whose DocType is ``webm``, padded to *size*.
    """
    head = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    return head + bytes(size - len(head))


def mpeg_ts(packets: int = 20) -> bytes:
    """
    *packets* 188-byte transport-stream packets, each starting with the 0x47 sync byte.
    """
    return (b"\x47" + bytes(187)) * packets


V2_ONLY = [
    (bmp(), "image/bmp", "image"),
    (bmp(2, 2)[:30], "image/bmp", "image"),
    (tiff(), "image/tiff", "image"),
    (tiff(big_endian=True), "image/tiff", "image"),
    (webm(), "video/webm", "video"),
    (mpeg_ts(), "video/mp2t", "video"),
]


@pytest.mark.anyio(False)
@pytest.mark.parametrize(("data", "media_type", "kind"), V2_ONLY)
def test_v2_only_types_are_sniffed_and_planned_on_v2(
    data: bytes, media_type: str, kind: str
) -> None:
    """
    The bytes tell the type; v2 plans it with its kind's default category.
    """
    assert sniff(data).media_type == media_type
    plan = _plan(data)
    assert (plan.media_type, plan.kind) == (media_type, kind)
    assert plan.media_category == f"tweet_{kind}"
    assert plan.chunked is (kind == "video")


@pytest.mark.anyio(False)
@pytest.mark.parametrize(
    "data",
    [
        b"BM" + bytes(30),  # no known DIB header size
        b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska" + bytes(64),  # Matroska, not WebM
        b"\x47" + bytes(187),  # one packet is not a stream
        b"\x47" + bytes(187) + b"\x00" + bytes(187),  # the second sync byte is missing
    ],
    ids=["bmp-no-dib", "matroska", "ts-one-packet", "ts-no-sync"],
)
def test_lookalikes_are_not_sniffed(data: bytes) -> None:
    """
    A magic prefix alone is not enough.
    """
    assert sniff(data).media_type is None
    with pytest.raises(InvalidMediaError, match="BMP, TIFF, MP4, MOV, WebM or MPEG-TS"):
        _plan(data)


@pytest.mark.anyio(False)
@pytest.mark.parametrize(("data", "media_type", "kind"), V2_ONLY)
def test_v2_only_types_are_refused_on_v1(
    data: bytes, media_type: str, kind: str
) -> None:
    """
    The v1.1 reference lists none of them: refused before I/O, pointing at v2.
    """
    with pytest.raises(InvalidMediaError) as info:
        _plan(data, api="1.1")
    assert f"{media_type} media is accepted by the X API v2 only" in str(info.value)
    assert kind in {"image", "video"}


@pytest.mark.parametrize(
    ("data", "media_type", "category", "chunked"),
    [
        (bmp(), "image/bmp", "tweet_image", False),
        (tiff(), "image/tiff", "tweet_image", False),
        (bmp(), "image/bmp", "dm_image", True),
        (tiff(big_endian=True), "image/tiff", "tweet_image", True),
        (webm(), "video/webm", "tweet_video", True),
        (mpeg_ts(), "video/mp2t", "dm_video", True),
    ],
)
async def test_the_emulator_takes_v2_only_types_on_v2(
    twupload_emulator: Emulator,
    data: bytes,
    media_type: str,
    category: str,
    chunked: bool,
) -> None:
    """
    One-shot or chunked, the emulator recognises the bytes and keeps the type.
    """
    emu = twupload_emulator
    emu.reset_stats()
    async with _client(emu, "2") as client:
        result = await client.upload(data, media_category=category, chunked=chunked)
    record = emu.get_media(result.media_id)
    assert (record.media_type, record.category) == (media_type, category)
    assert emu.requests[0].command == ("INIT" if chunked else "upload")
    if media_type == "image/bmp":
        assert (record.width, record.height) == (3, 2)
    if chunked:
        assert record.declared_type == media_type
