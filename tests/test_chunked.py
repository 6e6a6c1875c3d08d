"""
The chunked flow: INIT/APPEND/FINALIZE/STATUS, processing outcomes, and resuming.
"""

from __future__ import annotations

import datetime as dt
import json

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    InvalidMediaError,
    MediaProcessingError,
    ProcessingInfo,
    ResumeExpiredError,
    ResumeState,
    UploadTimeoutError,
)
from twupload._chunked import segment_size_for, segments

from checks import multipart_fields, oauthlib_verifies
from fakes import FakeTime
from samples import gif, mp4


if TYPE_CHECKING:
    from collections.abc import Iterator

    from twupload import OAuth1Credentials


pytestmark = pytest.mark.anyio

UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
METADATA = "https://upload.twitter.com/1.1/media/metadata/create.json"
NOW = 1_767_225_600.0
MEDIA_ID = 1860000000000000042


class ChunkedServer:
    """
    A respx handler speaking v1.1's chunked commands, recording what arrived.
    """

    def __init__(self, *, statuses: list[dict[str, Any]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.init: dict[str, str] = {}
        self.segments: dict[int, bytes] = {}
        self.append_order: list[int] = []
        self.statuses = statuses or []
        self.finalize_processing: dict[str, Any] | None = (
            {"state": "pending", "check_after_secs": 1} if statuses else None
        )
        self.fail_append: dict[int, httpx.Response] = {}
        self.status_calls = 0

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {
            "media_id": MEDIA_ID,
            "media_id_string": str(MEDIA_ID),
            "media_key": f"7_{MEDIA_ID}",
            "size": sum(len(s) for s in self.segments.values()),
            "expires_after_secs": 86400,
            **extra,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            self.status_calls += 1
            assert request.url.params["command"] == "STATUS"
            info = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(
                200,
                json=self._info(
                    processing_info=info, video={"video_type": "video/mp4"}
                ),
            )
        content_type = request.headers["content-type"]
        if content_type.startswith("multipart/"):
            fields = multipart_fields(content_type, request.content)
            assert fields["command"] == b"APPEND"
            assert fields["media_id"] == str(MEDIA_ID).encode()
            index = int(fields["segment_index"])
            if index in self.fail_append:
                return self.fail_append[index]
            self.segments[index] = fields["media"]
            self.append_order.append(index)
            return httpx.Response(204)
        form = dict(parse_qsl(request.content.decode()))
        if form["command"] == "INIT":
            self.init = form
            return httpx.Response(202, json=self._info())
        assert form == {"command": "FINALIZE", "media_id": str(MEDIA_ID)}
        extra = (
            {"processing_info": self.finalize_processing}
            if self.finalize_processing
            else {}
        )
        return httpx.Response(201, json=self._info(**extra))

    def received(self) -> bytes:
        return b"".join(self.segments[i] for i in sorted(self.segments))


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def _client(
    creds: OAuth1Credentials, time: FakeTime, **options: Any
) -> AsyncMediaClient:
    return AsyncMediaClient(creds, clock=time.clock, sleep=time.sleep, **options)


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_video_uploads_in_segments_then_polls_until_succeeded(
    router: respx.MockRouter, creds: OAuth1Credentials, in_flight: int
) -> None:
    """
    A 20 MB MP4 goes up in segments of at most 5 MB, then STATUS until succeeded.

    One segment in flight sends them in order; more send every one exactly once.
    """
    data = mp4(20 * 1024 * 1024)
    server = ChunkedServer(
        statuses=[
            {"state": "in_progress", "check_after_secs": 3, "progress_percent": 50},
            {"state": "succeeded", "progress_percent": 100},
        ]
    )
    router.route(url__startswith=UPLOAD).mock(side_effect=server)
    time = FakeTime(NOW)
    progress: list[tuple[int, int]] = []
    seen: list[ProcessingInfo] = []

    async with _client(creds, time, max_segments_in_flight=in_flight) as client:
        result = await client.upload(
            data,
            media_category="tweet_video",
            additional_owners=[7],
            on_progress=lambda sent, total: progress.append((sent, total)),
            on_processing=seen.append,
        )

    assert server.init == {
        "command": "INIT",
        "total_bytes": str(len(data)),
        "media_type": "video/mp4",
        "media_category": "tweet_video",
        "additional_owners": "7",
    }
    if in_flight == 1:
        assert server.append_order == [0, 1, 2, 3, 4]
    assert sorted(server.append_order) == [0, 1, 2, 3, 4]
    assert all(len(seg) <= 5 * 1024 * 1024 for seg in server.segments.values())
    assert server.received() == data
    assert server.status_calls == 2
    assert time.sleeps == [1.0, 3.0]
    assert all(oauthlib_verifies(request, creds) for request in server.requests)
    assert result.processing is not None
    assert result.processing.state == "succeeded"
    assert result.video is not None
    assert result.media_key == f"7_{MEDIA_ID}"
    assert [info.state for info in seen] == ["pending", "in_progress", "succeeded"]
    assert progress[-1] == (len(data), len(data))
    assert [sent for sent, _ in progress] == sorted({sent for sent, _ in progress})


async def test_animated_gif_goes_chunked_with_alt_text(
    router: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    An animated GIF is sent chunked as tweet_gif; alt text follows FINALIZE.
    """
    server = ChunkedServer()
    router.route(url__startswith=UPLOAD).mock(side_effect=server)
    meta = router.post(METADATA).respond(200)
    data = gif(4)
    async with _client(creds, FakeTime(NOW)) as client:
        result = await client.upload(data, alt_text="dancing cat")
    assert server.init["media_category"] == "tweet_gif"
    assert server.init["media_type"] == "image/gif"
    assert server.received() == data
    assert result.processing is None
    assert json.loads(meta.calls.last.request.content)["alt_text"] == {
        "text": "dancing cat"
    }


@pytest.mark.parametrize(
    ("statuses", "match"),
    [
        (
            [
                {
                    "state": "failed",
                    "error": {
                        "code": 1,
                        "name": "InvalidMedia",
                        "message": "Unsupported video.",
                    },
                }
            ],
            r"\[1\] InvalidMedia: Unsupported video\. Check the file",
        ),
        (
            [
                {
                    "state": "in_progress",
                    "progress_percent": 99,
                    "error": {"code": 3, "name": "UnsupportedMedia", "message": "x"},
                }
            ],
            "UnsupportedMedia",
        ),
        ([{"state": "failed"}], "Processing of media"),
    ],
)
async def test_processing_failures_end_promptly(
    router: respx.MockRouter,
    creds: OAuth1Credentials,
    statuses: list[dict[str, Any]],
    match: str,
) -> None:
    """
    A failed state, or an error while in_progress, raises MediaProcessingError at once.
    """
    server = ChunkedServer(statuses=statuses)
    router.route(url__startswith=UPLOAD).mock(side_effect=server)
    with pytest.raises(MediaProcessingError, match=match) as info:
        async with _client(creds, FakeTime(NOW)) as client:
            await client.upload(mp4())
    assert server.status_calls == 1
    assert info.value.media_id == MEDIA_ID
    assert info.value.resume is not None
    if statuses[0].get("error"):
        assert info.value.code == statuses[0]["error"]["code"]
    assert ".." not in str(info.value)


async def test_never_ending_pending_times_out_at_the_deadline(
    router: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    Processing that stays pending ends in UploadTimeoutError at processing_timeout.
    """
    server = ChunkedServer(statuses=[{"state": "pending"}])
    router.route(url__startswith=UPLOAD).mock(side_effect=server)
    time = FakeTime(NOW)
    with pytest.raises(UploadTimeoutError, match="still pending after 30 s") as info:
        async with _client(creds, time, processing_timeout=30) as client:
            await client.upload(mp4())
    assert info.value.media_id == MEDIA_ID
    assert time.now - NOW == pytest.approx(30)
    assert sum(time.sleeps) == pytest.approx(30)
    assert set(time.sleeps[1:-1]) == {
        2.0
    }  # the default when check_after_secs is missing
    assert server.status_calls == len(time.sleeps)


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_failed_append_carries_resume_and_resuming_sends_only_the_rest(
    router: respx.MockRouter, creds: OAuth1Credentials, in_flight: int
) -> None:
    """
    An APPEND that fails after retries leaves a ResumeState; resuming skips INIT and acked segments.

    With one segment in flight, exactly those before the failure are
    acknowledged; with more, those after it may be too, never the failed one.
    """
    data = mp4(9 * 1024 * 1024 + 123)
    server = ChunkedServer()
    server.fail_append[2] = httpx.Response(503)
    router.route(url__startswith=UPLOAD).mock(side_effect=server)
    time = FakeTime(NOW)
    with pytest.raises(APIError, match="APPEND segment 2") as info:
        async with _client(
            creds,
            time,
            max_retries=1,
            segment_bytes=2 * 1024 * 1024,
            max_segments_in_flight=in_flight,
        ) as client:
            await client.upload(data)
    assert info.value.status_code == 503
    state = info.value.resume
    assert state is not None
    if in_flight == 1:
        assert state.acknowledged == (0, 1)
    assert {0, 1} <= set(state.acknowledged) <= {0, 1, 3, 4}
    assert set(state.acknowledged) <= set(server.segments)
    assert state.media_id == MEDIA_ID
    assert state.segment_size == 2 * 1024 * 1024
    assert state.segment_count == 5
    assert state.expires_at is not None

    saved = state.to_json()
    del server.fail_append[2]
    server.append_order.clear()
    inits_before = sum(1 for r in server.requests if b"INIT" in r.content[:100])
    async with _client(creds, time, max_segments_in_flight=in_flight) as client:
        result = await client.upload(data, resume=ResumeState.from_json(saved))
    inits_after = sum(1 for r in server.requests if b"INIT" in r.content[:100])
    assert inits_after == inits_before == 1
    missing = sorted({0, 1, 2, 3, 4} - set(state.acknowledged))
    if in_flight == 1:
        assert server.append_order == missing
    assert sorted(server.append_order) == missing
    assert server.received() == data
    assert result.media_id == MEDIA_ID


DATA = mp4()
EXPIRED = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("given", "error", "match"),
    [
        (
            (
                DATA,
                ResumeState(MEDIA_ID, "1.1", 1024, (), len(DATA), EXPIRED, "video/mp4"),
            ),
            ResumeExpiredError,
            "expired",
        ),
        (
            (
                DATA + b"x",
                ResumeState(MEDIA_ID, "1.1", 4 << 20, (), len(DATA), None, "video/mp4"),
            ),
            InvalidMediaError,
            "same source",
        ),
        (
            (DATA, ResumeState(MEDIA_ID, "2", 1024, (), len(DATA), None, "video/mp4")),
            InvalidMediaError,
            "API 2",
        ),
    ],
    ids=["expired", "other-size", "other-api"],
)
async def test_resume_refusals(
    router: respx.MockRouter,
    creds: OAuth1Credentials,
    given: tuple[bytes, ResumeState],
    error: type[Exception],
    match: str,
) -> None:
    """
    Expired state, a different size, or another API version are refused before any request.
    """
    route = router.route()
    source, state = given
    with pytest.raises(error, match=match) as info:
        async with _client(creds, FakeTime(NOW)) as client:
            await client.upload(source, resume=state)
    assert type(info.value) is error
    assert not route.called


async def test_init_failure_has_no_resume(
    router: respx.MockRouter, creds: OAuth1Credentials
) -> None:
    """
    An error before INIT succeeds leaves nothing to resume.
    """
    router.route(url__startswith=UPLOAD).respond(
        400, json={"errors": [{"code": 324, "message": "bad"}]}
    )
    with pytest.raises(APIError) as info:
        async with _client(creds, FakeTime(NOW)) as client:
            await client.upload(mp4())
    assert info.value.status_code == 400
    assert info.value.errors == ((324, "bad"),)
    assert info.value.resume is None


def test_segment_sizes() -> None:
    """
    Segments tile the source; the size grows to keep within 1000 segments, up to the maximum.
    """
    assert segment_size_for(10, preferred=4, maximum=5) == 4
    assert segment_size_for(6_000_000, preferred=1000, maximum=10_000) == 6000
    with pytest.raises(InvalidMediaError, match="1000 APPENDs"):
        segment_size_for(6_000_000, preferred=1000, maximum=5000)
    parts = segments(10, 4)
    assert [(p.index, p.start, p.length) for p in parts] == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 2),
    ]
