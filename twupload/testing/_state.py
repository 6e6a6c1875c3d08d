"""
Everything the emulator remembers, behind one lock: media, rate limits, faults, counters.

The server thread changes it while a test thread reads it; every read and
every change happens under `EmulatorState.lock`, and what leaves this module
for tests is a frozen copy.
"""

from __future__ import annotations

import collections
import hashlib
import math
import secrets
import threading
import types

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._faults import Faults, ProcessingPlan
from ._images import HEAD_BYTES
from ._ratelimit import RateLimits
from ._records import EmulatorStats, MediaRecord, RequestRecord, SegmentRecord


if TYPE_CHECKING:
    from collections.abc import Callable

    from ._body import Received


#: Milliseconds since 1970 at which X's snowflake ids start counting.
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657
#: Segments whose first bytes are kept for sniffing when ``keep_bytes=False``.
HEAD_SEGMENTS = 64
#: Prefix of a ``media_key``, by what the media is.
KEY_PREFIX = {"image": "3", "gif": "16", "video": "7", "subtitles": "3"}


@dataclass
class Segment:
    """
    One APPEND: its size and digest, its bytes if kept, and its first bytes.
    """

    size: int
    sha256: str
    data: bytes | None
    head: bytes | None


@dataclass
class Media:
    """
    A media object as the emulator holds it (mutable, under the lock).
    """

    media_id: int
    kind: str
    chunked: bool
    media_type: str
    declared_type: str | None
    category: str | None
    total_bytes: int | None
    created: float
    owners: tuple[str, ...] = ()
    shared: bool = False
    data: bytes | None = None
    sha256: str | None = None
    size: int = 0
    width: int | None = None
    height: int | None = None
    finalized: bool = False
    alt_text: str | None = None
    segments: dict[int, Segment] = field(default_factory=dict)
    running_hash: hashlib._Hash | None = field(default_factory=hashlib.sha256)
    hashed_segments: int = 0
    processing: ProcessingPlan | None = None
    status_calls: int = 0

    @property
    def media_key(self) -> str:
        """
        The key the service derives from the kind of media and its id.
        """
        return f"{KEY_PREFIX[self.kind]}_{self.media_id}"

    def add_segment(self, index: int, received: Received, *, keep: bool) -> None:
        """
        Store an APPEND (a repeated index replaces the earlier one).
        """
        previous = self.segments.get(index)
        if received.continued is not None and index == self.hashed_segments:
            self.running_hash = received.continued
            self.hashed_segments += 1
        elif previous is None or previous.sha256 != received.sha256:
            self.running_hash = None
        self.segments[index] = Segment(
            size=received.size,
            sha256=received.sha256,
            data=received.data if keep else None,
            head=received.head if keep or index < HEAD_SEGMENTS else None,
        )
        self.size = sum(segment.size for segment in self.segments.values())

    def assembled(self) -> bytes | None:
        """
        The segments' bytes in index order; None when they were not kept.
        """
        parts = [self.segments[index].data for index in sorted(self.segments)]
        if any(part is None for part in parts):
            return None
        return b"".join(part for part in parts if part is not None)

    def head(self) -> bytes:
        """
        The media's first bytes, as far as the kept segment starts reach.
        """
        head = bytearray()
        for index in sorted(self.segments):
            part = self.segments[index].head or b""
            head += part
            if len(head) >= HEAD_BYTES or len(part) < self.segments[index].size:
                break
        return bytes(head[:HEAD_BYTES])

    def stream_digest(self) -> str | None:
        """
        The digest of every segment in order, if they all arrived in order.
        """
        if self.running_hash is None or self.hashed_segments != len(self.segments):
            return None
        return self.running_hash.hexdigest()

    def processing_state(self) -> str | None:
        """
        The current ``processing_info`` state, None without background processing.
        """
        if self.processing is None:
            return None
        return str(self.processing.info(self.status_calls)["state"])

    def record(self) -> MediaRecord:
        """
        A frozen copy for tests.
        """
        data = self.data
        if self.chunked and not self.finalized:
            data = self.assembled()
        return MediaRecord(
            media_id=self.media_id,
            media_key=self.media_key,
            chunked=self.chunked,
            media_type=self.media_type,
            declared_type=self.declared_type,
            category=self.category,
            total_bytes=self.total_bytes,
            size=self.size,
            data=data,
            sha256=self.sha256,
            finalized=self.finalized,
            width=self.width,
            height=self.height,
            alt_text=self.alt_text,
            additional_owners=self.owners,
            shared=self.shared,
            segments=tuple(
                SegmentRecord(index, segment.size, segment.sha256)
                for index, segment in sorted(self.segments.items())
            ),
            processing_state=self.processing_state(),
        )


class EmulatorState:
    """
    The emulator's memory; take `lock` around every use.

    Args:
        clock: Unix time (tests may pass a fake one).
        keep_bytes: Keep media bytes, or only their size and digest.
        media_ttl: Seconds before media expires (``expires_after_secs``).
        log_size: Requests kept in the log (the oldest are forgotten).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        keep_bytes: bool,
        media_ttl: int,
        log_size: int,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.keep_bytes = keep_bytes
        self.media_ttl = media_ttl
        self.media: dict[int, Media] = {}
        self.rate_limits = RateLimits()
        self.faults = Faults()
        self.processing = ProcessingPlan()
        self._last_id = 0
        self._log: collections.deque[RequestRecord] = collections.deque(maxlen=log_size)
        self._in_flight = 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._by_status: collections.Counter[int] = collections.Counter()
        self._by_command: collections.Counter[str] = collections.Counter()
        self._rejected_401 = 0
        self._rejected_429 = 0
        self._injected = 0
        self._dropped = 0
        self._max_concurrent = self._in_flight

    # Media

    def new_id(self) -> int:
        """
        A fresh snowflake-like id (above 2**53, like the service's), never repeated.
        """
        millis = max(0, int(self.clock() * 1000) - SNOWFLAKE_EPOCH_MS)
        candidate = millis << 22 | secrets.randbelow(1 << 10) << 12
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def find(self, media_id: int) -> Media | None:
        """
        The media with *media_id*, unless unknown or expired (expired media is forgotten).
        """
        media = self.media.get(media_id)
        if media is not None and self.clock() >= media.created + self.media_ttl:
            del self.media[media_id]
            return None
        return media

    def expires_after(self, media: Media) -> int:
        """
        Whole seconds left before *media* expires.
        """
        return max(0, math.ceil(media.created + self.media_ttl - self.clock()))

    def continued_hash(self, media_id: int, index: int) -> hashlib._Hash | None:
        """
        The running hash an APPEND of *index* would extend, when it is the next in order.
        """
        media = self.find(media_id)
        if (
            self.keep_bytes
            or media is None
            or media.finalized
            or media.running_hash is None
            or media.hashed_segments != index
        ):
            return None
        return media.running_hash

    # Counters and log

    def begin(self) -> None:
        """
        Count a request that just arrived.
        """
        with self.lock:
            self._requests += 1
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)

    def end(self, record: RequestRecord) -> None:
        """
        Count a finished request and log it.
        """
        with self.lock:
            self._in_flight -= 1
            self._log.append(record)
            if record.status is not None:
                self._by_status[record.status] += 1
            if record.command is not None:
                self._by_command[record.command] += 1
            if record.note == "injected":
                self._injected += 1
            elif record.note == "dropped":
                self._dropped += 1
            elif record.status == 401:  # noqa: PLR2004
                self._rejected_401 += 1
            elif record.status == 429:  # noqa: PLR2004
                self._rejected_429 += 1

    def stats(self) -> EmulatorStats:
        """
        A frozen copy of the counters.
        """
        with self.lock:
            return EmulatorStats(
                requests=self._requests,
                by_status=types.MappingProxyType(dict(self._by_status)),
                by_command=types.MappingProxyType(dict(self._by_command)),
                rejected_401=self._rejected_401,
                rejected_429=self._rejected_429,
                injected_failures=self._injected,
                dropped_connections=self._dropped,
                max_concurrent=self._max_concurrent,
            )

    def requests(self) -> tuple[RequestRecord, ...]:
        """
        The request log, oldest first.
        """
        with self.lock:
            return tuple(self._log)

    def reset_stats(self) -> None:
        """
        Zero the counters and clear the request log.
        """
        with self.lock:
            self._log.clear()
            self._reset_counters()

    def reset(self) -> None:
        """
        Forget media, counters, log, faults and window usage; keep settings.
        """
        with self.lock:
            self.media.clear()
            self.faults.clear()
            self.rate_limits.reset()
            self._log.clear()
            self._reset_counters()
