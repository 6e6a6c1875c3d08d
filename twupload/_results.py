"""
Frozen result records: what the service said, plus values derived from it.

This module imports nothing of twupload's, so every layer can use it.
"""

from __future__ import annotations

import datetime as dt
import json

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar


if TYPE_CHECKING:
    from collections.abc import Mapping


_UTC = dt.timezone.utc
SourceT = TypeVar("SourceT")


def _now() -> dt.datetime:
    return dt.datetime.now(_UTC)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    return int(value)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """
    What the service measured of an uploaded image.

    Attributes:
        image_type: MIME type the service detected, such as ``"image/jpeg"``.
        w: Width in pixels.
        h: Height in pixels.
    """

    image_type: str | None
    w: int | None
    h: int | None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """
    What the service detected of an uploaded video.

    Attributes:
        video_type: MIME type, such as ``"video/mp4"``.
    """

    video_type: str | None


@dataclass(frozen=True, slots=True)
class ProcessingError:
    """
    Why the service's background processing failed.

    Attributes:
        code: Numeric code (1 InvalidMedia, 3 UnsupportedMedia, ...).
        name: Short name, such as ``"InvalidMedia"``.
        message: Explanation from the service.
    """

    code: int | None
    name: str | None
    message: str | None


ProcessingState = Literal["pending", "in_progress", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class ProcessingInfo:
    """
    The service's background processing of a GIF or video.

    Attributes:
        state: ``"pending"``, ``"in_progress"``, ``"succeeded"`` or ``"failed"``.
        check_after_secs: How long the service asks us to wait before asking again.
        progress_percent: 0-100, when the service reports it.
        error: Set when processing failed, even if *state* still says in progress.
    """

    state: str
    check_after_secs: int | None = None
    progress_percent: int | None = None
    error: ProcessingError | None = None

    @property
    def is_done(self) -> bool:
        """
        True once polling can stop (succeeded, failed, or an error was reported).
        """
        return self.state in {"succeeded", "failed"} or self.error is not None

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> ProcessingInfo:
        """
        Build from a ``processing_info`` object; missing fields become None.
        """
        error = data.get("error")
        return cls(
            state=str(data.get("state", "pending")),
            check_after_secs=_opt_int(data.get("check_after_secs")),
            progress_percent=_opt_int(data.get("progress_percent")),
            error=ProcessingError(
                code=_opt_int(error.get("code")),
                name=error.get("name"),
                message=error.get("message"),
            )
            if isinstance(error, dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class UploadResult:
    """
    A media object the service has accepted.

    Attributes:
        media_id: Numeric id; pass *media_id_string* to JSON consumers.
        media_id_string: The same id as a string (safe from float rounding).
        media_key: Key such as ``"3_1234"``; v1.1 sends it only when the upload named a
            category, which twupload always does.
        size: Bytes the service stored.
        expires_after_secs: Lifetime the service granted, counted from *received_at*.
        received_at: When the response arrived, timezone-aware UTC.
        image: Image details, for images.
        video: Video details, for videos.
        processing: Background processing state, for GIFs and videos.
    """

    media_id: int
    media_id_string: str
    media_key: str | None
    size: int | None
    expires_after_secs: int | None
    received_at: dt.datetime
    image: ImageInfo | None = None
    video: VideoInfo | None = None
    processing: ProcessingInfo | None = None

    @property
    def expires_at(self) -> dt.datetime | None:
        """
        When the media can no longer be attached to a post; None if the service did not say.
        """
        if self.expires_after_secs is None:
            return None

        return self.received_at + dt.timedelta(seconds=self.expires_after_secs)

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        """
        Whether *now* (default: the current time) is past `expires_at`.

        Media without a known expiry never counts as expired.
        """
        if (expires_at := self.expires_at) is None:
            return False

        return (now or _now()) >= expires_at

    @classmethod
    def from_payload(
        cls, data: Mapping[str, Any], *, received_at: dt.datetime
    ) -> UploadResult:
        """
        Build a result from a v1.1 body or a v2 ``data`` object.

        Raises:
            KeyError, TypeError, ValueError: The body lacks a usable media id.
        """
        raw_id = data.get("media_id_string") or data.get("media_id") or data["id"]
        media_id = int(raw_id)
        image = data.get("image")
        video = data.get("video")
        processing = data.get("processing_info")
        return cls(
            media_id=media_id,
            media_id_string=str(media_id),
            media_key=data.get("media_key"),
            size=_opt_int(data.get("size")),
            expires_after_secs=_opt_int(data.get("expires_after_secs")),
            received_at=received_at,
            image=ImageInfo(
                image_type=image.get("image_type"),
                w=_opt_int(image.get("w")),
                h=_opt_int(image.get("h")),
            )
            if isinstance(image, dict)
            else None,
            video=VideoInfo(video_type=video.get("video_type"))
            if isinstance(video, dict)
            else None,
            processing=ProcessingInfo.from_payload(processing)
            if isinstance(processing, dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """
    One rate-limit window as the service last reported it.

    Attributes:
        limit: Requests allowed per window.
        remaining: Requests left in the current window.
        reset_at: When the window resets, UTC.
    """

    limit: int
    remaining: int
    reset_at: dt.datetime

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """
        Read the ``x-rate-limit-*`` headers; None unless all three are present and numeric.
        """
        try:
            return cls(
                limit=int(headers["x-rate-limit-limit"]),
                remaining=int(headers["x-rate-limit-remaining"]),
                reset_at=dt.datetime.fromtimestamp(
                    int(headers["x-rate-limit-reset"]), _UTC
                ),
            )
        except (KeyError, ValueError, OverflowError, OSError):
            return None


@dataclass(frozen=True, slots=True)
class ResumeState:
    """
    Everything needed to continue an interrupted chunked upload without a new INIT.

    Attributes:
        media_id: The media the service created at INIT.
        api: The API version that created it, ``"1.1"`` or ``"2"``.
        segment_size: Bytes per APPEND segment (the last may be shorter).
        acknowledged: Segment indexes the service has accepted, ascending.
        total_bytes: Size of the whole source.
        expires_at: When the service discards the unfinished media, UTC.
        media_type: MIME type declared at INIT.
    """

    media_id: int
    api: str
    segment_size: int
    acknowledged: tuple[int, ...]
    total_bytes: int
    expires_at: dt.datetime | None
    media_type: str

    @property
    def segment_count(self) -> int:
        """
        How many segments the whole upload has.
        """
        return max(1, -(-self.total_bytes // self.segment_size))

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        """
        Whether the service has (by its own account) discarded the media.
        """
        return self.expires_at is not None and (now or _now()) >= self.expires_at

    def to_json(self) -> str:
        """
        Serialize, for saving to disk before the process exits.
        """
        return json.dumps(
            {
                "version": 1,
                "media_id": str(self.media_id),
                "api": self.api,
                "segment_size": self.segment_size,
                "acknowledged": list(self.acknowledged),
                "total_bytes": self.total_bytes,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "media_type": self.media_type,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ResumeState:
        """
        Rebuild a state saved by `to_json`.

        Raises:
            ValueError: The text is not a resume state twupload wrote.
        """
        try:
            data = json.loads(text)
            expires = data["expires_at"]
            return cls(
                media_id=int(data["media_id"]),
                api=str(data["api"]),
                segment_size=int(data["segment_size"]),
                acknowledged=tuple(sorted(int(i) for i in data["acknowledged"])),
                total_bytes=int(data["total_bytes"]),
                expires_at=dt.datetime.fromisoformat(expires) if expires else None,
                media_type=str(data["media_type"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Not a twupload resume state: {exc}") from None


@dataclass(frozen=True, slots=True)
class BatchItem(Generic[SourceT]):
    """
    One finished upload of a batch, as `AsyncMediaClient.iter_upload` yields it.

    Attributes:
        index: Position of *source* in the input.
        source: The source as it was given.
        result: The upload's result, None if it failed.
        error: The exception that ended it, None if it succeeded.
    """

    index: int
    source: SourceT
    result: UploadResult | None
    error: Exception | None

    @property
    def ok(self) -> bool:
        """
        Whether this upload succeeded.
        """
        return self.error is None
