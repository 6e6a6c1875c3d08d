"""
What the media is, what the service accepts, and the upload plan that follows.

Everything here runs before any network I/O: it only looks at the first bytes
of the source, its size and the caller's options.
"""

from __future__ import annotations

import enum

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._errors import InvalidMediaError


if TYPE_CHECKING:
    from collections.abc import Iterable


class MediaCategory(str, enum.Enum):
    """
    The ``media_category`` values the upload service knows.

    Use ``tweet_*`` for media attached to posts and ``dm_*`` for direct messages.
    """

    TWEET_IMAGE = "tweet_image"
    TWEET_GIF = "tweet_gif"
    TWEET_VIDEO = "tweet_video"
    AMPLIFY_VIDEO = "amplify_video"
    DM_IMAGE = "dm_image"
    DM_GIF = "dm_gif"
    DM_VIDEO = "dm_video"
    SUBTITLES = "subtitles"

    def __str__(self) -> str:
        return self.value


Kind = Literal["image", "gif", "video", "subtitles"]

_KIND_OF_CATEGORY: dict[str, Kind] = {
    "tweet_image": "image",
    "dm_image": "image",
    "tweet_gif": "gif",
    "dm_gif": "gif",
    "tweet_video": "video",
    "amplify_video": "video",
    "dm_video": "video",
    "subtitles": "subtitles",
}

# The category sent when the caller gives none. v1.1 answers with a media_key
# only when the request named a category, and v2 requires one, so twupload
# always sends one.
DEFAULT_CATEGORY: dict[Kind, str] = {
    "image": "tweet_image",
    "gif": "tweet_gif",
    "video": "tweet_video",
}

MB = 1024 * 1024
# The one table of size limits, by API version and kind of media. Sources: the
# v1.1 media upload reference (images 5 MB, GIF 15 MB, video 512 MB) and the v2
# initialize endpoint (total_bytes up to 16 GiB for accounts allowed long video;
# the service still refuses what an account may not post).
LIMITS: dict[tuple[str, Kind], int] = {
    ("1.1", "image"): 5 * MB,
    ("1.1", "gif"): 15 * MB,
    ("1.1", "video"): 512 * MB,
    ("1.1", "subtitles"): 5 * MB,
    ("2", "image"): 5 * MB,
    ("2", "gif"): 15 * MB,
    ("2", "video"): 16 * 1024 * MB,
    ("2", "subtitles"): 5 * MB,
}
#: At most this many APPENDs (``segment_index`` 0-999) make one chunked upload.
MAX_SEGMENTS = 1000
#: The documented APPEND maximum (v1.1: ``media`` up to 5 MB); v2 publishes none,
#: so the client's ``max_segment_bytes`` option can change it.
DEFAULT_MAX_SEGMENT_BYTES = 5 * MB
MAX_OWNERS = 100
MAX_ALT_TEXT = 1000
SNIFF_BYTES = 64 * 1024

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "video/mov": "video/quicktime",
}
_KIND_OF_TYPE: dict[str, Kind] = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "image",
    "image/gif": "image",
    "video/mp4": "video",
    "video/quicktime": "video",
    "image/bmp": "image",
    "image/tiff": "image",
    "video/webm": "video",
    "video/mp2t": "video",
}
#: Types the v2 initialize endpoint lists (spec 2.167 ``media_type`` enum) that
#: the v1.1 reference does not: refused on v1.1, before any I/O.
V2_ONLY_TYPES = frozenset({"image/bmp", "image/tiff", "video/webm", "video/mp2t"})
#: The subtitle types v2's initialize lists.
SUBTITLE_TYPES = ("text/srt", "text/vtt")
_SUPPORTED = {
    "1.1": "JPEG, PNG, GIF, WEBP, MP4 or MOV",
    "2": "JPEG, PNG, GIF, WEBP, BMP, TIFF, MP4, MOV, WebM or MPEG-TS",
}
_GIF_IMAGE = 0x2C
_GIF_EXTENSION = 0x21
_MOV_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML = b"\x1a\x45\xdf\xa3"
_TS_SYNC = 0x47
_TS_PACKET = 188
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


@dataclass(frozen=True, slots=True)
class Sniffed:
    """
    The media type read from a source's first bytes.

    Attributes:
        media_type: The MIME type, None when the bytes are of no supported type.
        animated: For GIFs, whether there is more than one frame.
    """

    media_type: str | None
    animated: bool = False


def _gif_is_animated(head: bytes) -> bool:
    """
    Walk the GIF block structure until a second frame or the end of *head*.

    A GIF whose first frame is larger than *head* counts as animated only if
    it carries a looping extension, which animators write before the first
    frame; this keeps sniffing to a bounded prefix of the file.
    """
    if b"NETSCAPE2.0" in head or b"ANIMEXTS1.0" in head:
        return True
    pos = 13
    if len(head) > 10 and head[10] & 0x80:  # noqa: PLR2004
        pos += 3 * (2 << (head[10] & 0x07))
    frames = 0
    while pos < len(head):
        block = head[pos]
        if block == _GIF_IMAGE:
            frames += 1
            if frames > 1:
                return True
            if pos + 9 >= len(head):
                return False
            flags = head[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 * (2 << (flags & 0x07))
            pos += 1  # LZW minimum code size
        elif block == _GIF_EXTENSION:  # introducer, label, then sub-blocks
            pos += 2
        else:  # trailer or garbage
            return False
        while pos < len(head) and head[pos]:
            pos += head[pos] + 1
        pos += 1
    return False


def _is_mpeg_ts(head: bytes) -> bool:
    """
    Two or more 188-byte packets, each starting with the 0x47 sync byte.
    """
    starts = range(0, min(len(head), 4 * _TS_PACKET), _TS_PACKET)
    return len(starts) > 1 and all(head[i] == _TS_SYNC for i in starts)


def sniff(head: bytes) -> Sniffed:  # noqa: C901, PLR0911 - one return per format
    """
    Identify media by magic bytes.

    JPEG, PNG, GIF (static or animated), WEBP, BMP, TIFF, MP4, MOV, WebM and
    MPEG-TS.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image/png")
    if head[:6] in {b"GIF87a", b"GIF89a"}:
        return Sniffed("image/gif", animated=_gif_is_animated(head))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image/webp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return Sniffed("video/quicktime" if brand == b"qt  " else "video/mp4")
    if head[4:8] in _MOV_ATOMS:
        return Sniffed("video/quicktime")
    if head[:4] in {b"II*\x00", b"MM\x00*"}:
        return Sniffed("image/tiff")
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return Sniffed("image/bmp")
    if head.startswith(_EBML) and b"webm" in head[:64]:
        return Sniffed("video/webm")
    if _is_mpeg_ts(head):
        return Sniffed("video/mp2t")
    return Sniffed(None)


def _subtitles_type(head: bytes) -> str:
    """
    ``text/vtt`` for a WebVTT file (it must start with ``WEBVTT``), else ``text/srt``.
    """
    return (
        "text/vtt"
        if head.removeprefix(b"\xef\xbb\xbf").startswith(b"WEBVTT")
        else "text/srt"
    )


def normalize_media_type(value: str) -> str:
    """
    Lower-case a MIME type, drop its parameters and map common aliases.
    """
    base = value.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def normalize_category(value: str | MediaCategory | None) -> str | None:
    """
    Turn a category name or enum member into the service's string, or refuse it.
    """
    if value is None:
        return None
    name = value.value if isinstance(value, MediaCategory) else value
    if name not in _KIND_OF_CATEGORY:
        valid = ", ".join(sorted(_KIND_OF_CATEGORY))
        raise InvalidMediaError(
            f"Unknown media_category {value!r}. Use one of: {valid}."
        )
    return name


def normalize_owners(owners: Iterable[int | str]) -> tuple[str, ...]:
    """
    Validate ``additional_owners`` and return them as decimal strings.
    """
    if isinstance(owners, (str, bytes)):
        raise InvalidMediaError(
            "additional_owners must be a list of user ids, not a single string."
        )
    result: list[str] = []
    for owner in owners:
        if isinstance(owner, bool) or not isinstance(owner, (int, str)):
            raise InvalidMediaError(
                f"additional_owners holds {owner!r}; give numeric user ids (ints or "
                "digit strings), not screen names."
            )
        text = str(owner).strip()
        if not text.isascii() or not text.isdigit() or int(text) <= 0:
            raise InvalidMediaError(
                f"additional_owners holds {owner!r}; give numeric user ids (ints or "
                "digit strings), not screen names."
            )
        result.append(str(int(text)))
    if len(result) > MAX_OWNERS:
        raise InvalidMediaError(
            f"additional_owners has {len(result)} ids; the service accepts at most "
            f"{MAX_OWNERS}."
        )
    return tuple(result)


def check_alt_text(text: str | None) -> str | None:
    """
    Refuse alt text that the metadata endpoint would refuse.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidMediaError("alt_text must be a string.")
    if len(text) > MAX_ALT_TEXT:
        raise InvalidMediaError(
            f"alt_text is {len(text)} characters; the service accepts at most "
            f"{MAX_ALT_TEXT}. Shorten it."
        )
    return text


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """
    The validated decisions for one upload.

    Attributes:
        media_type: MIME type to declare.
        media_category: Category to send: the caller's, else the one
            `DEFAULT_CATEGORY` gives for the kind.
        chunked: Whether to use INIT/APPEND/FINALIZE.
        kind: What the service will treat the media as.
        total_bytes: Size of the source.
        shared: Whether to mark DM media reusable across conversations
            (sent on INIT / initialize).
    """

    media_type: str
    media_category: str
    chunked: bool
    kind: Kind
    total_bytes: int
    shared: bool = False


def _human(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size} bytes"


def plan_upload(  # noqa: C901, PLR0912
    *,
    api: str,
    head: bytes,
    total_bytes: int,
    media_type: str | None,
    media_category: str | None,
    chunked: bool | None,
    encoding: str,
    has_alt_text: bool,
    shared: bool = False,
    max_segment_bytes: int | None = None,
) -> UploadPlan:
    """
    Decide how to upload, or raise `InvalidMediaError` saying what to change.

    Args:
        head: The first bytes of the source (up to `SNIFF_BYTES`).
        total_bytes: The size of the whole source.
        shared: DM media reusable across conversations: needs a ``dm_*``
            category, and the chunked flow (only INIT / initialize carry it).
        max_segment_bytes: The largest APPEND the client sends; a chunked
            upload above `MAX_SEGMENTS` of them is refused. None skips the check.
    """
    if encoding not in {"binary", "base64"}:
        raise InvalidMediaError(
            f"encoding must be 'binary' or 'base64', not {encoding!r}."
        )
    if total_bytes <= 0:
        raise InvalidMediaError("The source is empty: there is nothing to upload.")

    declared = normalize_media_type(media_type) if media_type else None
    category_kind = _KIND_OF_CATEGORY[media_category] if media_category else None
    if category_kind == "subtitles":
        kind: Kind = "subtitles"
        final_type = declared or _subtitles_type(head)
        if final_type not in SUBTITLE_TYPES:
            raise InvalidMediaError(
                f"Subtitles are text/srt (SubRip) or text/vtt (WebVTT), not "
                f"{media_type!r}. Drop media_type to use the detected type."
            )
    else:
        sniffed = sniff(head)
        if sniffed.media_type is None:
            raise InvalidMediaError(
                "Unsupported media: the bytes are not "
                f"{_SUPPORTED[api]}"
                f"{f' (declared {media_type!r})' if media_type else ''}. "
                "Convert the file to one of those formats."
            )
        if declared and declared != sniffed.media_type:
            raise InvalidMediaError(
                f"media_type {media_type!r} contradicts the bytes, which are "
                f"{sniffed.media_type}. Drop media_type to use the detected type."
            )
        final_type = sniffed.media_type
        if api == "1.1" and final_type in V2_ONLY_TYPES:
            raise InvalidMediaError(
                f"{final_type} media is accepted by the X API v2 only; use "
                f'api="2", or convert the file to {_SUPPORTED["1.1"]}.'
            )
        kind = _KIND_OF_TYPE[final_type]
        if kind == "image" and sniffed.animated:
            kind = "gif"
        if category_kind is not None and category_kind != kind:
            if not (category_kind == "gif" and final_type == "image/gif"):
                what = "an animated GIF" if kind == "gif" else f"{kind} ({final_type})"
                raise InvalidMediaError(
                    f"media_category {media_category!r} is for {category_kind}s, but "
                    f"the media is {what}. Use a matching category or omit it."
                )
            kind = "gif"

    if kind == "image" and total_bytes > LIMITS[(api, "image")]:
        raise InvalidMediaError(
            f"The image is {_human(total_bytes)}; the service accepts still images up "
            f"to {_human(LIMITS[(api, 'image')])}. Resize or recompress it."
        )
    limit = LIMITS[(api, kind)]
    if total_bytes > limit:
        raise InvalidMediaError(
            f"The {kind} is {_human(total_bytes)}; the service accepts up to "
            f"{_human(limit)} for it (API {api}). Make the file smaller."
        )

    category = media_category or DEFAULT_CATEGORY[kind]
    if shared and not category.startswith("dm_"):
        raise InvalidMediaError(
            f"shared=True applies to direct-message media only, not to {category!r}; "
            "use a dm_* media_category or drop shared."
        )
    needs_chunked = kind != "image" or shared
    use_chunked = needs_chunked if chunked is None else chunked
    if needs_chunked and not use_chunked:
        raise InvalidMediaError(
            "shared=True is sent on INIT / initialize only, so it needs the chunked "
            "flow; drop chunked=False."
            if kind == "image"
            else f"A {kind} can only be uploaded in chunks; drop chunked=False."
        )
    if (
        use_chunked
        and max_segment_bytes is not None
        and total_bytes > MAX_SEGMENTS * max_segment_bytes
    ):
        raise InvalidMediaError(
            f"The {kind} is {_human(total_bytes)}, but {MAX_SEGMENTS} APPENDs "
            f"(segment_index 0-999) of at most max_segment_bytes="
            f"{max_segment_bytes} carry {_human(MAX_SEGMENTS * max_segment_bytes)}. "
            f"API {api} accepts up to {_human(limit)} for it: raise max_segment_bytes "
            "on the client if the service takes larger APPENDs, or make the file "
            "smaller."
        )
    if encoding == "base64" and api != "1.1":
        raise InvalidMediaError(
            "encoding='base64' is a v1.1 option; the v2 API takes raw bytes, so drop it."
        )
    if use_chunked and encoding == "base64":
        raise InvalidMediaError(
            "encoding='base64' works with simple upload only; drop it or chunked=True."
        )
    if has_alt_text and kind not in {"image", "gif"}:
        raise InvalidMediaError(
            f"Alt text applies to images and GIFs only, not to {kind}; drop alt_text."
        )
    return UploadPlan(
        media_type=final_type,
        media_category=category,
        chunked=use_chunked,
        kind=kind,
        total_bytes=total_bytes,
        shared=shared,
    )
