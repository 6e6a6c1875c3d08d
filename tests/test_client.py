"""
AsyncMediaClient end to end against respx: what it sends, what it returns, what it refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import types

from typing import TYPE_CHECKING, Any

import httpx
import pytest

import twupload

from twupload import (
    APIError,
    AsyncMediaClient,
    BearerToken,
    ConfigurationError,
    InvalidMediaError,
    RateLimit,
    RateLimitError,
)

from checks import multipart_fields, oauthlib_verifies
from fakes import FakeTime
from samples import SECRETS, gif, mp4, png


if TYPE_CHECKING:
    from pathlib import Path

    import respx

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

BASE = "https://upload.twitter.com"
UPLOAD = f"{BASE}/1.1/media/upload.json"
METADATA = f"{BASE}/1.1/media/metadata/create.json"
IMAGE_BODY = {
    "media_id": 710511363345354753,
    "media_id_string": "710511363345354753",
    "media_key": "3_710511363345354753",
    "size": 73,
    "expires_after_secs": 86400,
    "image": {"image_type": "image/png", "w": 2, "h": 2},
}
LIMIT_HEADERS = {
    "x-rate-limit-limit": "415",
    "x-rate-limit-remaining": "414",
    "x-rate-limit-reset": "1767225600",
}


def test_public_names_match_all() -> None:
    """
    __all__ lists exactly the public names, each re-homed to the twupload module.
    """
    public = {
        name
        for name, value in vars(twupload).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(twupload.__all__) == public
    assert twupload.__all__ == sorted(twupload.__all__)
    assert repr(twupload.RateLimitError) == "<class 'twupload.RateLimitError'>"
    assert isinstance(twupload.__version__, str)
    with pytest.raises(AttributeError):
        twupload.nope  # type: ignore[attr-defined]  # noqa: B018


async def test_simple_upload_sends_signed_streamed_multipart(
    mock: respx.MockRouter, creds: OAuth1Credentials, tmp_path: Path
) -> None:
    """
    A path uploads as one signed multipart request with exact length and the right fields.
    """
    route = mock.post(UPLOAD).respond(200, json=IMAGE_BODY, headers=LIMIT_HEADERS)
    data = png()
    path = tmp_path / "cat.png"
    path.write_bytes(data)
    progress: list[tuple[int, int]] = []

    async with AsyncMediaClient(creds) as client:
        result = await client.upload(
            path,
            media_category="tweet_image",
            additional_owners=[12, "34"],
            on_progress=lambda sent, total: progress.append((sent, total)),
        )
        limits = client.rate_limits

    request = route.calls.last.request
    assert request.headers["content-length"] == str(len(request.content))
    assert "transfer-encoding" not in request.headers
    fields = multipart_fields(request.headers["content-type"], request.content)
    assert fields == {
        "media_category": b"tweet_image",
        "additional_owners": b"12,34",
        "media": data,
    }
    assert oauthlib_verifies(request, creds)
    assert progress[-1] == (len(data), len(data))
    assert result.media_id == 710511363345354753
    assert result.media_key == "3_710511363345354753"
    assert result.image is not None
    assert result.image.w == 2
    assert result.received_at.tzinfo is not None
    assert limits == {"upload": RateLimit.from_headers(LIMIT_HEADERS)}


async def test_base64_upload_uses_media_data(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    encoding="base64" sends the bytes as base64 text in media_data.
    """
    route = mock.post(UPLOAD).respond(200, json=IMAGE_BODY)
    data = png()
    async with AsyncMediaClient(creds) as client:
        await client.upload(data, encoding="base64")
    request = route.calls.last.request
    fields = multipart_fields(request.headers["content-type"], request.content)
    import base64  # noqa: PLC0415

    assert base64.b64decode(fields["media_data"]) == data
    assert "media" not in fields
    assert oauthlib_verifies(request, creds)


@pytest.mark.parametrize(
    ("source", "options", "match"),
    [
        (b"", {}, "empty"),
        (b"not an image", {}, "Unsupported"),
        (png(), {"media_type": "image/jpeg"}, "contradicts"),
        (png(), {"media_category": "bogus"}, "Unknown media_category"),
        (png(), {"additional_owners": ["@x"]}, "numeric"),
        (png(), {"additional_owners": list(range(1, 102))}, "at most 100"),
        (png(), {"alt_text": "x" * 1001}, "at most 1000"),
        (png(), {"encoding": "base64", "chunked": True}, "simple upload only"),
        (gif(3), {"chunked": False}, "only be uploaded in chunks"),
        (png(pad=5 * 1024 * 1024), {}, "still images up to"),
        (png(), {"resume": "state"}, "resume must be"),
        (png(), {"on_progress": 5}, "callable"),
        (mp4(), {"alt_text": "a video"}, "images and GIFs only"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    mock: respx.MockRouter,
    creds: OAuth1Credentials,
    source: bytes,
    options: dict[str, Any],
    match: str,
) -> None:
    """
    Invalid input raises InvalidMediaError and nothing reaches the network.
    """
    route = mock.route()
    with pytest.raises(InvalidMediaError, match=match):
        async with AsyncMediaClient(creds) as client:
            await client.upload(source, **options)
    assert not route.called


async def test_alt_text_goes_to_metadata_after_upload(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    alt_text is sent as unsigned JSON to metadata/create with the new media id.
    """
    mock.post(UPLOAD).respond(200, json=IMAGE_BODY)
    meta = mock.post(METADATA).respond(200)
    async with AsyncMediaClient(creds) as client:
        await client.upload(png(), alt_text="A cat on a mat")
    request = meta.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "media_id": "710511363345354753",
        "alt_text": {"text": "A cat on a mat"},
    }
    assert oauthlib_verifies(request, creds)


async def test_alt_text_failure_says_the_media_was_uploaded(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    If alt text fails after the upload, the error names the uploaded media id.
    """
    upload = mock.post(UPLOAD).respond(200, json=IMAGE_BODY)
    meta = mock.post(METADATA).respond(
        400, json={"errors": [{"code": 38, "message": "x"}]}
    )
    with pytest.raises(APIError, match="710511363345354753 was uploaded") as info:
        async with AsyncMediaClient(creds) as client:
            await client.upload(png(), alt_text="A cat")
    assert type(info.value) is APIError
    assert info.value.status_code == 400
    assert info.value.errors == ((38, "x"),)
    assert (upload.call_count, meta.call_count) == (1, 1)


async def test_status_and_set_alt_text(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    status() sends a signed STATUS query; set_alt_text() sends the text to metadata/create.
    """
    status = mock.get(UPLOAD).respond(
        200,
        json={
            "media_id": 5,
            "media_id_string": "5",
            "processing_info": {"state": "in_progress", "progress_percent": 50},
        },
    )
    meta = mock.post(METADATA).respond(200)
    async with AsyncMediaClient(creds) as client:
        result = await client.status("5")
        await client.set_alt_text(5, "hello")
    request = status.calls.last.request
    assert dict(request.url.params) == {"command": "STATUS", "media_id": "5"}
    assert oauthlib_verifies(request, creds)
    assert result.processing is not None
    assert result.processing.progress_percent == 50
    assert meta.call_count == 1
    assert json.loads(meta.calls.last.request.content) == {
        "media_id": "5",
        "alt_text": {"text": "hello"},
    }


@pytest.mark.parametrize(
    ("method", "args", "match"),
    [
        ("set_alt_text", (5, "x" * 1001), "at most 1000"),
        ("set_alt_text", ("five", "hello"), "numeric id"),
        ("status", ("five",), "numeric id"),
        ("status", (True,), "numeric id"),
    ],
)
async def test_status_and_set_alt_text_refuse_bad_input(
    mock: respx.MockRouter,
    creds: OAuth1Credentials,
    method: str,
    args: tuple[Any, ...],
    match: str,
) -> None:
    """
    A bad media id or alt text raises InvalidMediaError outside the block, before any request.
    """
    route = mock.route()
    with pytest.raises(InvalidMediaError, match=match):
        async with AsyncMediaClient(creds) as client:
            await getattr(client, method)(*args)
    assert not route.called


async def test_the_client_stays_usable_after_an_error(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Inside the block on purpose: after a refused call and a failed upload, the same client works.
    """
    route = mock.post(UPLOAD).mock(
        side_effect=[
            httpx.Response(200, text="<html>"),
            httpx.Response(200, json=IMAGE_BODY),
        ]
    )
    meta = mock.post(METADATA).respond(200)
    data = png()
    async with AsyncMediaClient(creds) as client:
        with pytest.raises(InvalidMediaError):
            await client.set_alt_text(5, "x" * 1001)
        with pytest.raises(APIError):
            await client.upload(png(3))
        await client.upload(data)
        await client.set_alt_text(5, "hello")
    assert route.call_count == 2
    request = route.calls.last.request
    assert (
        multipart_fields(request.headers["content-type"], request.content)["media"]
        == data
    )
    assert meta.call_count == 1


@pytest.mark.parametrize(
    "body",
    [{"text": "<html>"}, {"json": {"x": 1}}],
    ids=["not-json", "no-media-id"],
)
async def test_unreadable_success_body_is_an_api_error(
    mock: respx.MockRouter, creds: OAuth1Credentials, body: dict[str, Any]
) -> None:
    """
    A 200 that is not JSON, or JSON without a media id, raises APIError.
    """
    route = mock.post(UPLOAD).respond(200, **body)
    with pytest.raises(APIError, match="cannot understand") as info:
        async with AsyncMediaClient(creds) as client:
            await client.upload(png())
    assert type(info.value) is APIError
    assert info.value.status_code == 200
    assert route.call_count == 1  # a 2xx is never retried


async def test_lifecycle(creds: OAuth1Credentials) -> None:
    """
    Re-entry and use after close raise RuntimeError; an owned httpx client is closed.
    """
    client = AsyncMediaClient(creds)
    shown = []
    with pytest.raises(RuntimeError, match="entered once"):
        async with client:
            shown.append(repr(client))
            async with client:
                shown.append("re-entered")
    assert len(shown) == 1  # the second `async with` never ran its body
    assert "state=opened" in shown[0]
    assert "state=closed" in repr(client)
    assert client._http.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.upload(png())
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass
    await client.aclose()


async def test_given_http_client_is_not_closed(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    An httpx client passed in is used and left open.
    """
    route = mock.post(UPLOAD).respond(200, json=IMAGE_BODY)
    async with httpx.AsyncClient() as http:
        async with AsyncMediaClient(creds, http_client=http) as client:
            await client.upload(png())
        assert not http.is_closed
    assert route.called


async def test_client_without_context_manager(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    upload works without `async with`; aclose closes it.
    """
    mock.post(UPLOAD).respond(200, json=IMAGE_BODY)
    client = AsyncMediaClient(creds, base_url="https://upload.twitter.com/")
    assert (await client.upload(png())).media_id == 710511363345354753
    await client.aclose()
    assert client._http.is_closed


@pytest.mark.parametrize(
    ("args", "options", "match"),
    [
        ("creds", {"api": "3"}, "api must be"),
        ("bearer", {}, 'BearerToken works with api="2" only'),
        ("creds", {"base_url": "upload.twitter.com"}, "base_url"),
        ("creds", {"max_concurrency": 0}, "max_concurrency"),
        ("creds", {"max_concurrency": True}, "max_concurrency"),
        ("creds", {"max_retries": -1}, "max_retries"),
        ("creds", {"segment_bytes": 0}, "segment_bytes"),
        ("nothing", {}, "credentials must be"),
    ],
)
def test_bad_settings(
    creds: OAuth1Credentials, args: str, options: dict[str, Any], match: str
) -> None:
    """
    Unusable settings raise ConfigurationError at construction.
    """
    credentials = {"creds": creds, "bearer": BearerToken("t"), "nothing": "key"}[args]
    with pytest.raises(ConfigurationError, match=match):
        AsyncMediaClient(credentials, **options)  # type: ignore[arg-type]


async def test_secrets_never_in_repr_errors_or_logs(
    mock: respx.MockRouter, creds: OAuth1Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    """
    Neither reprs, error messages nor debug logs contain a secret or the Authorization header.
    """
    caplog.set_level("DEBUG", logger="twupload")
    mock.post(UPLOAD).respond(401, json={"errors": [{"code": 32, "message": "no"}]})
    shown = []
    with pytest.raises(APIError) as info:
        async with AsyncMediaClient(creds) as client:
            shown.append(repr(client))
            await client.upload(png())
    text = "".join(shown) + repr(client) + str(info.value) + repr(info.value)
    text += caplog.text
    assert info.value.status_code == 401
    assert "HTTP 401" in caplog.text
    for secret in SECRETS:
        assert secret not in text
    assert "OAuth oauth_" not in text


def _limits(*, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-rate-limit-limit": "415",
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


class _Answers:
    """
    A respx handler giving the responses in turn and noting the fake time each request arrived.
    """

    def __init__(self, time: FakeTime, *responses: httpx.Response) -> None:
        self._time = time
        self._responses = list(responses)
        self.sent_at: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent_at.append(self._time.now)
        return self._responses.pop(0)


def _timed_client(
    creds: OAuth1Credentials, time: FakeTime, max_rate_limit_wait: float
) -> AsyncMediaClient:
    return AsyncMediaClient(
        creds,
        clock=time.clock,
        sleep=time.sleep,
        max_rate_limit_wait=max_rate_limit_wait,
    )


async def test_a_429_resetting_beyond_max_rate_limit_wait_raises_without_waiting(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A 429 whose reset is 600 s away, with max_rate_limit_wait=60: RateLimitError at once.

    The default (900 s) would wait and retry; nothing is slept and nothing resent.
    """
    time = FakeTime()
    reset = int(time.now) + 600
    answers = _Answers(
        time,
        httpx.Response(
            429,
            json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
            headers=_limits(remaining=0, reset=reset),
        ),
        httpx.Response(200, json=IMAGE_BODY),
    )
    mock.post(UPLOAD).mock(side_effect=answers)
    with pytest.raises(RateLimitError) as info:
        async with _timed_client(creds, time, max_rate_limit_wait=60) as client:
            await client.upload(png())
    assert time.sleeps == []
    assert len(answers.sent_at) == 1
    assert info.value.status_code == 429
    assert info.value.reset_at == dt.datetime.fromtimestamp(reset, dt.timezone.utc)


async def test_a_429_resetting_within_max_rate_limit_wait_is_waited_out(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    A 429 whose reset is 1200 s away, with max_rate_limit_wait=2000: one wait, then success.

    The default (900 s) would raise instead.
    """
    time = FakeTime()
    reset = int(time.now) + 1200
    answers = _Answers(
        time,
        httpx.Response(429, headers=_limits(remaining=0, reset=reset)),
        httpx.Response(200, json=IMAGE_BODY),
    )
    mock.post(UPLOAD).mock(side_effect=answers)
    async with _timed_client(creds, time, max_rate_limit_wait=2000) as client:
        await client.upload(png())
    assert len(time.sleeps) == 1
    assert 1200 <= time.sleeps[0] <= 2000
    assert len(answers.sent_at) == 2
    assert answers.sent_at[1] >= reset  # the retry went out after the reset


async def test_an_exhausted_window_beyond_max_rate_limit_wait_raises_before_sending(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    After a 200 saying none remain until 600 s from now, the next upload raises, unsent.

    With max_rate_limit_wait=60 the pacing refuses to wait: no sleep, no second request.
    """
    time = FakeTime()
    reset = int(time.now) + 600
    answers = _Answers(
        time,
        httpx.Response(200, json=IMAGE_BODY, headers=_limits(remaining=0, reset=reset)),
        httpx.Response(200, json=IMAGE_BODY),
    )
    mock.post(UPLOAD).mock(side_effect=answers)
    with pytest.raises(RateLimitError) as info:
        async with _timed_client(creds, time, max_rate_limit_wait=60) as client:
            await client.upload(png())
            await client.upload(png(3))
    assert time.sleeps == []
    assert len(answers.sent_at) == 1
    assert info.value.reset_at == dt.datetime.fromtimestamp(reset, dt.timezone.utc)


async def test_an_exhausted_window_within_max_rate_limit_wait_is_waited_for(
    mock: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    The same exhausted window 1200 s from its reset, with max_rate_limit_wait=2000, is waited for.

    The default (900 s) would raise instead.
    """
    time = FakeTime()
    reset = int(time.now) + 1200
    answers = _Answers(
        time,
        httpx.Response(200, json=IMAGE_BODY, headers=_limits(remaining=0, reset=reset)),
        httpx.Response(200, json=IMAGE_BODY),
    )
    mock.post(UPLOAD).mock(side_effect=answers)
    async with _timed_client(creds, time, max_rate_limit_wait=2000) as client:
        await client.upload(png())
        await client.upload(png(3))
    assert len(time.sleeps) == 1
    assert 1200 <= time.sleeps[0] <= 2000
    assert len(answers.sent_at) == 2
    assert answers.sent_at[1] >= reset
