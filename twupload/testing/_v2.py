"""
The X API v2 media endpoints, as the emulator implements them.

Requests and answers follow X's OpenAPI spec 2.167 (2026-08-07, ``openapi.json``
of xdevplatform/docs): one path per step, JSON or multipart bodies, answers
wrapped in ``{"data": ...}`` with the id as a string, and errors as problem
documents (`_problems`). The work itself (checks, storage, processing) is
v1.1's, shared through `_commands`; only the shapes differ.

Every handler runs under `EmulatorState.lock`.
"""

from __future__ import annotations

import json
import math
import re

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _commands as commands
from . import _problems as problems
from ._body import Sink
from ._commands import CATEGORY_KINDS, MIB, Refusal, Reply
from ._images import Detected


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from hashlib import _Hash

    from ._body import Received
    from ._state import EmulatorState, Media


UPLOAD_PATH = "/2/media/upload"
INITIALIZE_PATH = "/2/media/upload/initialize"
METADATA_PATH = "/2/media/metadata"
SUBTITLES_PATH = "/2/media/subtitles"
TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 - a path, not a secret
#: ``/2/media/upload/{id}/append`` and ``.../finalize``.
STEP_PATH = re.compile(r"/2/media/upload/(?P<id>[^/]+)/(?P<step>append|finalize)")
#: The pattern ids follow in the spec (``MediaId``, path ``id``).
ID_PATTERN = re.compile(r"[0-9]{1,19}")
ID_PATTERN_TEXT = "^[0-9]{1,19}$"

#: ``media_category`` of the one-shot upload (``MediaUploadRequest``, 2.167).
ONE_SHOT_CATEGORIES = (
    "tweet_image",
    "tweet_video",
    "tweet_gif",
    "dm_image",
    "dm_video",
    "dm_gif",
    "subtitles",
)
#: ``media_category`` of initialize (``InitializeMediaUploadRequest``).
CATEGORIES = (
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
)
#: ``media_type`` of initialize; the emulator can check the bytes of only some.
MEDIA_TYPES = (
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    "model/gltf-binary",
    "model/vnd.usdz+zip",
)
EMULATED_TYPES = frozenset(
    {*commands.TYPE_KINDS, *commands.V2_TYPE_KINDS, "image/pjpeg"}
)
SUBTITLE_TYPES = ("text/srt", "text/vtt")
#: Largest ``total_bytes`` (the spec's maximum: 16 GiB), and the smaller
#: limits of images and GIFs (the media introduction page: 5 MB, 15 MB).
MAX_TOTAL_BYTES = {
    "image": 5 * MIB,
    "gif": 15 * MIB,
    "video": 17_179_869_184,
    "subtitles": 5 * MIB,
}
#: Largest one-shot upload, by kind; the spec names no size, so the images'
#: and GIFs' limits apply, and GIF's to a one-shot video.
ONE_SHOT_BYTES = {"image": 5 * MIB, "gif": 15 * MIB, "video": 15 * MIB}
#: What a one-shot media part may hold before it is refused (the largest of
#: `ONE_SHOT_BYTES`; the category may arrive after the media).
ONE_SHOT_LIMIT = 15 * MIB
#: Largest JSON body of the one-shot upload and of append (base64 media).
MAX_JSON_MEDIA_BYTES = 4 * ONE_SHOT_LIMIT // 3 + 64 * 1024

_ONE_SHOT_FIELDS = {"media", "media_category", "additional_owners"}
#: Fields the one-shot upload took until spec 2.167 dropped them (2.166:
#: ``media_type``, ``shared``); still accepted, see the emulator's docs.
_ONE_SHOT_LEGACY = {"media_type", "shared"}
_INITIALIZE_FIELDS = {
    "total_bytes",
    "media_type",
    "media_category",
    "additional_owners",
    "shared",
}
_APPEND_FIELDS = {"media", "segment_index"}
_STATUS_PARAMETERS = ("media_id", "command")


@dataclass(frozen=True, slots=True)
class Payload:
    """
    What a v2 request body held, as the server read it.

    Attributes:
        form: ``"multipart"``, ``"json"``, ``"empty"``, or the other media type sent.
        fields: Text fields of a multipart body.
        received: The ``media`` part of a multipart body.
        raw: A JSON body's bytes.
        media_parts: How many ``media`` parts a multipart body had.
    """

    form: str
    fields: Mapping[str, str] = field(default_factory=dict)
    received: Received | None = None
    raw: bytes | None = None
    media_parts: int = 0


def problem(body: dict[str, Any], status: int) -> Reply:
    """
    A problem document as an answer.
    """
    return Reply(status, body, content_type="application/problem+json")


def refused(refusal: Refusal) -> Reply:
    """
    A shared refusal in v2's shape: an invalid-request problem naming the parameter.
    """
    return problem(
        problems.invalid_request(refusal.message, refusal.parameter, refusal.value),
        refusal.status,
    )


def bad(message: str, parameter: str | None = None, value: object = None) -> Reply:
    """
    An invalid-request problem (HTTP 400).
    """
    return problem(problems.invalid_request(message, parameter, value), 400)


def unauthorized() -> Reply:
    """
    401: no credentials, or ones the service does not accept.
    """
    return problem(problems.blank_problem(401), 401)


def forbidden(detail: str) -> Reply:
    """
    403: the credentials are good, but not for this.
    """
    return problem(problems.blank_problem(403, detail), 403)


def too_many_requests() -> Reply:
    """
    429: the endpoint's rate-limit window is spent.
    """
    return problem(problems.blank_problem(429), 429)


def _required(name: str) -> Reply:
    return bad(f"The `{name}` field is required.", name, "")


def _not_one_of(name: str, value: object, choices: Sequence[str]) -> Reply:
    return bad(
        f"The `{name}` value [{value}] is not one of [{','.join(choices)}].",
        name,
        value,
    )


def _wrong_type(name: str, value: object, expected: str) -> Reply:
    return bad(f"The `{name}` field must be {expected}.", name, value)


def _unknown(names: set[str], allowed: set[str]) -> Reply | None:
    extra = sorted(names - allowed)
    if not extra:
        return None
    return bad(
        f"The field [{extra[0]}] is not one of [{','.join(sorted(allowed))}].",
        extra[0],
        "",
    )


def _not_json(payload: Payload) -> Reply:
    return bad(
        "Request body is not valid JSON."
        if payload.form == "json"
        else f"The body must be JSON, not {payload.form}."
    )


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _id(value: object, name: str) -> int | Reply:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        return bad(
            f"The `{name}` value [{value}] does not match {ID_PATTERN_TEXT}.",
            name,
            value,
        )
    return int(value)


def _find(state: EmulatorState, value: object, name: str) -> Media | Reply:
    media_id = _id(value, name)
    if isinstance(media_id, Reply):
        return media_id
    media = commands.find(state, media_id, name)
    return refused(media) if isinstance(media, Refusal) else media


def _decode(
    state: EmulatorState, text: object, limit: int, continues: _Hash | None = None
) -> Received | Reply:
    """
    Base64 ``media`` from a JSON body, decoded like a streamed part.
    """
    if not isinstance(text, str):
        return _wrong_type("media", "", "a base64 string")
    sink = Sink(
        field="media_data", keep=state.keep_bytes, limit=limit, continues=continues
    )
    sink.write(text.encode("ascii", errors="replace"))
    received = sink.close()
    if received.invalid:
        return bad("The `media` field is not valid base64.", "media", "")
    return received


def data(state: EmulatorState, media: Media) -> dict[str, Any]:
    """
    The ``data`` object v2 describes a media with, as of now.
    """
    return {
        "id": str(media.media_id),
        "media_key": media.media_key,
        "size": media.size,
        "expires_after_secs": state.expires_after(media),
        **commands.outcome(state, media),
    }


def _ok(body: dict[str, Any], media: Media, note: str | None = None) -> Reply:
    return Reply(200, {"data": body}, media_id=media.media_id, note=note)


def _owners(value: object, *, listed: bool) -> tuple[str, ...] | Reply:
    """
    ``additional_owners``: a comma-separated string (one-shot), or a list (initialize).
    """
    if listed:
        if not isinstance(value, list) or not all(
            isinstance(owner, str) and ID_PATTERN.fullmatch(owner) for owner in value
        ):
            return _wrong_type("additional_owners", value, "a list of user id strings")
        found = commands.owners_of(value)
    elif not isinstance(value, str):
        return _wrong_type(
            "additional_owners", value, "a comma-separated string of user ids"
        )
    else:
        found = commands.owners_text(value)
    return refused(found) if isinstance(found, Refusal) else found


def _shared(value: object) -> bool | Reply:
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if not isinstance(value, bool):
        return _wrong_type("shared", value, "a boolean")
    return value


def _one_shot_fields(
    state: EmulatorState, payload: Payload
) -> tuple[dict[str, Any], Received | None] | Reply:
    """
    The one-shot upload's fields, from a multipart or a JSON body.
    """
    if payload.form == "multipart":
        if payload.media_parts > 1:
            return bad("Send one `media` part.", "media", "")
        return dict(payload.fields), payload.received
    if payload.form != "json":
        return bad(f"The body must be multipart/form-data or JSON, not {payload.form}.")
    body = _json_object(payload.raw)
    if body is None:
        return _not_json(payload)
    if "media" not in body:
        return dict(body), None
    received = _decode(state, body.pop("media"), ONE_SHOT_LIMIT)
    return received if isinstance(received, Reply) else (dict(body), received)


def _one_shot_media(received: Received, kind: str, category: str) -> Detected | Reply:
    """
    What the one-shot media is, checked against its size limit and category.
    """
    if received.too_large or received.size > ONE_SHOT_BYTES.get(kind, 5 * MIB):
        return Reply(413)
    if kind == "subtitles":
        return Detected("text/plain", "subtitles")
    found = commands.detect_media(received.head, "2")
    if found is None:
        return refused(commands.UNRECOGNIZED)
    if not commands.fits(kind, found):
        return refused(
            commands.mismatch(
                f"the {found.media_type} bytes", f"media_category {category}"
            )
        )
    return found


def one_shot(state: EmulatorState, payload: Payload) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    ``POST /2/media/upload``: a whole media in one request, with a category.
    """
    parsed = _one_shot_fields(state, payload)
    if isinstance(parsed, Reply):
        return parsed
    fields, received = parsed
    unknown = _unknown(
        {*fields, *(["media"] if received else [])},
        _ONE_SHOT_FIELDS | _ONE_SHOT_LEGACY,
    )
    if unknown is not None:
        return unknown
    if received is None:
        return _required("media")
    category = fields.get("media_category")
    if category is None or category == "":
        return _required("media_category")
    if category not in ONE_SHOT_CATEGORIES:
        return _not_one_of("media_category", category, ONE_SHOT_CATEGORIES)
    owners = _owners(fields.get("additional_owners", ""), listed=False)
    if isinstance(owners, Reply):
        return owners
    shared = _shared(fields.get("shared", False))
    if isinstance(shared, Reply):
        return shared
    kind = CATEGORY_KINDS[category]
    found = _one_shot_media(received, kind, category)
    if isinstance(found, Reply):
        return found
    media = commands.store_upload(
        state,
        received,
        found,
        kind=kind,
        category=category,
        owners=owners,
        api="2",
    )
    media.shared = shared
    return _ok(data(state, media), media)


def _initialize_fields(fields: dict[str, Any]) -> tuple[int, str, str | None] | Reply:  # noqa: PLR0911 - one return per refusal
    total = fields.get("total_bytes")
    if total is None:
        return _required("total_bytes")
    if isinstance(total, bool) or not isinstance(total, int):
        return _wrong_type("total_bytes", total, "an integer")
    if not 0 <= total <= MAX_TOTAL_BYTES["video"]:
        return bad(
            f"The `total_bytes` value [{total}] is not between 0 and "
            f"{MAX_TOTAL_BYTES['video']}.",
            "total_bytes",
            total,
        )
    media_type = fields.get("media_type")
    if media_type is None:
        return _required("media_type")
    if media_type not in MEDIA_TYPES:
        return _not_one_of("media_type", media_type, MEDIA_TYPES)
    category = fields.get("media_category")
    if category is not None and category not in CATEGORIES:
        return _not_one_of("media_category", category, CATEGORIES)
    if media_type not in EMULATED_TYPES and not (
        category == "subtitles" and media_type in SUBTITLE_TYPES
    ):
        return bad(
            f"The emulator cannot check {media_type} media; use JPEG, PNG, GIF, "
            "WEBP, BMP, TIFF, MP4, MOV, WebM or MPEG-TS (or text/srt, text/vtt with "
            "media_category subtitles).",
            "media_type",
            media_type,
        )
    return total, media_type, category


def initialize(state: EmulatorState, payload: Payload) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    ``POST /2/media/upload/initialize``: declare a chunked upload (JSON), get its id.
    """
    fields = _json_object(payload.raw) if payload.form == "json" else None
    if fields is None:
        return _not_json(payload)
    unknown = _unknown(set(fields), _INITIALIZE_FIELDS)
    if unknown is not None:
        return unknown
    declared = _initialize_fields(fields)
    if isinstance(declared, Reply):
        return declared
    total, media_type, category = declared
    owners = _owners(fields.get("additional_owners", []), listed=True)
    if isinstance(owners, Reply):
        return owners
    shared = _shared(fields.get("shared", False))
    if isinstance(shared, Reply):
        return shared
    declared_type = "image/jpeg" if media_type == "image/pjpeg" else media_type
    kind = commands.declared_kind(declared_type, category, api="2")
    if isinstance(kind, Refusal):
        return refused(kind)
    too_big = commands.too_big(kind, total, MAX_TOTAL_BYTES)
    if too_big is not None:
        return refused(too_big)
    media = commands.start_upload(
        state,
        kind=kind,
        media_type=declared_type,
        category=category,
        total=total,
        owners=owners,
        shared=shared,
        api="2",
    )
    return _ok(
        {
            "id": str(media.media_id),
            "media_key": media.media_key,
            "expires_after_secs": state.expires_after(media),
        },
        media,
    )


def _segment_index(value: object) -> int | Reply:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return _wrong_type("segment_index", value, "an integer")
    return value


def _append_fields(  # noqa: PLR0911 - one return per refusal
    state: EmulatorState, payload: Payload, media: Media
) -> tuple[object, Received | None] | Reply:
    if payload.form == "multipart":
        if payload.media_parts > 1:
            return bad("Send one `media` part.", "media", "")
        unknown = _unknown(
            {*payload.fields, *(["media"] if payload.received else [])},
            _APPEND_FIELDS,
        )
        return unknown or (payload.fields.get("segment_index"), payload.received)
    if payload.form != "json":
        return bad(f"The body must be multipart/form-data or JSON, not {payload.form}.")
    body = _json_object(payload.raw)
    if body is None:
        return _not_json(payload)
    unknown = _unknown(set(body), _APPEND_FIELDS)
    if unknown is not None:
        return unknown
    index = body.get("segment_index")
    if "media" not in body:
        return index, None
    number = _segment_index(index)
    # Extend the media's running digest, as a streamed segment does.
    continues = (
        None
        if isinstance(number, Reply)
        else state.continued_hash(media.media_id, number)
    )
    received = _decode(state, body["media"], commands.MAX_SEGMENT_BYTES, continues)
    return received if isinstance(received, Reply) else (index, received)


def append(state: EmulatorState, path_id: str, payload: Payload) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    ``POST /2/media/upload/{id}/append``: one segment (``media``, ``segment_index``).
    """
    media = _find(state, path_id, "id")
    if isinstance(media, Reply):
        return media
    fields = _append_fields(state, payload, media)
    if isinstance(fields, Reply):
        return fields
    raw_index, received = fields
    if raw_index is None or raw_index == "":
        return _required("segment_index")
    index = _segment_index(raw_index)
    if isinstance(index, Reply):
        return index
    if received is None:
        return _required("media")
    refusal = commands.add_segment(state, media, index, received)
    if refusal is not None:
        return refused(refusal)
    expires_at = math.floor(media.created + state.media_ttl)
    return _ok({"expires_at": expires_at}, media)


def finalize(state: EmulatorState, path_id: str) -> Reply:
    """
    ``POST /2/media/upload/{id}/finalize``: check the bytes, start processing.
    """
    media = _find(state, path_id, "id")
    if isinstance(media, Reply):
        return media
    refusal = commands.complete(state, media)
    if refusal is not None:
        return refused(refusal)
    return _ok(data(state, media), media)


def status(state: EmulatorState, query: Sequence[tuple[str, str]]) -> Reply:
    """
    ``GET /2/media/upload?media_id=...[&command=STATUS]``: the media's state as of now.
    """
    params = dict(query)
    extra = sorted(set(params) - set(_STATUS_PARAMETERS))
    if extra:
        return bad(
            f"The query parameter [{extra[0]}] is not one of "
            f"[{','.join(_STATUS_PARAMETERS)}].",
            extra[0],
            params[extra[0]],
        )
    command = params.get("command", "STATUS")
    if command != "STATUS":
        return _not_one_of("command", command, ("STATUS",))
    if "media_id" not in params:
        return bad("The `media_id` query parameter is required.", "media_id", "")
    media = _find(state, params["media_id"], "media_id")
    if isinstance(media, Reply):
        return media
    note = commands.poll(state, media)
    return _ok(data(state, media), media, note)


def metadata(state: EmulatorState, payload: Payload) -> Reply:  # noqa: PLR0911 - one return per refusal
    """
    ``POST /2/media/metadata``: alt text (JSON ``{"id", "metadata": {"alt_text": ...}}``).
    """
    body = _json_object(payload.raw) if payload.form == "json" else None
    if body is None:
        return _not_json(payload)
    unknown = _unknown(set(body), {"id", "metadata"})
    if unknown is not None:
        return unknown
    if "id" not in body:
        return _required("id")
    media = _find(state, body["id"], "id")
    if isinstance(media, Reply):
        return media
    sent = body.get("metadata", {})
    if not isinstance(sent, dict):
        return _wrong_type("metadata", sent, "an object")
    if "alt_text" in sent:
        alt = sent["alt_text"]
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(text, str):
            return bad(
                "The `metadata.alt_text.text` field is required.",
                "metadata.alt_text.text",
                "",
            )
        refusal = commands.alt_text(media, text)
        if refusal is not None:
            return refused(refusal)
    return _ok({"id": str(media.media_id), "associated_metadata": sent}, media)


_SUBTITLES_FIELDS = {
    True: {"id", "media_category", "subtitles"},
    False: {"id", "language_code", "media_category"},
}


def subtitles(  # noqa: C901, PLR0911 - one return per refusal
    state: EmulatorState, payload: Payload, *, create: bool
) -> Reply:
    """
    ``POST`` / ``DELETE /2/media/subtitles``: associate or remove a video's subtitles.

    The request's ``media_category`` is the video's, in CamelCase (``TweetVideo``).
    """
    body = _json_object(payload.raw) if payload.form == "json" else None
    if body is None:
        return _not_json(payload)
    unknown = _unknown(set(body), _SUBTITLES_FIELDS[create])
    if unknown is not None:
        return unknown
    for name in sorted(_SUBTITLES_FIELDS[create]):
        if name not in body:
            return _required(name)
    video = _find(state, body["id"], "id")
    if isinstance(video, Reply):
        return video
    track: Media | None = None
    language = body.get("language_code")
    if create:
        entry = body["subtitles"]
        if not isinstance(entry, dict) or "id" not in entry:
            return _wrong_type("subtitles", entry, "an object with an id")
        found = _find(state, entry["id"], "subtitles.id")
        if isinstance(found, Reply):
            return found
        track, language = found, entry.get("language_code")
    refusal = commands.check_subtitles(video, body["media_category"], language, track)
    if refusal is not None:
        return refused(refusal)
    if not create:
        return _ok({"deleted": True}, video)
    return _ok(
        {
            "id": str(video.media_id),
            "media_category": body["media_category"],
            "associated_subtitles": [body["subtitles"]],
        },
        video,
    )
