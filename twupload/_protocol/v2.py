"""
The X API v2 media endpoints (``api.x.com/2/media/...``).

v2 replaces v1.1's ``command=`` style with one path per step, JSON instead of
form bodies, and wraps answers in ``{"data": ...}`` (the one-shot upload has
been seen answering without the wrapper, so both shapes are read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

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


class V2Protocol:
    """
    One-shot upload, initialize/append/finalize, STATUS and metadata over API v2.

    Args:
        transport: Sends, paces and retries the requests.
        base_url: Scheme and host, such as ``https://api.x.com``.
        max_segment_bytes: Largest APPEND; v2's real maximum is unpublished, so
            it is a setting.
    """

    api = "2"

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        max_segment_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self._transport = transport
        self._root = base_url.rstrip("/")
        self.max_segment_bytes = max_segment_bytes
        self._upload_url = httpx.URL(f"{self._root}/2/media/upload")
        self._metadata_url = httpx.URL(f"{self._root}/2/media/metadata")
        self._subtitles_url = httpx.URL(f"{self._root}/2/media/subtitles")

    def _url(self, media_id: int, step: str) -> httpx.URL:
        return httpx.URL(f"{self._root}/2/media/upload/{media_id}/{step}")

    async def upload_simple(
        self,
        source: Source,
        plan: UploadPlan,
        *,
        owners: Sequence[str],
        base64: bool,  # noqa: ARG002 - refused earlier for v2: it takes raw bytes only
        on_progress: Callable[[int], None] | None,
    ) -> UploadResult:
        fields = [("media_category", plan.media_category)]
        if owners:
            fields.append(("additional_owners", ",".join(owners)))
        build = multipart_request(
            self._upload_url,
            fields,
            source,
            start=0,
            length=source.size,
            on_progress=on_progress,
        )
        response = await self._transport.send(
            "upload", build, operation="upload", replayable=source.replayable
        )
        return parse_result(response, operation="upload", unwrap_data=True)

    async def init(self, plan: UploadPlan, *, owners: Sequence[str]) -> UploadResult:
        payload: dict[str, Any] = {
            "total_bytes": plan.total_bytes,
            "media_type": plan.media_type,
            "media_category": plan.media_category,
        }
        if owners:
            payload["additional_owners"] = list(owners)
        if plan.shared:
            payload["shared"] = True
        response = await self._transport.send(
            "INIT",
            json_request("POST", httpx.URL(f"{self._upload_url}/initialize"), payload),
            operation="initialize",
        )
        return parse_result(response, operation="initialize", unwrap_data=True)

    async def append(
        self,
        media_id: int,
        segment: Segment,
        source: Source,
        *,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        build = multipart_request(
            self._url(media_id, "append"),
            [("segment_index", str(segment.index))],
            source,
            start=segment.start,
            length=segment.length,
            on_progress=on_progress,
        )
        await self._transport.send(
            "APPEND",
            build,
            operation=f"append segment {segment.index}",
            replayable=source.replayable,
        )

    async def finalize(self, media_id: int) -> UploadResult:
        url = self._url(media_id, "finalize")
        response = await self._transport.send(
            "FINALIZE", lambda: make_request("POST", url), operation="finalize"
        )
        return parse_result(response, operation="finalize", unwrap_data=True)

    async def status(self, media_id: int) -> UploadResult:
        return await query_status(
            self._transport, self._upload_url, media_id, unwrap_data=True
        )

    async def set_alt_text(self, media_id: int, text: str) -> None:
        payload = {"id": str(media_id), "metadata": {"alt_text": {"text": text}}}
        await self._transport.send(
            "metadata",
            json_request("POST", self._metadata_url, payload),
            operation="metadata",
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
        subtitles: dict[str, str] = {
            "id": str(subtitles_id),
            "language_code": language_code,
        }
        if display_name is not None:
            subtitles["display_name"] = display_name
        payload = {
            "id": str(video_id),
            "media_category": video_category,
            "subtitles": subtitles,
        }
        await self._transport.send(
            "subtitles",
            json_request("POST", self._subtitles_url, payload),
            operation="subtitles",
        )

    async def delete_subtitles(
        self, video_id: int, *, language_code: str, video_category: str
    ) -> None:
        payload = {
            "id": str(video_id),
            "language_code": language_code,
            "media_category": video_category,
        }
        await self._transport.send(
            "subtitles",
            json_request("DELETE", self._subtitles_url, payload),
            operation="delete subtitles",
        )
