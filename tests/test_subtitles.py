"""
Subtitles: uploading SRT and VTT files, and associating them with a video.

Against the emulator (what it received and answered) and respx (the exact
bodies). Errors are caught outside ``async with AsyncMediaClient(...)``.
"""

from __future__ import annotations

import json
import time

from typing import TYPE_CHECKING, Any

import httpx
import pytest
import respx

from twupload import APIError, AsyncMediaClient, InvalidMediaError, MediaCategory
from twupload._auth import OAuth1Auth, OAuth1Signer
from twupload._media import plan_upload

from fakes import FakeTime
from samples import mp4


if TYPE_CHECKING:
    from twupload import OAuth1Credentials
    from twupload.testing import Emulator

pytestmark = pytest.mark.anyio

SRT = b"1\n00:00:01,000 --> 00:00:02,000\nHello\n"
VTT = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello\n"
VIDEO_ID = 1146654567674912769
SUBTITLES_ID = 105195515189863968
HOSTS = {"1.1": "https://upload.twitter.com", "2": "https://api.x.com"}


def _plan(data: bytes, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "api": "2",
        "head": data,
        "total_bytes": len(data),
        "media_type": None,
        "media_category": "subtitles",
        "chunked": None,
        "encoding": "binary",
        "has_alt_text": False,
        **options,
    }
    return plan_upload(**settings)


@pytest.mark.anyio(False)
@pytest.mark.parametrize(
    ("data", "media_type"),
    [(SRT, "text/srt"), (VTT, "text/vtt"), (b"\xef\xbb\xbf" + VTT, "text/vtt")],
)
def test_the_subtitles_type_is_read_from_the_text(data: bytes, media_type: str) -> None:
    """
    WEBVTT files are text/vtt, anything else text/srt; they always go chunked.
    """
    plan = _plan(data)
    assert (plan.media_type, plan.kind, plan.chunked) == (
        media_type,
        "subtitles",
        True,
    )
    assert _plan(SRT, media_type="text/vtt").media_type == "text/vtt"


@pytest.mark.anyio(False)
def test_a_declared_type_that_is_not_srt_or_vtt_is_refused() -> None:
    """
    The spec lists text/srt and text/vtt for subtitles only.
    """
    with pytest.raises(InvalidMediaError, match=r"text/srt \(SubRip\) or text/vtt"):
        _plan(SRT, media_type="text/plain")


@pytest.mark.parametrize("api", ["1.1", "2"])
@pytest.mark.parametrize(("data", "media_type"), [(SRT, "text/srt"), (VTT, "text/vtt")])
async def test_subtitles_upload_to_the_emulator(
    twupload_emulator: Emulator, api: str, data: bytes, media_type: str
) -> None:
    """
    INIT / initialize declares the subtitles type with the subtitles category.
    """
    emu = twupload_emulator
    fake = FakeTime(time.time())
    async with AsyncMediaClient(
        emu.credentials,
        api=api,
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
    ) as client:
        result = await client.upload(data, media_category=MediaCategory.SUBTITLES)
    record = emu.get_media(result.media_id)
    assert (record.category, record.declared_type) == ("subtitles", media_type)
    assert record.size == len(data)


def _client(creds: OAuth1Credentials, api: str) -> AsyncMediaClient:
    fake = FakeTime(time.time())
    return AsyncMediaClient(creds, api=api, clock=fake.clock, sleep=fake.sleep)


EXPECTED_SET: dict[str, tuple[str, str, Any]] = {
    "1.1": (
        "POST",
        "/1.1/media/subtitles/create.json",
        {
            "media_id": str(VIDEO_ID),
            "media_category": "TweetVideo",
            "subtitle_info": {
                "subtitles": [
                    {
                        "media_id": str(SUBTITLES_ID),
                        "language_code": "en",
                        "display_name": "English",
                    }
                ]
            },
        },
    ),
    "2": (
        "POST",
        "/2/media/subtitles",
        {
            "id": str(VIDEO_ID),
            "media_category": "TweetVideo",
            "subtitles": {
                "id": str(SUBTITLES_ID),
                "language_code": "en",
                "display_name": "English",
            },
        },
    ),
}
EXPECTED_DELETE: dict[str, tuple[str, str, Any]] = {
    "1.1": (
        "POST",
        "/1.1/media/subtitles/delete.json",
        {
            "media_id": str(VIDEO_ID),
            "media_category": "AmplifyVideo",
            "subtitle_info": {"subtitles": [{"language_code": "pt-BR"}]},
        },
    ),
    "2": (
        "DELETE",
        "/2/media/subtitles",
        {
            "id": str(VIDEO_ID),
            "language_code": "pt-BR",
            "media_category": "AmplifyVideo",
        },
    ),
}


@pytest.mark.parametrize("api", ["1.1", "2"])
async def test_set_and_delete_subtitles_send_the_documented_bodies(
    creds: OAuth1Credentials, api: str
) -> None:
    """
    JSON bodies as the reference pages show them; no display_name when none is given.
    """
    with respx.mock(base_url=HOSTS[api]) as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        async with _client(creds, api) as client:
            await client.set_subtitles(
                VIDEO_ID, str(SUBTITLES_ID), language_code="en", display_name="English"
            )
            await client.set_subtitles(str(VIDEO_ID), SUBTITLES_ID, language_code="en")
            await client.delete_subtitles(
                VIDEO_ID, language_code="pt-BR", video_category="amplify_video"
            )
    sent = [call.request for call in route.calls]
    for request in sent:
        assert request.headers["content-type"] == "application/json"
    method, path, body = EXPECTED_SET[api]
    assert (sent[0].method, sent[0].url.path) == (method, path)
    assert json.loads(sent[0].content) == body
    second = json.loads(sent[1].content)
    named = (
        second["subtitles"] if api == "2" else second["subtitle_info"]["subtitles"][0]
    )
    assert "display_name" not in named
    assert named["language_code"] == "en"
    method, path, body = EXPECTED_DELETE[api]
    assert (sent[2].method, sent[2].url.path) == (method, path)
    assert json.loads(sent[2].content) == body


@pytest.mark.parametrize("api", ["1.1", "2"])
async def test_a_refused_association_raises_outside_the_client(
    creds: OAuth1Credentials, api: str
) -> None:
    """
    A 404 (unknown media id) is an APIError the caller catches after ``async with``.
    """
    with respx.mock(base_url=HOSTS[api]) as router:
        router.route().mock(return_value=httpx.Response(404, json={}))
        with pytest.raises(APIError) as info:
            async with _client(creds, api) as client:
                await client.set_subtitles(VIDEO_ID, SUBTITLES_ID, language_code="en")
    assert info.value.status_code == 404
    assert "subtitles" in str(info.value)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({"language_code": "english!"}, "language_code must be a BCP 47 code"),
        ({"language_code": 1}, "language_code must be a BCP 47 code"),
        ({"language_code": "en", "display_name": " "}, "display_name must be"),
        ({"language_code": "en", "display_name": 3}, "display_name must be"),
        (
            {"language_code": "en", "video_category": "tweet_image"},
            "tweet_video or amplify_video media, not 'tweet_image'",
        ),
        ({"language_code": "en", "video_category": "film"}, "Unknown media_category"),
        (
            {"language_code": "en", "video_category": None},
            "tweet_video or amplify_video media, not None",
        ),
    ],
)
async def test_bad_subtitles_arguments_are_refused_before_any_request(
    creds: OAuth1Credentials, call: dict[str, Any], match: str
) -> None:
    """
    Checked before any I/O, on both calls where they apply.
    """
    with respx.mock(base_url=HOSTS["2"], assert_all_called=False) as router:
        route = router.route().mock(return_value=httpx.Response(200, json={}))
        with pytest.raises(InvalidMediaError, match=match):
            async with _client(creds, "2") as client:
                await client.set_subtitles(VIDEO_ID, SUBTITLES_ID, **call)
        if "display_name" not in call:
            with pytest.raises(InvalidMediaError, match=match):
                async with _client(creds, "2") as client:
                    await client.delete_subtitles(VIDEO_ID, **call)
    assert route.calls == []


def _emulated(emu: Emulator, api: str) -> AsyncMediaClient:
    emu.set_processing(check_after_secs=0)
    fake = FakeTime(time.time())
    return AsyncMediaClient(
        emu.credentials, api=api, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
    )


SUBTITLES_PATHS = {
    "1.1": (
        ("POST", "/1.1/media/subtitles/create.json"),
        ("POST", "/1.1/media/subtitles/delete.json"),
    ),
    "2": (("POST", "/2/media/subtitles"), ("DELETE", "/2/media/subtitles")),
}


@pytest.mark.parametrize("api", ["1.1", "2"])
async def test_set_and_delete_subtitles_on_the_emulator(
    twupload_emulator: Emulator, api: str
) -> None:
    """
    Upload a video and its subtitles, associate them, then remove them: all 200.
    """
    emu = twupload_emulator
    async with _emulated(emu, api) as client:
        video = await client.upload(mp4())
        track = await client.upload(VTT, media_category="subtitles")
        emu.reset_stats()
        await client.set_subtitles(
            video.media_id, track.media_id, language_code="en", display_name="English"
        )
        await client.delete_subtitles(video.media_id, language_code="en")
    create, delete = SUBTITLES_PATHS[api]
    assert [(r.method, r.path, r.status) for r in emu.requests] == [
        (*create, 200),
        (*delete, 200),
    ]
    assert {r.command for r in emu.requests} == {"metadata"}


@pytest.mark.parametrize("api", ["1.1", "2"])
@pytest.mark.parametrize("mistake", ["unknown video", "not a video", "not subtitles"])
async def test_the_emulator_refuses_a_wrong_association(
    twupload_emulator: Emulator, api: str, mistake: str
) -> None:
    """
    An unknown media id, a video that is not one, or subtitles that are not: APIError.
    """
    emu = twupload_emulator
    with pytest.raises(APIError) as info:
        async with _emulated(emu, api) as client:
            video = (await client.upload(mp4())).media_id
            track = (await client.upload(SRT, media_category="subtitles")).media_id
            pairs = {
                "unknown video": (VIDEO_ID, track),
                "not a video": (track, track),
                "not subtitles": (video, video),
            }
            await client.set_subtitles(*pairs[mistake], language_code="en")
    assert info.value.status_code == 400
    assert "subtitles" in str(info.value)
    reason = {
        "unknown video": f"Media id {VIDEO_ID} not found",
        "not a video": "is not a video",
        "not subtitles": "is not subtitles",
    }[mistake]
    assert any(reason in text for _, text in info.value.errors), info.value.errors
    if api == "1.1":
        codes = {"unknown video": 325, "not a video": 324, "not subtitles": 324}
        assert [code for code, _ in info.value.errors] == [codes[mistake]]


async def _raw(emu: Emulator, api: str, method: str, path: str, body: bytes) -> Any:
    """
    Send *body* as JSON to the emulator, signed as a client would; return the response.
    """
    auth: httpx.Auth = OAuth1Auth(OAuth1Signer(emu.credentials))
    async with httpx.AsyncClient(base_url=emu.url, auth=auth) as http:
        return await http.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )


def _media(emu: Emulator, kind: str) -> int:
    return next(m.media_id for m in emu.media.values() if m.category == kind)


V1_REFUSALS: list[tuple[str, Any, str]] = [
    ("create", b"not json", "not valid JSON"),
    ("create", [], "must be a JSON object"),
    ("create", {}, "media_id"),
    ("create", {"media_id": "VIDEO"}, "subtitle_info"),
    (
        "create",
        {"media_id": "VIDEO", "subtitle_info": {"subtitles": []}},
        "subtitle_info",
    ),
    (
        "create",
        {
            "media_id": "VIDEO",
            "subtitle_info": {"subtitles": [{"language_code": "en"}]},
        },
        "media_id",
    ),
    (
        "create",
        {
            "media_id": "VIDEO",
            "media_category": "tweet_video",
            "subtitle_info": {
                "subtitles": [{"media_id": "TRACK", "language_code": "en"}]
            },
        },
        "media_category",
    ),
    (
        "delete",
        {
            "media_id": "VIDEO",
            "media_category": "TweetVideo",
            "subtitle_info": {"subtitles": [{"language_code": " "}]},
        },
        "language_code",
    ),
]


def _fill(value: Any, ids: dict[str, str]) -> bytes:
    if isinstance(value, bytes):
        return value
    text = json.dumps(value)
    for name, media_id in ids.items():
        text = text.replace(f'"{name}"', f'"{media_id}"')
    return text.encode()


@pytest.mark.parametrize(("step", "body", "match"), V1_REFUSALS)
async def test_the_emulator_checks_v1_subtitles_bodies(
    twupload_emulator: Emulator, step: str, body: Any, match: str
) -> None:
    """
    Broken or incomplete v1.1 bodies get a 400 naming the problem.
    """
    emu = twupload_emulator
    async with _emulated(emu, "1.1") as client:
        await client.upload(mp4())
        await client.upload(SRT, media_category="subtitles")
    ids = {
        "VIDEO": str(_media(emu, "tweet_video")),
        "TRACK": str(_media(emu, "subtitles")),
    }
    path = f"/1.1/media/subtitles/{step}.json"
    response = await _raw(emu, "1.1", "POST", path, _fill(body, ids))
    assert response.status_code == 400
    assert match in response.text


V2_REFUSALS: list[tuple[str, Any, str]] = [
    ("POST", b"[]", "not valid JSON"),
    ("POST", {"id": "VIDEO", "media_category": "TweetVideo", "extra": 1}, "extra"),
    ("POST", {"id": "VIDEO", "media_category": "TweetVideo"}, "subtitles"),
    ("POST", {"id": "x", "media_category": "TweetVideo", "subtitles": {}}, "id"),
    (
        "POST",
        {"id": "VIDEO", "media_category": "TweetVideo", "subtitles": "en"},
        "subtitles",
    ),
    (
        "POST",
        {"id": "VIDEO", "media_category": "TweetVideo", "subtitles": {"id": "123"}},
        "not found",
    ),
    (
        "POST",
        {"id": "VIDEO", "media_category": "TweetVideo", "subtitles": {"id": "TRACK"}},
        "language_code",
    ),
    (
        "DELETE",
        {"id": "VIDEO", "media_category": "DmVideo", "language_code": "en"},
        "media_category",
    ),
]


@pytest.mark.parametrize(("method", "body", "match"), V2_REFUSALS)
async def test_the_emulator_checks_v2_subtitles_bodies(
    twupload_emulator: Emulator, method: str, body: Any, match: str
) -> None:
    """
    Broken, incomplete or unknown-field v2 bodies get a 400 problem naming the problem.
    """
    emu = twupload_emulator
    async with _emulated(emu, "2") as client:
        await client.upload(mp4())
        await client.upload(SRT, media_category="subtitles")
    ids = {
        "VIDEO": str(_media(emu, "tweet_video")),
        "TRACK": str(_media(emu, "subtitles")),
    }
    response = await _raw(emu, "2", method, "/2/media/subtitles", _fill(body, ids))
    assert response.status_code == 400
    assert match in response.text
