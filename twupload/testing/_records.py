"""
What tests can inspect: frozen snapshots of the emulator's media, requests and counters.

Every value is a copy taken under the emulator's lock, so a test thread can
read it while the server thread keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal


if TYPE_CHECKING:
    from collections.abc import Mapping


#: How background processing of GIFs and videos goes; see `Emulator.set_processing`.
ProcessingMode = Literal["succeed", "fail", "stuck_in_progress", "pending_forever"]

#: The rate-limit windows, one per command, as the service reports them. v2's
#: ``initialize``, ``append`` and ``finalize`` endpoints are the ``INIT``,
#: ``APPEND`` and ``FINALIZE`` commands; each API version has its own windows.
RATE_LIMIT_KEYS = ("upload", "INIT", "APPEND", "FINALIZE", "STATUS", "metadata")

#: The API versions the emulator serves: v1.1 (``/1.1/media/...``) and v2 (``/2/...``).
API_VERSIONS = ("1.1", "2")


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """
    One APPEND the emulator accepted.

    Attributes:
        index: Its ``segment_index``.
        size: Bytes it held.
        sha256: Hex digest of those bytes.
    """

    index: int
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """
    One media object the emulator holds.

    Attributes:
        media_id: The id it answered with.
        media_key: Such as ``"3_<id>"`` (image), ``"16_<id>"`` (GIF), ``"7_<id>"`` (video).
        chunked: Whether it came through INIT/APPEND/FINALIZE.
        media_type: The type found in the bytes; before FINALIZE, the one INIT declared.
        declared_type: The ``media_type`` INIT declared (None for simple uploads).
        category: The ``media_category`` sent, if any.
        total_bytes: The size INIT declared (None for simple uploads).
        size: Bytes received so far.
        data: The bytes, in order; None when the emulator was created with
            ``keep_bytes=False``.
        sha256: Hex digest of the bytes; None while a chunked upload is
            unfinished or, with ``keep_bytes=False``, when its segments
            arrived out of order.
        finalized: True once the media is complete (simple upload or FINALIZE).
        width: Image width in pixels, when measured.
        height: Image height in pixels, when measured.
        alt_text: Alt text set through ``metadata/create``.
        additional_owners: User ids sent as ``additional_owners``.
        shared: The ``shared`` flag INIT received.
        segments: The APPENDs received, by ascending index.
        processing_state: ``"pending"``, ``"in_progress"``, ``"succeeded"``,
            ``"failed"``, or None for media without background processing.
        api: The API version it was uploaded through, ``"1.1"`` or ``"2"``.
    """

    media_id: int
    media_key: str
    chunked: bool
    media_type: str
    declared_type: str | None
    category: str | None
    total_bytes: int | None
    size: int
    data: bytes | None
    sha256: str | None
    finalized: bool
    width: int | None = None
    height: int | None = None
    alt_text: str | None = None
    additional_owners: tuple[str, ...] = ()
    shared: bool = False
    segments: tuple[SegmentRecord, ...] = ()
    processing_state: str | None = None
    api: str = "1.1"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """
    One request as the emulator saw it; headers and bodies are never kept.

    Attributes:
        method: ``"GET"`` or ``"POST"`` (or whatever arrived).
        path: The URL path, without the query.
        command: ``"upload"``, ``"INIT"``, ``"APPEND"``, ``"FINALIZE"``,
            ``"STATUS"`` or ``"metadata"`` (v2's endpoints by the same names),
            ``"token"`` for ``POST /2/oauth2/token``; None when it could not be told.
        status: The HTTP status answered; None when the connection was dropped.
        content_length: The ``Content-Length`` header, if sent.
        body_bytes: Body bytes actually read.
        media_id: The ``media_id`` the request named, if any.
        segment_index: The ``segment_index`` of an APPEND.
        transaction_id: The ``x-transaction-id`` answered.
        note: Why the request was refused or altered (``"signature mismatch"``,
            ``"injected"``, ``"dropped"``, `EARLY_STATUS` ...), never a secret.
        api: ``"1.1"`` or ``"2"``, by the path.
        auth: How the request authenticated: ``"oauth1"``, ``"bearer"``, or
            None (no credentials accepted, or none needed).
    """

    method: str
    path: str
    command: str | None
    status: int | None
    content_length: int | None
    body_bytes: int
    media_id: int | None = None
    segment_index: int | None = None
    transaction_id: str | None = None
    note: str | None = None
    api: str = "1.1"
    auth: str | None = None


#: The `RequestRecord.note` of a STATUS sent before the ``check_after_secs`` it was given.
EARLY_STATUS = "STATUS before check_after_secs"


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """
    Counters since the emulator started or since `Emulator.reset_stats`.

    Attributes:
        requests: Requests received (dropped ones included).
        by_status: How many responses had each HTTP status.
        by_command: How many requests named each command.
        rejected_401: Requests refused with 401: a bad OAuth 1.0a signature, a
            missing, unknown or expired bearer token.
        rejected_429: Requests that arrived in an exhausted rate-limit window.
        injected_failures: Responses replaced by `Emulator.fail_next`.
        dropped_connections: Connections closed by `Emulator.drop_next`.
        max_concurrent: Most requests in progress at the same time.
        token_requests: Requests to ``POST /2/oauth2/token``, whatever their outcome.
        early_status_polls: STATUS requests sent before the ``check_after_secs``
            the previous answer about that media asked for.
    """

    requests: int = 0
    by_status: Mapping[int, int] = field(default_factory=dict)
    by_command: Mapping[str, int] = field(default_factory=dict)
    rejected_401: int = 0
    rejected_429: int = 0
    injected_failures: int = 0
    dropped_connections: int = 0
    max_concurrent: int = 0
    token_requests: int = 0
    early_status_polls: int = 0
