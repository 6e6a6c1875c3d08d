"""
The v1.1 media upload protocol (``upload.twitter.com/1.1/media/upload.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

from .._auth import FORM_URLENCODED
from ._base import (
    json_request,
    make_request,
    multipart_request,
    parse_result,
    query_status,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._media import UploadPlan
    from .._results import UploadResult
    from .._source import Source
    from .._transport import Transport
    from ._base import Segment


_FORM_HEADERS = {"Content-Type": FORM_URLENCODED}


class V1Protocol:
    """
    Simple upload, INIT/APPEND/FINALIZE/STATUS and metadata/create over v1.1.

    Args:
        transport: Sends, paces and retries the requests.
        base_url: Scheme and host, such as ``https://upload.twitter.com``.
        max_segment_bytes: Largest APPEND (the v1.1 reference documents 5 MB).
    """

    api = "1.1"

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        max_segment_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self._transport = transport
        self.max_segment_bytes = max_segment_bytes
        root = base_url.rstrip("/")
        self._upload_url = httpx.URL(f"{root}/1.1/media/upload.json")
        self._metadata_url = httpx.URL(f"{root}/1.1/media/metadata/create.json")
        self._subtitles_url = f"{root}/1.1/media/subtitles"

    def _form(self, fields: list[tuple[str, str]]) -> Callable[[], httpx.Request]:
        content = urlencode(fields).encode("ascii")
        return lambda: make_request(
            "POST", self._upload_url, headers=_FORM_HEADERS, body=content
        )

    async def upload_simple(
        self,
        source: Source,
        plan: UploadPlan,
        *,
        owners: Sequence[str],
        base64: bool,
        on_progress: Callable[[int], None] | None,
    ) -> UploadResult:
        fields = _common_fields(plan, owners)
        build = multipart_request(
            self._upload_url,
            fields,
            source,
            start=0,
            length=source.size,
            base64=base64,
            on_progress=on_progress,
        )
        response = await self._transport.send(
            "upload", build, operation="upload", replayable=source.replayable
        )
        return parse_result(response, operation="upload")

    async def init(self, plan: UploadPlan, *, owners: Sequence[str]) -> UploadResult:
        fields = [
            ("command", "INIT"),
            ("total_bytes", str(plan.total_bytes)),
            ("media_type", plan.media_type),
            *_common_fields(plan, owners),
        ]
        if plan.shared:
            fields.append(("shared", "true"))
        response = await self._transport.send(
            "INIT", self._form(fields), operation="INIT"
        )
        return parse_result(response, operation="INIT")

    async def append(
        self,
        media_id: int,
        segment: Segment,
        source: Source,
        *,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        fields = [
            ("command", "APPEND"),
            ("media_id", str(media_id)),
            ("segment_index", str(segment.index)),
        ]
        build = multipart_request(
            self._upload_url,
            fields,
            source,
            start=segment.start,
            length=segment.length,
            on_progress=on_progress,
        )
        # A 2xx APPEND has an empty body (204): it is never parsed.
        await self._transport.send(
            "APPEND",
            build,
            operation=f"APPEND segment {segment.index}",
            replayable=source.replayable,
        )

    async def finalize(self, media_id: int) -> UploadResult:
        fields = [("command", "FINALIZE"), ("media_id", str(media_id))]
        response = await self._transport.send(
            "FINALIZE", self._form(fields), operation="FINALIZE"
        )
        return parse_result(response, operation="FINALIZE")

    async def status(self, media_id: int) -> UploadResult:
        return await query_status(self._transport, self._upload_url, media_id)

    async def set_alt_text(self, media_id: int, text: str) -> None:
        payload = {"media_id": str(media_id), "alt_text": {"text": text}}
        await self._transport.send(
            "metadata",
            json_request("POST", self._metadata_url, payload),
            operation="metadata/create",
        )

    async def set_subtitles(
        self,
        video_id: int,
        subtitles_id: int,
        *,
        language_code: str,
        display_name: str | None,
        video_category: str,
    ) -> None:
        subtitle: dict[str, str] = {
            "media_id": str(subtitles_id),
            "language_code": language_code,
        }
        if display_name is not None:
            subtitle["display_name"] = display_name
        payload = {
            "media_id": str(video_id),
            "media_category": video_category,
            "subtitle_info": {"subtitles": [subtitle]},
        }
        url = httpx.URL(f"{self._subtitles_url}/create.json")
        await self._transport.send(
            "subtitles",
            json_request("POST", url, payload),
            operation="subtitles/create",
        )

    async def delete_subtitles(
        self, video_id: int, *, language_code: str, video_category: str
    ) -> None:
        payload = {
            "media_id": str(video_id),
            "media_category": video_category,
            "subtitle_info": {"subtitles": [{"language_code": language_code}]},
        }
        url = httpx.URL(f"{self._subtitles_url}/delete.json")
        await self._transport.send(
            "subtitles",
            json_request("POST", url, payload),
            operation="subtitles/delete",
        )


def _common_fields(plan: UploadPlan, owners: Sequence[str]) -> list[tuple[str, str]]:
    # Always a category: without one, v1.1 answers with no media_key.
    fields = [("media_category", plan.media_category)]
    if owners:
        fields.append(("additional_owners", ",".join(owners)))
    return fields
