"""
The emulator's X API v2 endpoints, driven by hand-made requests.

Requests are built with plain httpx and signed by oauthlib (an OAuth client
twupload does not use) or carry a bearer token, and every answer is checked
against what X's OpenAPI spec 2.167 and docs say (see
docs/how-to/emulator-testing.md for the sources).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from oauthlib.oauth1 import Client as OAuthlibClient

from twupload import BearerToken
from twupload.testing import Emulator
from twupload.testing._state import EmulatorState
from twupload.testing._tokens import TokenStore

from samples import gif, jpeg, mp4, png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from twupload.testing._tokens import IssuedToken

    from fakes import FakeTime


pytestmark = pytest.mark.anyio

UPLOAD = "/2/media/upload"
INITIALIZE = "/2/media/upload/initialize"
METADATA = "/2/media/metadata"
TOKEN = "/2/oauth2/token"
V1_UPLOAD = "/1.1/media/upload.json"
MIB = 1024 * 1024
PROBLEM = "application/problem+json; charset=utf-8"
INVALID = "https://api.x.com/2/problems/invalid-request"
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


def append_path(media_id: object) -> str:
    return f"/2/media/upload/{media_id}/append"


def finalize_path(media_id: object) -> str:
    return f"/2/media/upload/{media_id}/finalize"


def multipart(
    fields: Sequence[tuple[str, str | bytes]], boundary: str = "v2-test-boundary"
) -> tuple[bytes, str]:
    parts = []
    for name, value in fields:
        disposition = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
        if isinstance(value, bytes):
            head = f'{disposition}; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n'
            parts.append(head.encode() + value + b"\r\n")
        else:
            parts.append(f"{disposition}\r\n\r\n{value}\r\n".encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Raw:
    """
    Hand-made v2 requests: OAuth 1.0a signed by oauthlib, or with a bearer token.

    The signer's timestamps follow the emulator's (fake) clock.
    """

    def __init__(self, emu: Emulator, http: httpx.AsyncClient, fake: FakeTime) -> None:
        creds = emu.credentials
        self.emu = emu
        self.http = http
        self.fake = fake
        self.signer = OAuthlibClient(
            creds.consumer_key,
            client_secret=creds.consumer_secret,
            resource_owner_key=creds.access_token,
            resource_owner_secret=creds.access_token_secret,
        )
        self.token: str | None = None

    async def send(
        self,
        method: str = "POST",
        path: str = UPLOAD,
        *,
        query: dict[str, str] | None = None,
        parts: Sequence[tuple[str, str | bytes]] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        form: dict[str, str] | None = None,
        auth: str | None = "oauth1",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = self.emu.url + path + (f"?{urlencode(query)}" if query else "")
        body: bytes | str | None = content
        sent = {"Content-Type": content_type} if content_type else {}
        if parts is not None:
            body, ctype = multipart(parts)
            sent = {"Content-Type": ctype}
        elif json_body is not None:
            body = json.dumps(json_body)
            sent = {"Content-Type": "application/json"}
        elif form is not None:
            body = urlencode(form)
            sent = {"Content-Type": "application/x-www-form-urlencoded"}
        if auth == "oauth1":
            self.signer.timestamp = str(int(self.fake.now))
            signed_body = body if form is not None else None
            _, sent, _ = self.signer.sign(
                url, http_method=method, body=signed_body, headers=sent
            )
            self.signer.timestamp = None
        elif auth == "bearer":
            assert self.token is not None
            sent = {**sent, "Authorization": f"Bearer {self.token}"}
        return await self.http.request(
            method, url, content=body, headers={**sent, **(headers or {})}
        )

    async def upload(
        self, data: bytes | None = None, *, media_category: str = "tweet_image"
    ) -> dict[str, Any]:
        response = await self.send(
            parts=[("media_category", media_category), ("media", data or png())]
        )
        assert response.status_code == 200, response.text
        data_: dict[str, Any] = response.json()["data"]
        return data_

    async def initialize(self, **fields: Any) -> str:
        response = await self.send(path=INITIALIZE, json_body=fields)
        assert response.status_code == 200, response.text
        media_id: str = response.json()["data"]["id"]
        return media_id

    async def append(
        self, media_id: str, index: int | str, data: bytes, **options: Any
    ) -> httpx.Response:
        return await self.send(
            path=append_path(media_id),
            parts=[("segment_index", str(index)), ("media", data)],
            **options,
        )

    async def chunked(self, data: bytes, **fields: Any) -> httpx.Response:
        media_id = await self.initialize(total_bytes=len(data), **fields)
        appended = await self.append(media_id, 0, data)
        assert appended.status_code == 200, appended.text
        return await self.send(path=finalize_path(media_id), content=b"")

    async def status(self, media_id: str, **options: Any) -> httpx.Response:
        return await self.send(
            "GET", query={"command": "STATUS", "media_id": media_id}, **options
        )


@pytest.fixture
async def raw(emu: Emulator, fake: FakeTime) -> AsyncIterator[Raw]:
    async with httpx.AsyncClient() as http:
        yield Raw(emu, http, fake)


@pytest.fixture
def token(emu: Emulator, raw: Raw) -> IssuedToken:
    issued = emu.issue_token()
    raw.token = issued.access_token
    return issued


def problem(response: httpx.Response) -> dict[str, Any]:
    """
    The problem document of an error answer, after checking its media type.
    """
    assert response.headers["content-type"] == PROBLEM, response.text
    body: dict[str, Any] = response.json()
    return body


def invalid(response: httpx.Response) -> tuple[int, str, dict[str, list[str]] | None]:
    """
    The status, message and parameters of an invalid-request problem.
    """
    body = problem(response)
    assert body["type"] == INVALID
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    (error,) = body["errors"]
    return response.status_code, error["message"], error.get("parameters")


# The one-shot upload


@pytest.mark.parametrize("auth", ["oauth1", "bearer"])
async def test_one_shot_multipart_answers_in_a_data_wrapper(
    emu: Emulator, raw: Raw, token: IssuedToken, auth: str
) -> None:
    """
    Multipart media, category and comma-separated owners: 200, ``data`` with a string id.
    """
    image = png(5, 4)
    response = await raw.send(
        parts=[
            ("media_category", "dm_image"),
            ("additional_owners", "7, 8"),
            ("media", image),
        ],
        auth=auth,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"data"}
    data = body["data"]
    media_id = data["id"]
    assert data == {
        "id": media_id,
        "media_key": f"3_{media_id}",
        "size": len(image),
        "expires_after_secs": 86_400,
        "image": {"image_type": "image/png", "w": 5, "h": 4},
    }
    record = emu.get_media(media_id)
    assert (record.data, record.category, record.additional_owners, record.api) == (
        image,
        "dm_image",
        ("7", "8"),
        "2",
    )
    (logged,) = emu.requests
    assert (logged.api, logged.auth, logged.command, logged.media_id) == (
        "2",
        auth,
        "upload",
        int(media_id),
    )
    assert response.headers["x-rate-limit-limit"] == "500"


async def test_one_shot_json_takes_base64_media(emu: Emulator, raw: Raw) -> None:
    """
    A JSON body carries ``media`` as base64; the stored bytes are the decoded ones.
    """
    image = jpeg(300)
    response = await raw.send(
        json_body={
            "media": base64.b64encode(image).decode(),
            "media_category": "tweet_image",
            "additional_owners": "12",
        }
    )
    assert response.status_code == 200, response.text
    record = emu.get_media(response.json()["data"]["id"])
    assert (record.data, record.media_type, record.additional_owners) == (
        image,
        "image/jpeg",
        ("12",),
    )


async def test_one_shot_accepts_the_fields_spec_2_166_had(
    emu: Emulator, raw: Raw
) -> None:
    """
    ``media_type`` and ``shared`` left the one-shot schema in 2.167; they are still taken.
    """
    response = await raw.send(
        parts=[
            ("media_category", "dm_image"),
            ("media_type", "image/png"),
            ("shared", "true"),
            ("media", png()),
        ]
    )
    assert response.status_code == 200, response.text
    assert emu.get_media(response.json()["data"]["id"]).shared is True
    shared_json = await raw.send(
        json_body={
            "media": base64.b64encode(png()).decode(),
            "media_category": "tweet_image",
            "shared": False,
        }
    )
    assert shared_json.status_code == 200


@pytest.mark.parametrize(
    ("category", "data", "prefix"),
    [("tweet_video", mp4(3000), "7"), ("tweet_gif", gif(3, loop=True), "16")],
)
async def test_one_shot_video_and_gif_are_processed(
    emu: Emulator, raw: Raw, fake: FakeTime, *, category: str, data: bytes, prefix: str
) -> None:
    """
    Spec 2.167 lets the one-shot upload take GIF and video categories; they are processed.
    """
    answer = (
        await raw.send(parts=[("media_category", category), ("media", data)])
    ).json()
    media_id = answer["data"]["id"]
    assert answer["data"]["media_key"] == f"{prefix}_{media_id}"
    assert answer["data"]["processing_info"] == {
        "state": "pending",
        "check_after_secs": 1,
    }
    fake.now += 2
    done = (await raw.status(media_id)).json()["data"]
    assert done["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert done["video"] == {"video_type": "video/mp4"}


async def test_one_shot_subtitles_are_not_inspected(emu: Emulator, raw: Raw) -> None:
    """
    A subtitles file is stored as it is, without ``image`` or ``video``.
    """
    srt = b"1\n00:00:01,000 --> 00:00:02,000\nhi\n"
    data = await raw.upload(srt, media_category="subtitles")
    assert set(data) == {"id", "media_key", "size", "expires_after_secs"}
    assert emu.get_media(data["id"]).data == srt


async def test_one_shot_refusals(emu: Emulator, raw: Raw) -> None:
    """
    Missing, unknown and malformed fields are invalid-request problems naming the parameter.
    """
    still, animated = png(), gif(2)
    cases: list[tuple[dict[str, Any], str, dict[str, list[str]] | None]] = [
        (
            {"parts": [("media_category", "tweet_image")]},
            "The `media` field is required.",
            {"media": [""]},
        ),
        (
            {"parts": [("media", still)]},
            "The `media_category` field is required.",
            {"media_category": [""]},
        ),
        (
            {"parts": [("media_category", "amplify_video"), ("media", still)]},
            (
                "The `media_category` value [amplify_video] is not one of "
                "[tweet_image,tweet_video,tweet_gif,dm_image,dm_video,dm_gif,subtitles]."
            ),
            {"media_category": ["amplify_video"]},
        ),
        (
            {"parts": [("command", "INIT"), ("media", still)]},
            (
                "The field [command] is not one of "
                "[additional_owners,media,media_category,media_type,shared]."
            ),
            {"command": [""]},
        ),
        (
            {
                "parts": [
                    ("media_category", "tweet_image"),
                    ("additional_owners", "1,x"),
                    ("media", still),
                ]
            },
            "additional_owners parameter is invalid.",
            {"additional_owners": ["1,x"]},
        ),
        (
            {
                "json_body": {
                    "media": base64.b64encode(still).decode(),
                    "media_category": "tweet_image",
                    "additional_owners": ["1"],
                }
            },
            "The `additional_owners` field must be a comma-separated string of user ids.",
            {"additional_owners": ['["1"]']},
        ),
        (
            {"json_body": {"media": "A$A=", "media_category": "tweet_image"}},
            "The `media` field is not valid base64.",
            {"media": [""]},
        ),
        (
            {"json_body": {"media": 5, "media_category": "tweet_image"}},
            "The `media` field must be a base64 string.",
            {"media": [""]},
        ),
        (
            {"json_body": {"media_category": "tweet_image"}},
            "The `media` field is required.",
            {"media": [""]},
        ),
        (
            {
                "parts": [
                    ("media_category", "dm_image"),
                    ("shared", "maybe"),
                    ("media", still),
                ]
            },
            "The `shared` field must be a boolean.",
            {"shared": ["maybe"]},
        ),
        (
            {"parts": [("media_category", "tweet_image"), ("media", animated)]},
            "Invalid media: the image/gif bytes does not fit media_category tweet_image.",
            None,
        ),
        (
            {"parts": [("media_category", "tweet_gif"), ("media", still)]},
            "Invalid media: the image/png bytes does not fit media_category tweet_gif.",
            None,
        ),
        (
            {
                "parts": [
                    ("media_category", "tweet_image"),
                    ("media", b"BM" + bytes(99)),
                ]
            },
            "media type unrecognized.",
            None,
        ),
        (
            {
                "parts": [
                    ("media_category", "tweet_image"),
                    ("media", still),
                    ("media", still),
                ]
            },
            "Send one `media` part.",
            {"media": [""]},
        ),
        (
            {"content": b"{", "content_type": "application/json"},
            "Request body is not valid JSON.",
            None,
        ),
        ({"json_body": [1]}, "Request body is not valid JSON.", None),
        (
            {"form": {"media_category": "tweet_image"}},
            "The body must be multipart/form-data or JSON, not form.",
            None,
        ),
        (
            {"content": b"x", "content_type": "image/png"},
            "The body must be multipart/form-data or JSON, not image/png.",
            None,
        ),
        (
            {"content": b""},
            "The body must be multipart/form-data or JSON, not empty.",
            None,
        ),
    ]
    for request, message, parameters in cases:
        response = await raw.send(**request)
        assert invalid(response) == (400, message, parameters), request
    assert emu.media == {}


async def test_one_shot_size_limits_answer_an_empty_413(
    emu: Emulator, raw: Raw
) -> None:
    """
    An image over 5 MiB, or any one-shot media over 15 MiB, is refused with an empty 413.
    """
    big_image = png(pad=5 * MIB)
    huge_gif = gif(2) + bytes(15 * MIB)
    for category, data in [("tweet_image", big_image), ("tweet_gif", huge_gif)]:
        response = await raw.send(parts=[("media_category", category), ("media", data)])
        assert (response.status_code, response.content) == (413, b"")
    too_long_json = await raw.send(
        content=b'{"media": "' + b"A" * (21 * MIB) + b'"}',
        content_type="application/json",
    )
    assert (too_long_json.status_code, too_long_json.content) == (413, b"")
    assert emu.media == {}


async def test_malformed_bodies_are_invalid_requests(emu: Emulator, raw: Raw) -> None:
    """
    A broken multipart body or an oversized JSON declaration is refused in v2's shapes.
    """
    broken = await raw.send(
        content=b"no boundary here",
        content_type="multipart/form-data; boundary=xyz",
        auth=None,
    )
    assert invalid(broken) == (
        400,
        "The multipart body ended before its boundary.",
        None,
    )
    assert emu.requests[-1].command == "upload"
    huge = await raw.send(
        path=INITIALIZE, content=b" " * (64 * 1024 + 1), content_type="application/json"
    )
    assert (huge.status_code, huge.content) == (413, b"")


# The chunked upload: initialize, append, finalize


async def test_chunked_upload_in_v2_shapes(emu: Emulator, raw: Raw) -> None:
    """
    initialize (JSON), append (multipart, by path) and finalize (no body) answer 200 with ``data``.
    """
    data = mp4(3 * 1000)
    init = await raw.send(
        path=INITIALIZE,
        json_body={
            "total_bytes": len(data),
            "media_type": "video/mp4",
            "media_category": "amplify_video",
            "additional_owners": ["5", "6"],
            "shared": True,
        },
    )
    assert init.status_code == 200
    created = init.json()["data"]
    media_id = created["id"]
    assert created == {
        "id": media_id,
        "media_key": f"13_{media_id}",
        "expires_after_secs": 86_400,
    }
    for index in (2, 0, 1):
        piece = data[index * 1000 : (index + 1) * 1000]
        appended = await raw.append(media_id, index, piece)
        assert appended.json() == {
            "data": {"expires_at": math.floor(raw.fake.now + 86_400)}
        }
    finalized = await raw.send(path=finalize_path(media_id), content=b"")
    assert finalized.status_code == 200
    assert finalized.json()["data"] == {
        "id": media_id,
        "media_key": f"13_{media_id}",
        "size": len(data),
        "expires_after_secs": 86_400,
        "processing_info": {"state": "pending", "check_after_secs": 1},
    }
    record = emu.get_media(media_id)
    assert (record.data, record.additional_owners, record.shared, record.api) == (
        data,
        ("5", "6"),
        True,
        "2",
    )
    assert [(r.command, r.media_id, r.segment_index) for r in emu.requests] == [
        ("INIT", int(media_id), None),
        ("APPEND", int(media_id), 2),
        ("APPEND", int(media_id), 0),
        ("APPEND", int(media_id), 1),
        ("FINALIZE", int(media_id), None),
    ]
    assert init.headers["x-rate-limit-limit"] == "1875"


async def test_append_takes_json_with_base64_media(raw: Raw) -> None:
    """
    An append may be JSON: base64 ``media`` and an integer ``segment_index``.
    """
    data = mp4(2000)
    with Emulator(
        keep_bytes=False, clock=raw.fake.clock, credentials=raw.emu.credentials
    ) as emu:
        raw.emu = emu
        media_id = await raw.initialize(total_bytes=len(data), media_type="video/mp4")
        for index, piece in enumerate([data[:1000], data[1000:]]):
            response = await raw.send(
                path=append_path(media_id),
                json_body={
                    "media": base64.b64encode(piece).decode(),
                    "segment_index": index,
                },
            )
            assert response.status_code == 200, response.text
        await raw.send(path=finalize_path(media_id), content=b"")
        record = emu.get_media(media_id)
    assert (record.data, record.size, record.sha256) == (
        None,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


async def test_initialize_refusals(emu: Emulator, raw: Raw) -> None:
    """
    initialize checks its JSON against the spec: types, enums, ranges, unknown fields.
    """
    ok = {"total_bytes": 10, "media_type": "video/mp4"}
    cases: list[tuple[Any, str, dict[str, list[str]] | None]] = [
        (
            {"media_type": "video/mp4"},
            "The `total_bytes` field is required.",
            {"total_bytes": [""]},
        ),
        (
            {**ok, "total_bytes": "10"},
            "The `total_bytes` field must be an integer.",
            {"total_bytes": ["10"]},
        ),
        (
            {**ok, "total_bytes": -1},
            "The `total_bytes` value [-1] is not between 0 and 17179869184.",
            {"total_bytes": ["-1"]},
        ),
        (
            {**ok, "total_bytes": 2**34 + 1},
            "The `total_bytes` value [17179869185] is not between 0 and 17179869184.",
            {"total_bytes": ["17179869185"]},
        ),
        (
            {"total_bytes": 10},
            "The `media_type` field is required.",
            {"media_type": [""]},
        ),
        (
            {**ok, "media_type": "video/avi"},
            (
                "The `media_type` value [video/avi] is not one of [video/mp4,video/webm,"
                "video/mp2t,video/quicktime,text/srt,text/vtt,image/jpeg,image/gif,"
                "image/bmp,image/png,image/webp,image/pjpeg,image/tiff,model/gltf-binary,"
                "model/vnd.usdz+zip]."
            ),
            {"media_type": ["video/avi"]},
        ),
        (
            {**ok, "media_category": "tweet_film"},
            (
                "The `media_category` value [tweet_film] is not one of [amplify_video,"
                "tweet_gif,tweet_image,tweet_video,dm_gif,dm_image,dm_video,subtitles]."
            ),
            {"media_category": ["tweet_film"]},
        ),
        (
            {**ok, "media_type": "model/gltf-binary"},
            (
                "The emulator cannot check model/gltf-binary media; use JPEG, PNG, GIF, WEBP, BMP, "
                "TIFF, MP4, MOV, WebM or MPEG-TS (or text/srt, text/vtt with "
                "media_category subtitles)."
            ),
            {"media_type": ["model/gltf-binary"]},
        ),
        (
            {**ok, "media_type": "text/srt"},
            (
                "The emulator cannot check text/srt media; use JPEG, PNG, GIF, WEBP, BMP, "
                "TIFF, MP4, MOV, WebM or MPEG-TS (or text/srt, text/vtt with "
                "media_category subtitles)."
            ),
            {"media_type": ["text/srt"]},
        ),
        (
            {**ok, "additional_owners": "1,2"},
            "The `additional_owners` field must be a list of user id strings.",
            {"additional_owners": ["1,2"]},
        ),
        (
            {**ok, "additional_owners": [1]},
            "The `additional_owners` field must be a list of user id strings.",
            {"additional_owners": ["[1]"]},
        ),
        (
            {**ok, "additional_owners": ["1"] * 101},
            "additional_owners parameter is invalid.",
            {"additional_owners": [",".join(["1"] * 101)]},
        ),
        (
            {**ok, "shared": "yes"},
            "The `shared` field must be a boolean.",
            {"shared": ["yes"]},
        ),
        (
            {**ok, "command": "INIT"},
            (
                "The field [command] is not one of [additional_owners,media_category,"
                "media_type,shared,total_bytes]."
            ),
            {"command": [""]},
        ),
        (
            {**ok, "media_type": "image/png", "media_category": "tweet_gif"},
            "Invalid media: media_type image/png does not fit media_category tweet_gif.",
            None,
        ),
        (
            {**ok, "total_bytes": 15 * MIB + 1, "media_type": "image/gif"},
            f"File size exceeds {15 * MIB} bytes.",
            {"total_bytes": [str(15 * MIB + 1)]},
        ),
        ([ok], "Request body is not valid JSON.", None),
    ]
    for body, message, parameters in cases:
        response = await raw.send(path=INITIALIZE, json_body=body)
        assert invalid(response) == (400, message, parameters), body
    multipart_init = await raw.send(path=INITIALIZE, parts=[("total_bytes", "10")])
    assert invalid(multipart_init)[1] == "The body must be JSON, not multipart."
    assert emu.media == {}


async def test_initialize_without_a_category_assumes_one_for_posts(
    emu: Emulator, raw: Raw
) -> None:
    """
    Without ``media_category``, the kind follows ``media_type``; GIFs and videos are still processed.
    """
    answer = await raw.chunked(gif(3, loop=True), media_type="image/gif")
    data = answer.json()["data"]
    assert data["media_key"] == f"16_{data['id']}"
    assert data["processing_info"]["state"] == "pending"
    assert emu.get_media(data["id"]).category is None
    jpeg_answer = await raw.chunked(jpeg(500), media_type="image/pjpeg")
    assert jpeg_answer.json()["data"]["image"]["image_type"] == "image/jpeg"
    subtitles = await raw.chunked(
        b"WEBVTT\n", media_type="text/vtt", media_category="subtitles"
    )
    assert "image" not in subtitles.json()["data"]


async def test_append_refusals(emu: Emulator, raw: Raw) -> None:
    """
    Path id, segment index, media, size and unknown fields are checked; finalized media takes no more.
    """
    media_id = await raw.initialize(total_bytes=100, media_type="video/mp4")
    cases: list[tuple[str, dict[str, Any], str, dict[str, list[str]] | None]] = [
        (
            "abc",
            {"parts": [("segment_index", "0"), ("media", b"x")]},
            "The `id` value [abc] does not match ^[0-9]{1,19}$.",
            {"id": ["abc"]},
        ),
        (
            "123",
            {"parts": [("segment_index", "0"), ("media", b"x")]},
            "Media id 123 not found.",
            {"id": ["123"]},
        ),
        (
            media_id,
            {"parts": [("media", b"x")]},
            "The `segment_index` field is required.",
            {"segment_index": [""]},
        ),
        (
            media_id,
            {"parts": [("segment_index", "x"), ("media", b"x")]},
            "The `segment_index` field must be an integer.",
            {"segment_index": ["x"]},
        ),
        (
            media_id,
            {"parts": [("segment_index", "1000"), ("media", b"x")]},
            "SegmentIndex must be between 0 and 999.",
            {"segment_index": ["1000"]},
        ),
        (
            media_id,
            {"parts": [("segment_index", "0")]},
            "The `media` field is required.",
            {"media": [""]},
        ),
        (
            media_id,
            {"parts": [("segment_index", "0"), ("media", bytes(5 * MIB + 1))]},
            f"Segment size exceeds {5 * MIB} bytes.",
            {"media": ["null"]},
        ),
        (
            media_id,
            {
                "parts": [
                    ("segment_index", "0"),
                    ("media_id", media_id),
                    ("media", b"x"),
                ]
            },
            "The field [media_id] is not one of [media,segment_index].",
            {"media_id": [""]},
        ),
        (
            media_id,
            {"parts": [("segment_index", "0"), ("media", b"x"), ("media", b"y")]},
            "Send one `media` part.",
            {"media": [""]},
        ),
        (
            media_id,
            {"json_body": {"segment_index": True, "media": "AAAA"}},
            "The `segment_index` field must be an integer.",
            {"segment_index": ["true"]},
        ),
        (
            media_id,
            {"json_body": {"segment_index": -1, "media": "AAAA"}},
            "SegmentIndex must be between 0 and 999.",
            {"segment_index": ["-1"]},
        ),
        (
            media_id,
            {"json_body": {"segment_index": 0}},
            "The `media` field is required.",
            {"media": [""]},
        ),
        (
            media_id,
            {"json_body": {"segment_index": 0, "media": "A"}},
            "The `media` field is not valid base64.",
            {"media": [""]},
        ),
        (
            media_id,
            {"json_body": {"segment_index": 0, "media": "AAAA", "x": 1}},
            "The field [x] is not one of [media,segment_index].",
            {"x": [""]},
        ),
        (media_id, {"json_body": "AAAA"}, "Request body is not valid JSON.", None),
        (
            media_id,
            {"form": {"segment_index": "0"}},
            "The body must be multipart/form-data or JSON, not form.",
            None,
        ),
    ]
    for path_id, request, message, parameters in cases:
        response = await raw.send(path=append_path(path_id), **request)
        assert invalid(response) == (400, message, parameters), request
    string_index = await raw.send(
        path=append_path(media_id),
        json_body={"segment_index": "0", "media": base64.b64encode(mp4(100)).decode()},
    )
    assert string_index.status_code == 200
    await raw.send(path=finalize_path(media_id), content=b"")
    late = await raw.append(media_id, 1, b"x")
    assert invalid(late)[1] == f"Media id {media_id} is already finalized."


async def test_finalize_checks_the_bytes(emu: Emulator, raw: Raw) -> None:
    """
    finalize refuses missing bytes and bytes that are no media or not the declared kind.
    """
    short = await raw.initialize(total_bytes=100, media_type="video/mp4")
    await raw.append(short, 0, mp4(50))
    answer = await raw.send(path=finalize_path(short), content=b"")
    assert invalid(answer) == (
        400,
        "Segments do not add up to provided total file size.",
        None,
    )
    garbage = await raw.chunked(bytes(50), media_type="video/mp4")
    assert invalid(garbage)[1] == "media type unrecognized."
    mismatch = await raw.chunked(png(), media_type="video/mp4")
    assert invalid(mismatch)[1] == (
        "Invalid media: the image/png bytes does not fit media_type video/mp4."
    )
    unknown = await raw.send(path=finalize_path("99"), content=b"")
    assert invalid(unknown) == (400, "Media id 99 not found.", {"id": ["99"]})
    image = await raw.chunked(
        png(3, 2), media_type="image/png", media_category="tweet_image"
    )
    data = image.json()["data"]
    assert data["image"] == {"image_type": "image/png", "w": 3, "h": 2}
    assert "processing_info" not in data
    again = await raw.send(path=finalize_path(data["id"]), content=b"ignored")
    assert again.json()["data"] == data


# STATUS and metadata


async def test_status_query_and_refusals(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    STATUS needs ``media_id``; ``command`` is optional and must be STATUS; nothing else is taken.
    """
    media_id = (await raw.upload())["id"]
    with_command = await raw.status(media_id)
    without = await raw.send("GET", query={"media_id": media_id})
    assert with_command.json() == without.json()
    assert with_command.json()["data"]["image"]["w"] == 2
    assert with_command.headers["x-rate-limit-limit"] == "1000"
    cases: list[tuple[dict[str, str], str, dict[str, list[str]]]] = [
        (
            {"command": "INIT", "media_id": media_id},
            "The `command` value [INIT] is not one of [STATUS].",
            {"command": ["INIT"]},
        ),
        (
            {"command": "STATUS"},
            "The `media_id` query parameter is required.",
            {"media_id": [""]},
        ),
        (
            {"media_id": media_id, "expansions": "x"},
            "The query parameter [expansions] is not one of [media_id,command].",
            {"expansions": ["x"]},
        ),
        (
            {"media_id": "12a"},
            "The `media_id` value [12a] does not match ^[0-9]{1,19}$.",
            {"media_id": ["12a"]},
        ),
        ({"media_id": "1"}, "Media id 1 not found.", {"media_id": ["1"]}),
    ]
    for query, message, parameters in cases:
        response = await raw.send("GET", query=query)
        assert invalid(response) == (400, message, parameters), query
    fake.now += 86_400
    assert invalid(await raw.status(media_id))[1] == f"Media id {media_id} not found."


async def test_metadata_sets_alt_text_and_answers_data(emu: Emulator, raw: Raw) -> None:
    """
    ``{"id", "metadata": {"alt_text": {"text"}}}`` stores the text; the answer echoes it.
    """
    media_id = (await raw.upload())["id"]
    sent = {
        "alt_text": {"text": "é" * 1000},
        "allow_download_status": {"allow_download": True},
    }
    response = await raw.send(
        path=METADATA, json_body={"id": media_id, "metadata": sent}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"id": media_id, "associated_metadata": sent}}
    assert emu.get_media(media_id).alt_text == "é" * 1000
    assert emu.requests[-1].media_id == int(media_id)
    assert response.headers["x-rate-limit-limit"] == "500"
    bare = await raw.send(path=METADATA, json_body={"id": media_id})
    assert bare.json() == {"data": {"id": media_id, "associated_metadata": {}}}


async def test_metadata_refusals(emu: Emulator, raw: Raw) -> None:
    """
    The id must be a known id string; the text at most 1000 characters, on a finalized image or GIF.
    """
    image = (await raw.upload())["id"]
    video = await raw.initialize(total_bytes=100, media_type="video/mp4")
    text = {"alt_text": {"text": "x"}}
    cases: list[tuple[Any, str, dict[str, list[str]] | None]] = [
        ({"metadata": text}, "The `id` field is required.", {"id": [""]}),
        (
            {"id": int(image), "metadata": text},
            f"The `id` value [{image}] does not match ^[0-9]{{1,19}}$.",
            {"id": [image]},
        ),
        ({"id": "1", "metadata": text}, "Media id 1 not found.", {"id": ["1"]}),
        (
            {"id": image, "media_id": image},
            "The field [media_id] is not one of [id,metadata].",
            {"media_id": [""]},
        ),
        (
            {"id": image, "metadata": []},
            "The `metadata` field must be an object.",
            {"metadata": ["[]"]},
        ),
        (
            {"id": image, "metadata": {"alt_text": "x"}},
            "The `metadata.alt_text.text` field is required.",
            {"metadata.alt_text.text": [""]},
        ),
        (
            {"id": image, "metadata": {"alt_text": {"text": "x" * 1001}}},
            "alt_text.text is longer than 1000 characters.",
            {"alt_text.text": ["x" * 1001]},
        ),
        ({"id": video, "metadata": text}, f"Media id {video} is not finalized.", None),
        ("x", "Request body is not valid JSON.", None),
    ]
    for body, message, parameters in cases:
        response = await raw.send(path=METADATA, json_body=body)
        assert invalid(response) == (400, message, parameters), body
    await raw.append(video, 0, mp4(100))
    await raw.send(path=finalize_path(video), content=b"")
    on_video = await raw.send(path=METADATA, json_body={"id": video, "metadata": text})
    assert invalid(on_video)[1] == "Alt text applies to images and GIFs only."
    form = await raw.send(path=METADATA, form={"id": image})
    assert invalid(form)[1] == "The body must be JSON, not form."


# Authentication


async def test_bearer_tokens_expire_by_the_emulators_clock(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    A bearer token works until its expiry on the emulator's clock, then gets 401.
    """
    issued = emu.issue_token(expires_in=60, refresh=False)
    raw.token = issued.access_token
    assert issued.expires_at == fake.now + 60
    ok = await raw.send(
        parts=[("media_category", "tweet_image"), ("media", png())], auth="bearer"
    )
    assert ok.status_code == 200
    fake.now += 60
    expired = await raw.send(
        parts=[("media_category", "tweet_image"), ("media", png())], auth="bearer"
    )
    assert (expired.status_code, problem(expired)) == (401, UNAUTHORIZED)
    assert emu.requests[-1].note == "bearer token expired"
    assert emu.stats.rejected_401 == 1
    assert "x-rate-limit-limit" not in expired.headers


async def test_a_token_without_media_write_gets_403(emu: Emulator, raw: Raw) -> None:
    """
    A token without the ``media.write`` scope is refused with a 403 problem naming the scope.
    """
    raw.token = emu.issue_token(["tweet.read", "users.read"]).access_token
    response = await raw.send("GET", query={"media_id": "1"}, auth="bearer")
    assert response.status_code == 403
    body = problem(response)
    assert body["title"] == "Forbidden"
    assert body["type"] == "about:blank"
    assert body["status"] == 403
    assert "media.write" in body["detail"]
    assert emu.requests[-1].note == "bearer token lacks the media.write scope"


@pytest.mark.parametrize(
    ("headers", "note"),
    [
        ({}, "no OAuth Authorization header"),
        ({"Authorization": "Bearer nope"}, "unknown bearer token"),
        ({"Authorization": "Basic eDp5"}, "no OAuth Authorization header"),
    ],
)
async def test_v2_refusals_of_credentials_are_401_problems(
    emu: Emulator, raw: Raw, headers: dict[str, str], note: str
) -> None:
    """
    No credentials, an unknown token or another scheme: 401 ``about:blank``.
    """
    response = await raw.send(
        "GET", query={"media_id": "1"}, auth=None, headers=headers
    )
    assert (response.status_code, problem(response)) == (401, UNAUTHORIZED)
    assert emu.requests[-1].note == note


async def test_a_bad_oauth1_signature_on_v2_is_a_401_problem(
    emu: Emulator, raw: Raw
) -> None:
    """
    OAuth 1.0a is checked on v2 paths exactly as on v1.1, and refused in v2's shape.
    """
    raw.signer.client_secret = "wrong"
    response = await raw.send("GET", query={"media_id": "1"})
    assert (response.status_code, problem(response)) == (401, UNAUTHORIZED)
    assert emu.requests[-1].note == "signature mismatch"


async def test_unknown_v2_paths_and_methods_are_404(emu: Emulator, raw: Raw) -> None:
    """
    Paths and methods the service does not serve answer 404 code 34, as on v1.1.
    """
    for method, path in [
        ("GET", "/2/media/nothing"),
        ("GET", INITIALIZE),
        ("PUT", UPLOAD),
        ("GET", finalize_path("1")),
    ]:
        response = await raw.send(method, path, auth=None)
        assert response.status_code == 404
        assert response.json() == {
            "errors": [{"code": 34, "message": "Sorry, that page does not exist."}]
        }
        assert emu.requests[-1].api == "2"


async def test_bearer_tokens_are_refused_on_v1_1(
    emu: Emulator, raw: Raw, token: IssuedToken
) -> None:
    """
    OAuth 2.0 works with v2 only: a valid token on a v1.1 path gets 401 code 32.
    """
    response = await raw.send(
        "GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"}, auth="bearer"
    )
    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"code": 32, "message": "Could not authenticate you."}]
    }
    assert emu.requests[-1].note == (
        "bearer token on a v1.1 path (OAuth 2.0 works on /2 paths only)"
    )
    assert emu.requests[-1].api == "1.1"


# The token endpoint


async def refresh(
    raw: Raw, issued: IssuedToken, *, basic: bool = False, **form: str
) -> httpx.Response:
    fields = {
        "grant_type": "refresh_token",
        "refresh_token": issued.refresh_token or "",
    }
    headers = {}
    if basic:
        assert issued.client_secret is not None
        pair = f"{issued.client_id}:{issued.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        fields["client_id"] = issued.client_id
    return await raw.send(
        path=TOKEN, form={**fields, **form}, auth=None, headers=headers
    )


async def test_refresh_rotates_the_refresh_token(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    A public client refreshes with ``client_id``; the new token works, the old refresh token not.
    """
    issued = emu.issue_token(["media.write"], expires_in=100)
    assert issued.scopes == ("media.write", "offline.access")
    fake.now += 100
    answer = await refresh(raw, issued)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {
        "token_type",
        "expires_in",
        "access_token",
        "scope",
        "refresh_token",
    }
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "bearer",
        100,
        "media.write offline.access",
    )
    assert body["refresh_token"] != issued.refresh_token
    raw.token = body["access_token"]
    works = await raw.send(
        parts=[("media_category", "tweet_image"), ("media", png())], auth="bearer"
    )
    assert works.status_code == 200
    again = await refresh(raw, issued)
    assert (again.status_code, again.json()) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
    )
    assert emu.stats.token_requests == 2
    assert [(r.command, r.status, r.api) for r in emu.requests] == [
        ("token", 200, "2"),
        ("upload", 200, "2"),
        ("token", 400, "2"),
    ]
    assert emu.requests[-1].note == "unknown or used refresh token"


async def test_a_confidential_client_refreshes_with_basic_auth(
    emu: Emulator, raw: Raw
) -> None:
    """
    A confidential client authenticates with HTTP Basic; without it the token stays unused.
    """
    issued = emu.issue_token(confidential=True)
    assert issued.client_secret is not None
    refused = await refresh(raw, issued)
    assert (refused.status_code, refused.json()["error"]) == (
        401,
        "unauthorized_client",
    )
    accepted = await refresh(raw, issued, basic=True)
    assert accepted.status_code == 200, accepted.text
    wrong = BearerToken(
        "x", refresh_token="y", client_id=issued.client_id, client_secret="no"
    )
    pair = f"{wrong.client_id}:{wrong.client_secret}".encode()
    bad_secret = await raw.send(
        path=TOKEN,
        form={
            "grant_type": "refresh_token",
            "refresh_token": accepted.json()["refresh_token"],
        },
        auth=None,
        headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
    )
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (
        401,
        "unauthorized_client",
    )
    not_base64 = await raw.send(
        path=TOKEN,
        form={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=None,
        headers={"Authorization": "Basic %%%"},
    )
    assert not_base64.status_code == 401
    public = emu.issue_token()
    with_secret = await refresh(raw, public, basic=False)
    assert with_secret.status_code == 200
    assert emu.stats.token_requests == 5


@pytest.mark.parametrize(
    ("form", "status", "error", "note"),
    [
        ({}, 400, "invalid_request", "no grant_type"),
        (
            {"grant_type": "authorization_code"},
            400,
            "unsupported_grant_type",
            "grant_type authorization_code",
        ),
        ({"grant_type": "refresh_token"}, 400, "invalid_request", "no client_id"),
        (
            {"grant_type": "refresh_token", "client_id": "other"},
            401,
            "invalid_client",
            "unknown client_id",
        ),
        (
            {"grant_type": "refresh_token", "client_id": None},
            400,
            "invalid_request",
            "no refresh_token",
        ),
    ],
)
async def test_token_request_refusals(
    emu: Emulator,
    raw: Raw,
    *,
    form: dict[str, str | None],
    status: int,
    error: str,
    note: str,
) -> None:
    """
    The token endpoint answers OAuth 2.0 error objects (``error``, ``error_description``).
    """
    issued = emu.issue_token()
    fields = {k: issued.client_id if v is None else v for k, v in form.items()}
    response = await raw.send(path=TOKEN, form=fields, auth=None)
    assert response.status_code == status
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error
    assert emu.requests[-1].note == note


async def test_token_requests_must_be_forms(emu: Emulator, raw: Raw) -> None:
    """
    JSON or oversized bodies are refused; injected faults can target token requests.
    """
    as_json = await raw.send(
        path=TOKEN, json_body={"grant_type": "refresh_token"}, auth=None
    )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    huge = await raw.send(
        path=TOKEN,
        content=b"a=" + b"b" * (8 * MIB),
        content_type="application/x-www-form-urlencoded",
        auth=None,
    )
    assert huge.status_code == 413
    broken = await raw.send(
        path=TOKEN,
        content=b"%FF=1",
        content_type="application/x-www-form-urlencoded",
        auth=None,
    )
    assert (broken.status_code, broken.json()) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "The form body is not UTF-8.",
        },
    )
    emu.fail_next(status=503, command="token")
    failed = await refresh(raw, emu.issue_token())
    assert (failed.status_code, problem(failed)["title"]) == (
        503,
        "Service Unavailable",
    )
    assert emu.stats.token_requests == 4


def test_issued_tokens_hide_their_secrets_and_convert() -> None:
    """
    An issued token's repr shows no secret; bearer_token() carries what a refresh needs.
    """
    store = TokenStore(lambda: 1000.0)
    issued = store.issue(
        scopes=["media.write"], expires_in=50, refresh=True, confidential=True
    )
    text = repr(issued)
    for secret in (issued.access_token, issued.refresh_token, issued.client_secret):
        assert secret is not None
        assert secret not in text
    bearer = issued.bearer_token()
    assert (
        bearer.token,
        bearer.refresh_token,
        bearer.client_id,
        bearer.client_secret,
    ) == (
        issued.access_token,
        issued.refresh_token,
        issued.client_id,
        issued.client_secret,
    )
    assert bearer.expires_at is not None
    assert bearer.expires_at.timestamp() == 1050.0
    plain = store.issue(
        scopes=["media.write"], expires_in=5, refresh=False, confidential=False
    )
    assert plain.refresh_token is None
    assert plain.bearer_token().client_id is None
    assert store.check(plain.access_token, "tweet.write") == (
        "403 bearer token lacks the tweet.write scope"
    )


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scopes": "media.write"}, TypeError, "not one string"),
        ({"scopes": ["media write"]}, ValueError, "non-empty word"),
        ({"scopes": [""]}, ValueError, "non-empty word"),
        ({"expires_in": -1}, ValueError, "expires_in must be >= 0"),
        ({"expires_in": 1.5}, TypeError, "expires_in must be an int"),
        ({"expires_in": True}, TypeError, "expires_in must be an int"),
    ],
)
def test_issue_token_checks_its_arguments(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Emulator().issue_token(**options)


# Rate limits


async def test_v2_windows_follow_the_2026_figures(emu: Emulator, raw: Raw) -> None:
    """
    Each v2 endpoint reports its own 15-minute window, apart from v1.1's.
    """
    expected = {
        "upload": 500,
        "INIT": 1875,
        "APPEND": 1875,
        "FINALIZE": 1875,
        "STATUS": 1000,
        "metadata": 500,
    }
    for key, limit in expected.items():
        assert emu.rate_limit(key, api="2")["limit"] == limit
    assert emu.rate_limit("upload")["limit"] == 415
    data = mp4(100)
    media_id = await raw.initialize(total_bytes=len(data), media_type="video/mp4")
    appended = await raw.append(media_id, 0, data)
    finalized = await raw.send(path=finalize_path(media_id), content=b"")
    for response in (appended, finalized):
        assert response.headers["x-rate-limit-limit"] == "1875"
        assert response.headers["x-rate-limit-remaining"] == "1874"
    assert emu.rate_limit("INIT", api="2")["remaining"] == 1874
    assert emu.rate_limit("INIT")["remaining"] == 200


async def test_an_exhausted_v2_window_answers_a_429_problem(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    Past the limit: 429 ``Too Many Requests`` with the window's headers; v1.1's window is apart.
    """
    emu.set_rate_limit("STATUS", limit=1, window=60, api="2")
    assert emu.rate_limit("STATUS")["limit"] == 1000
    media_id = (await raw.upload())["id"]
    first = await raw.status(media_id)
    second = await raw.status(media_id)
    assert first.status_code == 200
    assert second.status_code == 429
    assert problem(second) == {
        "title": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
        "detail": "Too Many Requests",
    }
    assert second.headers["x-rate-limit-remaining"] == "0"
    assert second.headers["x-rate-limit-reset"] == str(math.ceil(fake.now + 60))
    assert emu.stats.rejected_429 == 1
    emu.set_rate_limit("metadata", limit=3)
    assert emu.rate_limit("metadata", api="2")["limit"] == 3
    assert emu.rate_limit("metadata", api="1.1")["limit"] == 3


async def test_v2_answers_carry_24_hour_windows_when_set(
    emu: Emulator, raw: Raw
) -> None:
    """
    With 24-hour windows set for v2 (X's per-app figures), v2 answers report them too.
    """
    emu.set_rate_limit("upload", limit=500, app_day_limit=50_000, day_limit=7, api="2")
    response = await raw.send(
        parts=[("media_category", "tweet_image"), ("media", png())]
    )
    assert response.status_code == 200
    assert response.headers["x-rate-limit-remaining"] == "499"
    assert response.headers["x-app-limit-24hour-limit"] == "50000"
    assert response.headers["x-app-limit-24hour-remaining"] == "49999"
    assert response.headers["x-user-limit-24hour-remaining"] == "6"
    assert "app_24hour_limit" not in emu.rate_limit("upload")


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.set_rate_limit("upload", limit=1, api="3"),
        lambda e: e.rate_limit("upload", api=None),
        lambda e: e.fail_next(api="v2"),
        lambda e: e.drop_next(api="1"),
    ],
)
def test_api_versions_are_checked(call: Any) -> None:
    with pytest.raises(ValueError, match="api"):
        call(Emulator())


# Faults


async def test_injected_failures_speak_each_apis_language(
    emu: Emulator, raw: Raw
) -> None:
    """
    Without a body, a v2 request gets an ``about:blank`` problem, a v1.1 one the error list.
    """
    emu.fail_next(2, status=503)
    v2 = await raw.send("GET", query={"media_id": "1"})
    v1 = await raw.send("GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"})
    assert (v2.status_code, problem(v2)) == (
        503,
        {
            "title": "Service Unavailable",
            "type": "about:blank",
            "status": 503,
            "detail": "Service Unavailable",
        },
    )
    assert v1.json() == {"errors": [{"code": 130, "message": "Over capacity"}]}
    emu.fail_next(status=500, api="2", headers={"Content-Type": "text/plain"})
    skipped = await raw.send(
        "GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"}
    )
    hit = await raw.send("GET", query={"media_id": "1"})
    assert skipped.status_code == 400
    assert (hit.status_code, hit.headers["content-type"]) == (500, "text/plain")
    emu.drop_next(api="2", command="upload")
    with pytest.raises(httpx.TransportError):
        await raw.send(parts=[("media_category", "tweet_image"), ("media", png())])
    assert emu.requests[-1].note == "dropped"
    assert emu.requests[-1].api == "2"


async def test_usage_caps_answer_429_with_the_window_still_open(
    emu: Emulator, raw: Raw
) -> None:
    """
    cap_usage: 429 ``UsageCapExceeded`` on every media request until cleared, remaining still high.
    """
    emu.cap_usage()
    capped = [
        await raw.send(parts=[("media_category", "tweet_image"), ("media", png())]),
        await raw.send("GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"}),
    ]
    user_id = emu.credentials.access_token.partition("-")[0]
    for response in capped:
        assert response.status_code == 429
        assert problem(response) == {
            "account_id": user_id,
            "product_name": "standard-basic",
            "title": "UsageCapExceeded",
            "period": "Monthly",
            "scope": "Product",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.x.com/2/problems/usage-capped",
        }
    assert capped[0].headers["x-rate-limit-limit"] == "500"
    assert capped[0].headers["x-rate-limit-remaining"] == "500"
    assert capped[1].headers["x-rate-limit-remaining"] == "1000"
    token = await refresh(raw, emu.issue_token())
    assert token.status_code == 200
    emu.clear_faults()
    assert (await raw.upload())["id"]
    emu.cap_usage(1, period="Daily", scope="Account", api="2", command="STATUS")
    daily = await raw.send("GET", query={"media_id": "1"})
    assert problem(daily)["detail"] == "Usage cap exceeded: Daily account cap"
    assert (await raw.send("GET", query={"media_id": "1"})).status_code == 400
    assert emu.stats.injected_failures == 3


def test_usage_cap_settings_are_checked() -> None:
    emu = Emulator(credentials=None)
    with pytest.raises(ValueError, match="period must be one of Daily, Monthly"):
        emu.cap_usage(period="Weekly")
    with pytest.raises(ValueError, match="scope must be one of Account, Product"):
        emu.cap_usage(scope="App")
    with pytest.raises(ValueError, match="count must be"):
        emu.refuse_v1_1(0)


async def test_refuse_v1_1_answers_error_453(emu: Emulator, raw: Raw) -> None:
    """
    refuse_v1_1: v1.1 requests get 403 code 453 as for a v2-only access level; v2 ones pass.
    """
    emu.refuse_v1_1()
    v1 = await raw.send("GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"})
    assert v1.status_code == 403
    assert v1.headers["content-type"] == "application/json; charset=utf-8"
    assert v1.content == (
        b'{"errors":[{"message":"You currently have access to a subset of X API V2 '
        b"endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you "
        b"need access to this endpoint, you may need a different access level. You can "
        b'learn more here: https://developer.x.com/en/portal/product","code":453}]}'
    )
    assert (await raw.upload())["id"]
    again = await raw.send(
        "GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"}
    )
    assert again.status_code == 403
    emu.clear_faults()
    emu.refuse_v1_1(1, command="upload")
    status = await raw.send(
        "GET", V1_UPLOAD, query={"command": "STATUS", "media_id": "1"}
    )
    assert status.status_code == 400


# Media ids and processing


async def test_media_ids_do_not_survive_a_float(emu: Emulator, raw: Raw) -> None:
    """
    Ids are 64-bit snowflakes with random low bits: parsing one through a float changes it.
    """
    ids = [int((await raw.upload())["id"]) for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(2**53 < media_id < 2**63 for media_id in ids)
    assert all(int(float(media_id)) != media_id for media_id in ids)
    assert len({media_id & 0xFFF for media_id in ids}) > 1


def test_ids_stay_unique_and_small_clocks_work() -> None:
    """
    Ids never repeat, even from one millisecond; a clock at the epoch gives small ids.
    """
    state = EmulatorState(
        clock=lambda: 1_767_225_600.0, keep_bytes=True, media_ttl=10, log_size=10
    )
    ids = [state.new_id() for _ in range(1000)]
    assert ids == sorted(set(ids))
    assert all(int(float(media_id)) != media_id for media_id in ids)
    early = EmulatorState(clock=lambda: 0.0, keep_bytes=True, media_ttl=10, log_size=10)
    assert early.new_id() < 2**22


async def test_processing_moves_with_the_clock_not_with_polls(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    Early STATUS requests see the same state and are counted; waiting moves processing on.
    """
    emu.set_processing("succeed", steps=2, check_after_secs=5)
    finalized = await raw.chunked(
        mp4(500), media_type="video/mp4", media_category="tweet_video"
    )
    media_id = finalized.json()["data"]["id"]

    async def state() -> tuple[str, int | None, str | None]:
        info = (await raw.status(media_id)).json()["data"]["processing_info"]
        return info["state"], info.get("progress_percent"), emu.requests[-1].note

    early = "STATUS before check_after_secs"
    assert await state() == ("pending", None, early)
    assert await state() == ("pending", None, early)
    fake.now += 5
    assert await state() == ("in_progress", 33, None)
    fake.now += 4.995  # a hair early, by the client's clock: on time
    assert await state() == ("in_progress", 66, None)
    assert emu.get_media(media_id).processing_state == "in_progress"
    fake.now += 100  # a slow poller sees the end at once
    assert emu.get_media(media_id).processing_state == "succeeded"
    assert await state() == ("succeeded", 100, None)
    assert await state() == ("succeeded", 100, None)  # no wait asked for: never early
    assert emu.stats.early_status_polls == 2


async def test_zero_check_after_moves_one_step_per_status(
    emu: Emulator, raw: Raw
) -> None:
    """
    With ``check_after_secs=0`` there is no time to measure: each STATUS moves a step.
    """
    emu.set_processing("fail", steps=1, check_after_secs=0)
    finalized = await raw.chunked(
        mp4(500), media_type="video/mp4", media_category="tweet_video"
    )
    media_id = finalized.json()["data"]["id"]
    states = [
        (await raw.status(media_id)).json()["data"]["processing_info"]["state"]
        for _ in range(3)
    ]
    assert states == ["in_progress", "failed", "failed"]
    assert emu.stats.early_status_polls == 0


async def test_v1_1_processing_moves_with_the_clock_too(
    emu: Emulator, raw: Raw, fake: FakeTime
) -> None:
    """
    The same clock drives v1.1's STATUS: its FINALIZE answers pending until the wait passed.
    """
    image = await raw.send(
        "GET",
        V1_UPLOAD,
        query={"command": "STATUS", "media_id": (await raw.upload())["id"]},
    )
    assert "processing_info" not in image.json()
    emu.set_processing("pending_forever", check_after_secs=2)
    media_id = await raw.initialize(total_bytes=500, media_type="video/mp4")
    await raw.append(media_id, 0, mp4(500))
    await raw.send(path=finalize_path(media_id), content=b"")
    fake.now += 1
    early = await raw.send(
        "GET", V1_UPLOAD, query={"command": "STATUS", "media_id": media_id}
    )
    assert early.json()["processing_info"] == {
        "state": "pending",
        "check_after_secs": 2,
    }
    assert emu.requests[-1].note == "STATUS before check_after_secs"
    fake.now += 2
    await raw.send("GET", V1_UPLOAD, query={"command": "STATUS", "media_id": media_id})
    assert emu.requests[-1].note is None
    assert emu.stats.early_status_polls == 1
