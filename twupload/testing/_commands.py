"""
What each command of the v1.1 upload service does, as the emulator implements it.

Every function here runs under `EmulatorState.lock`, takes the request's
parameters (query and body merged) and answers with a `Reply`. Status codes
and error shapes follow what the live service was seen to send: error lists
``{"errors": [{"code", "message"}]}``, the ``{"request", "error"}`` shape for
segment problems, and an empty 413 for an oversized image.
"""

from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._images import HEAD_BYTES, detect
from ._state import Media


if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._body import Received
    from ._images import Detected
    from ._state import EmulatorState


UPLOAD_PATH = "/1.1/media/upload.json"
METADATA_PATH = "/1.1/media/metadata/create.json"

MIB = 1024 * 1024
#: Largest simple upload (a still image), and largest APPEND segment.
MAX_IMAGE_BYTES = 5 * MIB
MAX_SEGMENT_BYTES = 5 * MIB
#: Largest ``total_bytes`` at INIT, by kind of media.
MAX_TOTAL_BYTES = {
    "image": 5 * MIB,
    "gif": 15 * MIB,
    "video": 512 * MIB,
    "subtitles": 5 * MIB,
}
MAX_SEGMENT_INDEX = 999
MAX_OWNERS = 100
MAX_ALT_TEXT = 1000

CATEGORY_KINDS = {
    "tweet_image": "image",
    "dm_image": "image",
    "tweet_gif": "gif",
    "dm_gif": "gif",
    "tweet_video": "video",
    "amplify_video": "video",
    "dm_video": "video",
    "subtitles": "subtitles",
}
TYPE_KINDS = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "image",
    "image/gif": "gif",
    "video/mp4": "video",
    "video/quicktime": "video",
}
#: The ``media_type`` values INIT accepts, by kind of media.
DECLARED = {
    "image": {"image/jpeg", "image/png", "image/webp", "image/gif"},
    "gif": {"image/gif"},
    "video": {"video/mp4", "video/quicktime"},
}


@dataclass(frozen=True, slots=True)
class Reply:
    """
    An answer: a status and a JSON body (None for an empty body).
    """

    status: int
    body: dict[str, Any] | None = None


def error(status: int, code: int, message: str) -> Reply:
    """
    The service's usual error shape.
    """
    return Reply(status, {"errors": [{"code": code, "message": message}]})


def request_error(message: str, *, path: str = UPLOAD_PATH) -> Reply:
    """
    The older ``{"request", "error"}`` shape the upload service uses for segment problems.
    """
    return Reply(400, {"request": path, "error": message})


def _missing(name: str) -> Reply:
    return error(400, 38, f"{name} parameter is missing.")


def _invalid(name: str) -> Reply:
    return error(400, 44, f"{name} parameter is invalid.")


_UNRECOGNIZED = request_error("media type unrecognized.")


def _not_found(media_id: int) -> Reply:
    return error(400, 325, f"Media id {media_id} not found.")


def _number(params: Mapping[str, str], name: str) -> int | Reply:
    value = params.get(name)
    if value is None or value == "":
        return _missing(name)
    if not value.isascii() or not value.isdigit():
        return _invalid(name)
    return int(value)


def _category(params: Mapping[str, str]) -> str | Reply | None:
    category = params.get("media_category") or None
    if category is not None and category not in CATEGORY_KINDS:
        return error(400, 324, f"Invalid media_category {category!r}.")
    return category


def _owners(params: Mapping[str, str]) -> tuple[str, ...] | Reply:
    text = params.get("additional_owners", "").strip()
    if not text:
        return ()
    owners = [owner.strip() for owner in text.split(",")]
    if len(owners) > MAX_OWNERS or not all(
        owner.isascii() and owner.isdigit() and int(owner) > 0 for owner in owners
    ):
        return _invalid("additional_owners")
    return tuple(str(int(owner)) for owner in owners)


def _find(state: EmulatorState, params: Mapping[str, str]) -> Media | Reply:
    media_id = _number(params, "media_id")
    if isinstance(media_id, Reply):
        return media_id
    media = state.find(media_id)
    return _not_found(media_id) if media is None else media


def _fits(kind: str, found: Detected) -> bool:
    if kind == "gif":
        return found.media_type == "image/gif"
    return found.kind == kind


def _mismatch(media: str, what: str) -> Reply:
    return error(400, 324, f"Invalid media: {media} does not fit {what}.")


def _key_of(media: Media) -> dict[str, str]:
    """
    ``{"media_key": ...}`` when the upload named a category, else nothing (as v1.1).
    """
    return {} if media.category is None else {"media_key": media.media_key}


def media_info(state: EmulatorState, media: Media) -> dict[str, Any]:
    """
    The media object the service describes a media with, as of now.
    """
    info: dict[str, Any] = {
        "media_id": media.media_id,
        "media_id_string": str(media.media_id),
        **_key_of(media),
    }
    info["size"] = media.size
    info["expires_after_secs"] = state.expires_after(media)
    if media.finalized and media.kind != "subtitles":
        info.update(_outcome(media))
    return info


def _outcome(media: Media) -> dict[str, Any]:
    plan = media.processing
    if plan is None and media.kind == "video":
        return {"video": {"video_type": media.media_type}}
    if plan is None:
        return {
            "image": {
                "image_type": media.media_type,
                "w": media.width,
                "h": media.height,
            }
        }
    outcome: dict[str, Any] = {}
    if plan.succeeded(media.status_calls):
        # Processing transcodes GIFs and videos to MP4.
        outcome["video"] = {"video_type": "video/mp4"}
    outcome["processing_info"] = plan.info(media.status_calls)
    return outcome


def simple_upload(  # noqa: PLR0911 - one return per refusal
    state: EmulatorState, params: Mapping[str, str], received: Received | None
) -> Reply:
    """
    One-request upload of a still image (or a small GIF without a GIF category).
    """
    if received is None:
        return _missing("media")
    if received.invalid:
        return _invalid(received.field)
    if received.too_large:
        return Reply(413)
    category = _category(params)
    if isinstance(category, Reply):
        return category
    owners = _owners(params)
    if isinstance(owners, Reply):
        return owners
    found = detect(received.head)
    if found is None:
        return _UNRECOGNIZED
    if found.kind == "video":
        return error(
            400, 324, "Video must be uploaded in chunks (INIT, APPEND, FINALIZE)."
        )
    if category is not None and CATEGORY_KINDS[category] != "image":
        return error(
            400, 324, f"media_category {category} needs the chunked upload (INIT)."
        )
    if category is not None and not _fits("image", found):
        return _mismatch("an animated GIF", f"media_category {category}")
    media = Media(
        media_id=state.new_id(),
        kind="image" if category else found.kind,
        chunked=False,
        media_type=found.media_type,
        declared_type=None,
        category=category,
        total_bytes=None,
        created=state.clock(),
        owners=owners,
        data=received.data if state.keep_bytes else None,
        sha256=received.sha256,
        size=received.size,
        width=found.width,
        height=found.height,
        finalized=True,
    )
    state.media[media.media_id] = media
    return Reply(200, media_info(state, media))


def init(state: EmulatorState, params: Mapping[str, str]) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    Start a chunked upload: check the declaration, create the media id.
    """
    total = _number(params, "total_bytes")
    if isinstance(total, Reply):
        return total
    media_type = params.get("media_type", "").strip().lower()
    if not media_type:
        return _missing("media_type")
    category = _category(params)
    if isinstance(category, Reply):
        return category
    owners = _owners(params)
    if isinstance(owners, Reply):
        return owners
    if category == "subtitles":
        kind = "subtitles"
    elif media_type not in TYPE_KINDS:
        return _UNRECOGNIZED
    else:
        kind = CATEGORY_KINDS[category] if category else TYPE_KINDS[media_type]
        if media_type not in DECLARED[kind]:
            return _mismatch(f"media_type {media_type}", f"media_category {category}")
    if total == 0:
        return _invalid("total_bytes")
    if total > MAX_TOTAL_BYTES[kind]:
        return error(400, 324, f"File size exceeds {MAX_TOTAL_BYTES[kind]} bytes.")
    media = Media(
        media_id=state.new_id(),
        kind=kind,
        chunked=True,
        media_type=media_type,
        declared_type=media_type,
        category=category,
        total_bytes=total,
        created=state.clock(),
        owners=owners,
        shared=params.get("shared", "").lower() == "true",
    )
    state.media[media.media_id] = media
    return Reply(
        202,
        {
            "media_id": media.media_id,
            "media_id_string": str(media.media_id),
            "expires_after_secs": state.expires_after(media),
            **_key_of(media),
        },
    )


def append(  # noqa: PLR0911 - one return per refusal
    state: EmulatorState, params: Mapping[str, str], received: Received | None
) -> Reply:
    """
    Store one segment of a chunked upload; 204 with an empty body.
    """
    media = _find(state, params)
    if isinstance(media, Reply):
        return media
    index = _number(params, "segment_index")
    if isinstance(index, Reply):
        return index
    if index > MAX_SEGMENT_INDEX:
        return request_error("SegmentIndex must be between 0 and 999.")
    if received is None:
        return _missing("media")
    if received.invalid:
        return _invalid(received.field)
    if received.too_large:
        return request_error(f"Segment size exceeds {MAX_SEGMENT_BYTES} bytes.")
    if media.finalized:
        return error(400, 324, f"Media id {media.media_id} is already finalized.")
    media.add_segment(index, received, keep=state.keep_bytes)
    return Reply(204)


def finalize(state: EmulatorState, params: Mapping[str, str]) -> Reply:
    """
    Close a chunked upload: check the bytes, then start processing if it applies.

    A repeated FINALIZE answers with the media's current state.
    """
    media = _find(state, params)
    if isinstance(media, Reply):
        return media
    if media.finalized:
        return Reply(201, media_info(state, media))
    if media.size != media.total_bytes:
        return request_error("Segments do not add up to provided total file size.")
    data = media.assembled() if state.keep_bytes else None
    head = data[:HEAD_BYTES] if data is not None else media.head()
    if media.kind != "subtitles":
        found = detect(head)
        if found is None:
            return _UNRECOGNIZED
        if not _fits(media.kind, found):
            declared = media.category or f"media_type {media.declared_type}"
            return _mismatch(f"the {found.media_type} bytes", declared)
        media.media_type = found.media_type
        media.width, media.height = found.width, found.height
    media.data = data
    media.sha256 = (
        hashlib.sha256(data).hexdigest() if data is not None else media.stream_digest()
    )
    for segment in media.segments.values():
        segment.data = None
    media.finalized = True
    if media.category is not None and media.kind in {"gif", "video"}:
        media.processing = state.processing
    return Reply(201, media_info(state, media))


def status(state: EmulatorState, params: Mapping[str, str]) -> Reply:
    """
    Report a media's state; each call moves background processing one step on.
    """
    media = _find(state, params)
    if isinstance(media, Reply):
        return media
    if media.processing is not None:
        media.status_calls += 1
    return Reply(200, media_info(state, media))


def metadata(state: EmulatorState, body: bytes | None) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    Attach alt text to an uploaded image or GIF; 200 with an empty body.
    """
    try:
        payload = json.loads(body or b"")
    except ValueError:
        return error(400, 44, "The body is not valid JSON.")
    if not isinstance(payload, dict):
        return error(400, 44, "The body must be a JSON object.")
    raw_id = payload.get("media_id")
    media = _find(state, {"media_id": str(raw_id)} if raw_id is not None else {})
    if isinstance(media, Reply):
        return media
    alt_text = payload.get("alt_text")
    text = alt_text.get("text") if isinstance(alt_text, dict) else None
    if not isinstance(text, str):
        return _missing("alt_text.text")
    if len(text) > MAX_ALT_TEXT:
        return error(
            400, 44, f"alt_text.text is longer than {MAX_ALT_TEXT} characters."
        )
    if not media.finalized:
        return error(400, 324, f"Media id {media.media_id} is not finalized.")
    if media.kind not in {"image", "gif"}:
        return error(400, 324, "Alt text applies to images and GIFs only.")
    media.alt_text = text
    return Reply(200)
