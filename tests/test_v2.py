"""
The v2 media endpoints: paths, JSON bodies, both response shapes, bearer and OAuth 1.0a.
"""

from __future__ import annotations

import json

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from twupload import (
    AsyncMediaClient,
    AuthenticationError,
    BearerToken,
    InvalidMediaError,
)

from checks import multipart_fields, oauthlib_verifies
from fakes import FakeTime
from samples import mp4, png


if TYPE_CHECKING:
    import respx

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

API = "https://api.x.com/2/media"
MEDIA_ID = 1880028106020515840


def _image(**extra: Any) -> dict[str, Any]:
    return {
        "id": str(MEDIA_ID),
        "media_key": f"3_{MEDIA_ID}",
        "size": 73,
        "expires_after_secs": 86400,
        "image": {"image_type": "image/png", "w": 2, "h": 2},
        **extra,
    }


@pytest.mark.parametrize("wrapped", [True, False])
async def test_one_shot_upload_with_bearer_token(
    mock: respx.MockRouter, wrapped: bool
) -> None:
    """
    The one-shot upload posts multipart media with a category and reads both body shapes.
    """
    route = mock.post(f"{API}/upload").respond(
        200, json={"data": _image()} if wrapped else _image()
    )
    data = png()
    async with AsyncMediaClient(BearerToken("user-token"), api="2") as client:
        result = await client.upload(data, additional_owners=[5])
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer user-token"
    fields = multipart_fields(request.headers["content-type"], request.content)
    assert fields == {
        "media_category": b"tweet_image",
        "additional_owners": b"5",
        "media": data,
    }
    assert result.media_id == MEDIA_ID
    assert result.media_key == f"3_{MEDIA_ID}"
    assert result.image is not None


async def test_chunked_flow_paths_and_bodies(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    initialize (JSON), append (multipart per path), finalize (no body), STATUS, metadata.
    """
    init = mock.post(f"{API}/upload/initialize").respond(
        200,
        json={
            "data": {
                "id": str(MEDIA_ID),
                "media_key": f"7_{MEDIA_ID}",
                "expires_after_secs": 3600,
            }
        },
    )
    append = mock.post(f"{API}/upload/{MEDIA_ID}/append").respond(
        200, json={"data": {"expires_at": 1}}
    )
    finalize = mock.post(f"{API}/upload/{MEDIA_ID}/finalize").respond(
        200,
        json={
            "data": _image(processing_info={"state": "pending", "check_after_secs": 1})
        },
    )
    status = mock.get(f"{API}/upload").respond(
        200,
        json={
            "data": _image(
                processing_info={"state": "succeeded"},
                video={"video_type": "video/mp4"},
            )
        },
    )
    data = mp4(9 * 1024 * 1024)
    time = FakeTime()
    async with AsyncMediaClient(
        creds,
        api="2",
        clock=time.clock,
        sleep=time.sleep,
        segment_bytes=4 * 1024 * 1024,
    ) as client:
        result = await client.upload(data, additional_owners=["9"])
        await client.upload(mp4(1000))

    assert json.loads(init.calls[0].request.content) == {
        "total_bytes": len(data),
        "media_type": "video/mp4",
        "media_category": "tweet_video",
        "additional_owners": ["9"],
    }
    assert "additional_owners" not in json.loads(init.calls[1].request.content)
    parts = [
        multipart_fields(call.request.headers["content-type"], call.request.content)
        for call in append.calls[:3]
    ]
    assert [p["segment_index"] for p in parts] == [b"0", b"1", b"2"]
    assert b"".join(p["media"] for p in parts) == data
    assert finalize.calls.last.request.content == b""
    assert dict(status.calls.last.request.url.params) == {
        "command": "STATUS",
        "media_id": str(MEDIA_ID),
    }
    every = [*init.calls, *append.calls, *finalize.calls, *status.calls]
    assert all(oauthlib_verifies(call.request, creds) for call in every)
    assert result.video is not None
    assert result.processing is not None
    assert result.processing.state == "succeeded"


async def test_alt_text_uses_v2_metadata(mock: respx.MockRouter) -> None:
    """
    Alt text goes to /2/media/metadata with the v2 JSON shape.
    """
    meta = mock.post(f"{API}/metadata").respond(
        200, json={"data": {"id": str(MEDIA_ID)}}
    )
    async with AsyncMediaClient(
        BearerToken("t"), api="2", base_url="https://api.x.com/"
    ) as client:
        await client.set_alt_text(MEDIA_ID, "A dog")
    assert json.loads(meta.calls.last.request.content) == {
        "id": str(MEDIA_ID),
        "metadata": {"alt_text": {"text": "A dog"}},
    }


async def test_v2_refuses_base64_before_sending(mock: respx.MockRouter) -> None:
    """
    encoding="base64" is a v1.1 option and is refused for v2 before any request.
    """
    route = mock.route()
    with pytest.raises(InvalidMediaError, match=r"v1\.1 option"):
        async with AsyncMediaClient(BearerToken("t"), api="2") as client:
            await client.upload(png(), encoding="base64")
    assert not route.called


async def test_v2_error_body_maps_to_api_error(mock: respx.MockRouter) -> None:
    """
    A v2 403 problem document becomes an AuthenticationError (an APIError) with its detail.
    """
    mock.post(f"{API}/upload").mock(
        return_value=httpx.Response(
            403,
            json={
                "title": "Forbidden",
                "type": "about:blank",
                "status": 403,
                "detail": "Not permitted",
            },
        )
    )
    with pytest.raises(AuthenticationError, match="Not permitted") as info:
        async with AsyncMediaClient(BearerToken("t"), api="2") as client:
            await client.upload(png())
    assert type(info.value) is AuthenticationError
    assert info.value.status_code == 403
