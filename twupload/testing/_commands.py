"""
What each command of the upload service does, and how v1.1 answers.

The work of a command (checking a declaration, storing a segment, finalizing,
reporting processing) is shared by both API versions and refuses with a
`Refusal`, which says what is wrong without an API's shape. The v1.1 handlers
here take the request's parameters (query and body merged) and render answers
and refusals the way the live v1.1 service was seen to: error lists
``{"errors": [{"code", "message"}]}``, the ``{"request", "error"}`` shape for
segment problems, and an empty 413 for an oversized image. `_v2` renders the
same work in v2's shapes.

Every function here runs under `EmulatorState.lock`.
"""

from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _problems as problems
from ._images import HEAD_BYTES, Detected, detect
from ._records import EARLY_STATUS
from ._state import Media


if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._body import Received
    from ._state import EmulatorState


UPLOAD_PATH = "/1.1/media/upload.json"
METADATA_PATH = "/1.1/media/metadata/create.json"
SUBTITLES_CREATE_PATH = "/1.1/media/subtitles/create.json"
SUBTITLES_DELETE_PATH = "/1.1/media/subtitles/delete.json"
#: The ``media_category`` the subtitles endpoints take: the video's, in CamelCase.
SUBTITLED_CATEGORIES = {"TweetVideo": "tweet_video", "AmplifyVideo": "amplify_video"}

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
#: Types only v2's initialize lists (spec 2.167), told apart by their first bytes.
V2_TYPE_KINDS = {
    "image/bmp": "image",
    "image/tiff": "image",
    "video/webm": "video",
    "video/mp2t": "video",
}
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)
_TS_PACKET = 188
#: Kinds whose media is processed in the background, when a category asks for it.
PROCESSED_KINDS = frozenset({"gif", "video"})


@dataclass(frozen=True, slots=True)
class Reply:
    """
    An answer: a status and a JSON body (None for an empty body).

    Attributes:
        content_type: The body's media type (charset utf-8 is added).
        media_id: The media the answer is about, for the request log.
        note: What the request log should note about it.
    """

    status: int
    body: dict[str, Any] | None = None
    content_type: str = "application/json"
    media_id: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """
    A request the service turns down, before it is put in an API version's shape.

    Attributes:
        message: What is wrong, for people.
        code: v1.1's error code; None for v1.1's ``{"request", "error"}`` shape.
        parameter: The parameter at fault, for v2's ``errors[].parameters``.
        value: Its value as received.
        status: The HTTP status.
    """

    message: str
    code: int | None = None
    parameter: str | None = None
    value: object = None
    status: int = 400


def error(status: int, code: int, message: str) -> Reply:
    """
    The service's usual error shape.
    """
    return Reply(status, problems.v1_error(code, message))


def request_error(message: str, *, path: str = UPLOAD_PATH) -> Reply:
    """
    The older ``{"request", "error"}`` shape the upload service uses for segment problems.
    """
    return Reply(400, {"request": path, "error": message})


def v1(refusal: Refusal) -> Reply:
    """
    A refusal in v1.1's shape.
    """
    if refusal.code is None:
        return request_error(refusal.message)
    return error(refusal.status, refusal.code, refusal.message)


def missing(name: str) -> Refusal:
    return Refusal(f"{name} parameter is missing.", 38, name)


def invalid(name: str, value: object = None) -> Refusal:
    return Refusal(f"{name} parameter is invalid.", 44, name, value)


UNRECOGNIZED = Refusal("media type unrecognized.")


def not_found(media_id: int, parameter: str = "media_id") -> Refusal:
    return Refusal(f"Media id {media_id} not found.", 325, parameter, str(media_id))


def mismatch(media: str, what: str) -> Refusal:
    return Refusal(f"Invalid media: {media} does not fit {what}.", 324)


def bad_category(category: str) -> Refusal:
    return Refusal(
        f"Invalid media_category {category!r}.", 324, "media_category", category
    )


def number(params: Mapping[str, str], name: str) -> int | Refusal:
    """
    A decimal parameter; a refusal when it is missing or not digits.
    """
    value = params.get(name)
    if value is None or value == "":
        return missing(name)
    if not value.isascii() or not value.isdigit():
        return invalid(name, value)
    return int(value)


def _category(params: Mapping[str, str]) -> str | Refusal | None:
    category = params.get("media_category") or None
    if category is not None and category not in CATEGORY_KINDS:
        return bad_category(category)
    return category


def owners_of(ids: list[str]) -> tuple[str, ...] | Refusal:
    """
    User ids for ``additional_owners``: at most `MAX_OWNERS`, each a positive number.
    """
    if len(ids) > MAX_OWNERS or not all(
        owner.isascii() and owner.isdigit() and int(owner) > 0 for owner in ids
    ):
        return invalid("additional_owners", ",".join(ids))
    return tuple(str(int(owner)) for owner in ids)


def owners_text(text: str) -> tuple[str, ...] | Refusal:
    """
    ``additional_owners`` as a comma-separated list.
    """
    text = text.strip()
    if not text:
        return ()
    return owners_of([owner.strip() for owner in text.split(",")])


def find(
    state: EmulatorState, media_id: int, parameter: str = "media_id"
) -> Media | Refusal:
    """
    The media with *media_id*, or the refusal of an unknown or expired one.
    """
    media = state.find(media_id)
    return not_found(media_id, parameter) if media is None else media


def _find(state: EmulatorState, params: Mapping[str, str]) -> Media | Refusal:
    media_id = number(params, "media_id")
    if isinstance(media_id, Refusal):
        return media_id
    return find(state, media_id)


def fits(kind: str, found: Detected) -> bool:
    """
    Whether the bytes found are of *kind* (an animated GIF is a ``gif``).
    """
    if kind == "gif":
        return found.media_type == "image/gif"
    return found.kind == kind


def _detect_v2_only(head: bytes) -> Detected | None:
    """
    Identify BMP, TIFF, WebM and MPEG-TS, which only v2 accepts.
    """
    if head[:4] in {b"II*\x00", b"MM\x00*"}:
        return Detected("image/tiff", "image")
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        width = int.from_bytes(head[18:22], "little", signed=True)
        height = int.from_bytes(head[22:26], "little", signed=True)
        return Detected("image/bmp", "image", abs(width), abs(height))
    if head[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in head[:64]:
        return Detected("video/webm", "video")
    packets = head[: 4 * _TS_PACKET : _TS_PACKET]
    if len(packets) > 1 and set(packets) == {0x47}:
        return Detected("video/mp2t", "video")
    return None


def detect_media(head: bytes, api: str) -> Detected | None:
    """
    The type of *head*, from the types the API version accepts.
    """
    found = detect(head)
    if found is None and api == "2":
        return _detect_v2_only(head)
    return found


def _key_of(media: Media) -> dict[str, str]:
    """
    ``{"media_key": ...}`` when the upload named a category, else nothing (as v1.1).
    """
    return {} if media.category is None else {"media_key": media.media_key}


def media_info(state: EmulatorState, media: Media) -> dict[str, Any]:
    """
    The media object v1.1 describes a media with, as of now.
    """
    info: dict[str, Any] = {
        "media_id": media.media_id,
        "media_id_string": str(media.media_id),
        **_key_of(media),
    }
    info["size"] = media.size
    info["expires_after_secs"] = state.expires_after(media)
    info.update(outcome(state, media))
    return info


def outcome(state: EmulatorState, media: Media) -> dict[str, Any]:
    """
    What a finalized media reports about itself: ``image``, ``video``, ``processing_info``.
    """
    if not media.finalized or media.kind == "subtitles":
        return {}
    info = media.processing_info(state.clock())
    if info is None and media.kind == "video":
        return {"video": {"video_type": media.media_type}}
    if info is None:
        return {
            "image": {
                "image_type": media.media_type,
                "w": media.width,
                "h": media.height,
            }
        }
    found: dict[str, Any] = {}
    if info["state"] == "succeeded":
        # Processing transcodes GIFs and videos to MP4.
        found["video"] = {"video_type": "video/mp4"}
    found["processing_info"] = info
    return found


def store_upload(
    state: EmulatorState,
    received: Received,
    found: Detected,
    *,
    kind: str,
    category: str | None,
    owners: tuple[str, ...],
    api: str,
) -> Media:
    """
    Keep a one-request upload, and start its processing when its category asks for it.
    """
    media = Media(
        media_id=state.new_id(),
        kind=kind,
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
        api=api,
    )
    state.media[media.media_id] = media
    if category is not None and kind in PROCESSED_KINDS:
        media.start_processing(state.processing, state.clock())
    return media


def simple_upload(  # noqa: PLR0911 - one return per refusal
    state: EmulatorState, params: Mapping[str, str], received: Received | None
) -> Reply:
    """
    One-request upload of a still image (or a small GIF without a GIF category).
    """
    if received is None:
        return v1(missing("media"))
    if received.invalid:
        return v1(invalid(received.field))
    if received.too_large:
        return Reply(413)
    category = _category(params)
    if isinstance(category, Refusal):
        return v1(category)
    owners = owners_text(params.get("additional_owners", ""))
    if isinstance(owners, Refusal):
        return v1(owners)
    found = detect(received.head)
    if found is None:
        return v1(UNRECOGNIZED)
    if found.kind == "video":
        return error(
            400, 324, "Video must be uploaded in chunks (INIT, APPEND, FINALIZE)."
        )
    if category is not None and CATEGORY_KINDS[category] != "image":
        return error(
            400, 324, f"media_category {category} needs the chunked upload (INIT)."
        )
    if category is not None and not fits("image", found):
        return v1(mismatch("an animated GIF", f"media_category {category}"))
    media = store_upload(
        state,
        received,
        found,
        kind="image" if category else found.kind,
        category=category,
        owners=owners,
        api="1.1",
    )
    return Reply(200, media_info(state, media))


def declared_kind(
    media_type: str, category: str | None, *, api: str = "1.1"
) -> str | Refusal:
    """
    The kind of media an INIT declares, checked against its category.
    """
    if category == "subtitles":
        return "subtitles"
    kinds = {**TYPE_KINDS, **V2_TYPE_KINDS} if api == "2" else TYPE_KINDS
    if media_type not in kinds:
        return UNRECOGNIZED
    kind = CATEGORY_KINDS[category] if category else kinds[media_type]
    extra = {t for t, k in V2_TYPE_KINDS.items() if k == kind} if api == "2" else set()
    if media_type not in DECLARED[kind] | extra:
        return mismatch(f"media_type {media_type}", f"media_category {category}")
    return kind


def too_big(kind: str, total: int, limits: Mapping[str, int]) -> Refusal | None:
    """
    The refusal of a ``total_bytes`` over the limit for *kind*, if it is.
    """
    if total <= limits[kind]:
        return None
    return Refusal(
        f"File size exceeds {limits[kind]} bytes.", 324, "total_bytes", str(total)
    )


def start_upload(
    state: EmulatorState,
    *,
    kind: str,
    media_type: str,
    category: str | None,
    total: int,
    owners: tuple[str, ...],
    shared: bool,
    api: str,
) -> Media:
    """
    Create the media of a chunked upload.
    """
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
        shared=shared,
        api=api,
    )
    state.media[media.media_id] = media
    return media


def init(state: EmulatorState, params: Mapping[str, str]) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    Start a chunked upload: check the declaration, create the media id.
    """
    total = number(params, "total_bytes")
    if isinstance(total, Refusal):
        return v1(total)
    media_type = params.get("media_type", "").strip().lower()
    if not media_type:
        return v1(missing("media_type"))
    category = _category(params)
    if isinstance(category, Refusal):
        return v1(category)
    owners = owners_text(params.get("additional_owners", ""))
    if isinstance(owners, Refusal):
        return v1(owners)
    kind = declared_kind(media_type, category)
    if isinstance(kind, Refusal):
        return v1(kind)
    if total == 0:
        return v1(invalid("total_bytes"))
    refused = too_big(kind, total, MAX_TOTAL_BYTES)
    if refused is not None:
        return v1(refused)
    media = start_upload(
        state,
        kind=kind,
        media_type=media_type,
        category=category,
        total=total,
        owners=owners,
        shared=params.get("shared", "").lower() == "true",
        api="1.1",
    )
    return Reply(
        202,
        {
            "media_id": media.media_id,
            "media_id_string": str(media.media_id),
            "expires_after_secs": state.expires_after(media),
            **_key_of(media),
        },
    )


def add_segment(
    state: EmulatorState, media: Media, index: int, received: Received | None
) -> Refusal | None:
    """
    Store one segment of a chunked upload, unless something is wrong with it.
    """
    if not 0 <= index <= MAX_SEGMENT_INDEX:
        return Refusal(
            "SegmentIndex must be between 0 and 999.",
            parameter="segment_index",
            value=str(index),
        )
    if received is None:
        return missing("media")
    if received.invalid:
        return invalid(received.field)
    if received.too_large:
        return Refusal(
            f"Segment size exceeds {MAX_SEGMENT_BYTES} bytes.", parameter="media"
        )
    if media.finalized:
        return Refusal(f"Media id {media.media_id} is already finalized.", 324)
    media.add_segment(index, received, keep=state.keep_bytes)
    return None


def append(
    state: EmulatorState, params: Mapping[str, str], received: Received | None
) -> Reply:
    """
    Store one segment of a chunked upload; 204 with an empty body.
    """
    media = _find(state, params)
    if isinstance(media, Refusal):
        return v1(media)
    index = number(params, "segment_index")
    if isinstance(index, Refusal):
        return v1(index)
    refused = add_segment(state, media, index, received)
    return Reply(204) if refused is None else v1(refused)


def complete(state: EmulatorState, media: Media) -> Refusal | None:
    """
    Close a chunked upload: check the bytes, then start processing if it applies.

    Finalizing again changes nothing.
    """
    if media.finalized:
        return None
    if media.size != media.total_bytes:
        return Refusal("Segments do not add up to provided total file size.")
    data = media.assembled() if state.keep_bytes else None
    head = data[:HEAD_BYTES] if data is not None else media.head()
    if media.kind != "subtitles":
        found = detect_media(head, media.api)
        if found is None:
            return UNRECOGNIZED
        if not fits(media.kind, found):
            declared = media.category or f"media_type {media.declared_type}"
            return mismatch(f"the {found.media_type} bytes", declared)
        media.media_type = found.media_type
        media.width, media.height = found.width, found.height
    media.data = data
    media.sha256 = (
        hashlib.sha256(data).hexdigest() if data is not None else media.stream_digest()
    )
    for segment in media.segments.values():
        segment.data = None
    media.pending.clear()
    media.finalized = True
    processed = media.category is not None or media.api == "2"
    if processed and media.kind in PROCESSED_KINDS:
        media.start_processing(state.processing, state.clock())
    return None


def finalize(state: EmulatorState, params: Mapping[str, str]) -> Reply:
    """
    Close a chunked upload; a repeated FINALIZE answers with the media's current state.
    """
    media = _find(state, params)
    if isinstance(media, Refusal):
        return v1(media)
    refused = complete(state, media)
    return Reply(201, media_info(state, media)) if refused is None else v1(refused)


def poll(state: EmulatorState, media: Media) -> str | None:
    """
    Count a STATUS of *media*; return the log note of an early one.
    """
    return EARLY_STATUS if media.poll(state.clock()) else None


def status(state: EmulatorState, params: Mapping[str, str]) -> Reply:
    """
    Report a media's state as of now (processing moves with the clock, not with STATUS).
    """
    media = _find(state, params)
    if isinstance(media, Refusal):
        return v1(media)
    note = poll(state, media)
    return Reply(200, media_info(state, media), note=note)


def alt_text(media: Media, text: object) -> Refusal | None:
    """
    Attach alt text to a finalized image or GIF, unless the text or the media does not fit.
    """
    if not isinstance(text, str):
        return missing("alt_text.text")
    if len(text) > MAX_ALT_TEXT:
        return Refusal(
            f"alt_text.text is longer than {MAX_ALT_TEXT} characters.",
            44,
            "alt_text.text",
            text,
        )
    if not media.finalized:
        return Refusal(f"Media id {media.media_id} is not finalized.", 324)
    if media.kind not in {"image", "gif"}:
        return Refusal("Alt text applies to images and GIFs only.", 324)
    media.alt_text = text
    return None


def metadata(state: EmulatorState, body: bytes | None) -> Reply:
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
    if isinstance(media, Refusal):
        return v1(media)
    given = payload.get("alt_text")
    refused = alt_text(media, given.get("text") if isinstance(given, dict) else None)
    return Reply(200) if refused is None else v1(refused)


def check_subtitles(
    video: Media,
    category: object,
    language_code: object,
    subtitles: Media | None = None,
) -> Refusal | None:
    """
    What is wrong with a subtitles association (both API versions), if anything.

    *subtitles* is the subtitles media to associate; None when deleting.
    """
    if video.kind != "video":
        return Refusal(f"Media {video.media_id} is not a video.", 324)
    if category not in SUBTITLED_CATEGORIES:
        return invalid("media_category", category)
    if not isinstance(language_code, str) or not language_code.strip():
        return invalid("language_code", language_code)
    if subtitles is not None and subtitles.kind != "subtitles":
        return Refusal(f"Media {subtitles.media_id} is not subtitles.", 324)
    return None


def subtitles(state: EmulatorState, body: bytes | None, *, create: bool) -> Reply:
    """
    ``POST media/subtitles/create.json`` / ``delete.json``: 200 with an empty body.
    """
    try:
        payload = json.loads(body or b"")
    except ValueError:
        return error(400, 44, "The body is not valid JSON.")
    if not isinstance(payload, dict):
        return error(400, 44, "The body must be a JSON object.")
    video = _find(state, _id_param(payload.get("media_id")))
    if isinstance(video, Refusal):
        return v1(video)
    info = payload.get("subtitle_info")
    listed = info.get("subtitles") if isinstance(info, dict) else None
    if not (
        isinstance(listed, list) and len(listed) == 1 and isinstance(listed[0], dict)
    ):
        return v1(invalid("subtitle_info"))
    entry = listed[0]
    track: Media | None = None
    if create:
        found = _find(state, _id_param(entry.get("media_id")))
        if isinstance(found, Refusal):
            return v1(found)
        track = found
    refusal = check_subtitles(
        video, payload.get("media_category"), entry.get("language_code"), track
    )
    return Reply(200) if refusal is None else v1(refusal)


def _id_param(value: object) -> dict[str, str]:
    return {} if value is None else {"media_id": str(value)}
