"""
The interface every API version implements, and helpers they share.
"""

from __future__ import annotations

import datetime as dt
import json

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import httpx

from .._errors import error_from_response
from .._multipart import BytesBody, MultipartBody, StreamedBody
from .._results import UploadResult


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping, Sequence

    from .._media import UploadPlan
    from .._source import Source
    from .._transport import Transport


_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Segment:
    """
    One APPEND: which part of the source goes with which index.

    Attributes:
        index: ``segment_index`` (0-999).
        start: Offset of its first byte in the source.
        length: Its size in bytes.
    """

    index: int
    start: int
    length: int


class MediaProtocol(Protocol):
    """
    The commands of one API version; the client and the chunked flow speak only this.

    Attributes:
        api: ``"1.1"`` or ``"2"``.
        max_segment_bytes: The largest APPEND the service accepts.
    """

    api: str
    max_segment_bytes: int

    async def upload_simple(
        self,
        source: Source,
        plan: UploadPlan,
        *,
        owners: Sequence[str],
        base64: bool,
        on_progress: Callable[[int], None] | None,
    ) -> UploadResult:
        """
        Upload the whole source in one request.
        """
        ...

    async def init(self, plan: UploadPlan, *, owners: Sequence[str]) -> UploadResult:
        """
        Start a chunked upload; the result carries the media id and its expiry.
        """
        ...

    async def append(
        self,
        media_id: int,
        segment: Segment,
        source: Source,
        *,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """
        Send one segment of the source.
        """
        ...

    async def finalize(self, media_id: int) -> UploadResult:
        """
        Close a chunked upload; processing may follow.
        """
        ...

    async def status(self, media_id: int) -> UploadResult:
        """
        Ask for the processing state of a media id.
        """
        ...

    async def set_alt_text(self, media_id: int, text: str) -> None:
        """
        Attach alt text to an uploaded image or GIF.
        """
        ...

    async def set_subtitles(
        self,
        video_id: int,
        subtitles_id: int,
        *,
        language_code: str,
        display_name: str | None,
        video_category: str,
    ) -> None:
        """
        Associate uploaded subtitles with an uploaded video, for one language.
        """
        ...

    async def delete_subtitles(
        self, video_id: int, *, language_code: str, video_category: str
    ) -> None:
        """
        Dissociate (and delete) a video's subtitles for one language.
        """
        ...


def multipart_request(
    url: httpx.URL,
    fields: Sequence[tuple[str, str]],
    source: Source,
    *,
    start: int,
    length: int,
    base64: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Callable[[], httpx.Request]:
    """
    A builder of POST requests whose multipart body streams ``[start, start+length)``.

    Each call makes a fresh body (and boundary), so a retry re-reads the source.
    """

    def build() -> httpx.Request:
        body = MultipartBody(
            fields,
            media_field="media_data" if base64 else "media",
            media_size=length,
            base64=base64,
        )
        return make_request(
            "POST",
            url,
            headers=body.headers,
            body=body.stream(source.iter_range(start, length), on_progress=on_progress),
        )

    return build


def make_request(
    method: str,
    url: httpx.URL,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    body: AsyncGenerator[bytes, None] | bytes = b"",
) -> httpx.Request:
    """
    Build a request on twupload's own body streams, with the headers httpx would add.

    httpx adds no default headers to a request given ``stream=``, so Host and,
    for in-memory bodies, Content-Length are set here.
    """
    if params:
        url = url.copy_merge_params(params)
    all_headers = {"Host": url.netloc.decode("ascii"), **(headers or {})}
    if not isinstance(body, bytes):
        return httpx.Request(
            method, url, headers=all_headers, stream=StreamedBody(body)
        )
    if method != "GET":
        all_headers["Content-Length"] = str(len(body))
    request = httpx.Request(method, url, headers=all_headers, stream=BytesBody(body))
    request.read()  # makes request.content available, as for content=bytes
    return request


def json_request(
    method: str, url: httpx.URL, payload: object
) -> Callable[[], httpx.Request]:
    """
    A builder of requests with a JSON body (never part of an OAuth 1.0a signature).
    """
    content = json.dumps(payload, separators=(",", ":")).encode()
    return lambda: make_request(method, url, headers=_JSON_HEADERS, body=content)


def parse_result(
    response: httpx.Response, *, operation: str, unwrap_data: bool = False
) -> UploadResult:
    """
    Turn a 2xx body into an `UploadResult`, or raise `APIError` when it has no media id.

    Args:
        unwrap_data: Read v2's ``{"data": {...}}`` wrapper; a body without it
            (seen from v2's one-shot upload) is read as it is.
    """
    try:
        data = json.loads(response.content)
    except ValueError:
        raise error_from_response(response, operation=operation) from None
    if unwrap_data and isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    try:
        return UploadResult.from_payload(
            data, received_at=dt.datetime.now(dt.timezone.utc)
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        raise error_from_response(response, operation=operation) from None


async def query_status(
    transport: Transport, url: httpx.URL, media_id: int, *, unwrap_data: bool = False
) -> UploadResult:
    """
    Send ``GET url?command=STATUS&media_id=...``, the same in v1.1 and v2.
    """
    params = {"command": "STATUS", "media_id": str(media_id)}
    response = await transport.send(
        "STATUS", lambda: make_request("GET", url, params=params), operation="STATUS"
    )
    return parse_result(response, operation="STATUS", unwrap_data=unwrap_data)
