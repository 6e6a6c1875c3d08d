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

from ._faults import CLOCK_SLACK, Faults, ProcessingPlan
from ._images import HEAD_BYTES
from ._ratelimit import DEFAULT_WINDOW, V2_LIMITS, RateLimits
from ._records import (
    EARLY_STATUS,
    EmulatorStats,
    MediaRecord,
    RequestRecord,
    SegmentRecord,
)
from ._tokens import TokenStore


if TYPE_CHECKING:
    from collections.abc import Callable

    from ._body import Received


#: Milliseconds since 1970 at which X's snowflake ids start counting.
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657
#: Segments whose first bytes are kept for sniffing when ``keep_bytes=False``.
HEAD_SEGMENTS = 64
#: Bytes of segments that arrived ahead of their turn kept, with
#: ``keep_bytes=False``, until the digest reaches them (segments sent in
#: parallel finish in any order); past it, the media gets no digest.
MAX_PENDING_BYTES = 64 * 1024 * 1024
#: Prefix of a ``media_key``, by what the media is; ``amplify_video`` has its
#: own (``13_``, as in the v2 chunked-upload quickstart's example).
KEY_PREFIX = {"image": "3", "gif": "16", "video": "7", "subtitles": "3"}
CATEGORY_KEY_PREFIX = {"amplify_video": "13"}
#: Ids up to this survive a round trip through a float (a double's mantissa).
FLOAT_EXACT = 2**53


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
    pending: dict[int, bytes] = field(default_factory=dict)
    processing: ProcessingPlan | None = None
    processing_started: float = 0.0
    status_calls: int = 0
    next_poll: float | None = None
    api: str = "1.1"

    @property
    def media_key(self) -> str:
        """
        The key the service derives from the kind of media (and category) and its id.
        """
        prefix = CATEGORY_KEY_PREFIX.get(self.category or "", KEY_PREFIX[self.kind])
        return f"{prefix}_{self.media_id}"

    def start_processing(self, plan: ProcessingPlan, now: float) -> None:
        """
        Begin background processing at *now*; the first STATUS is due a wait later.
        """
        self.processing = plan
        self.processing_started = now
        self.next_poll = now + plan.check_after_secs

    def processing_info(self, now: float) -> dict[str, object] | None:
        """
        The ``processing_info`` as of *now*; None without background processing.
        """
        plan = self.processing
        if plan is None:
            return None
        return plan.info(plan.step(now - self.processing_started, self.status_calls))

    def poll(self, now: float) -> bool:
        """
        Count a STATUS request at *now*; return whether it came before the wait asked for.

        The next STATUS is due *check_after_secs* after this answer, when it asks for a wait.
        """
        plan = self.processing
        if plan is None:
            return False
        early = self.next_poll is not None and now + CLOCK_SLACK < self.next_poll
        self.status_calls += 1
        info = plan.info(plan.step(now - self.processing_started, self.status_calls))
        self.next_poll = (
            now + plan.check_after_secs if "check_after_secs" in info else None
        )
        return early

    def add_segment(self, index: int, received: Received, *, keep: bool) -> None:
        """
        Store an APPEND (a repeated index replaces the earlier one).
        """
        previous = self.segments.get(index)
        if received.continued is not None and index == self.hashed_segments:
            self.running_hash = received.continued
            self.hashed_segments += 1
            self._fold_pending()
        elif not keep and self._keep_pending(index, received):
            self._fold_pending()
        elif previous is None or previous.sha256 != received.sha256:
            self.running_hash = None
            self.pending.clear()
        self.segments[index] = Segment(
            size=received.size,
            sha256=received.sha256,
            data=received.data if keep else None,
            head=received.head if keep or index < HEAD_SEGMENTS else None,
        )
        self.size = sum(segment.size for segment in self.segments.values())

    def takes_ahead(self, index: int) -> bool:
        """
        Whether a segment *index* arriving now is ahead of the digest, and worth keeping.
        """
        return (
            not self.finalized
            and self.running_hash is not None
            and index > self.hashed_segments
        )

    def _keep_pending(self, index: int, received: Received) -> bool:
        """
        Keep the bytes of a segment that arrived ahead of its turn; False if it cannot be.
        """
        if self.running_hash is None or received.data is None:
            return False
        if index < self.hashed_segments:
            return False
        held = sum(len(data) for i, data in self.pending.items() if i != index)
        if held + len(received.data) > MAX_PENDING_BYTES:
            return False
        self.pending[index] = received.data
        return True

    def _fold_pending(self) -> None:
        """
        Extend the running digest with the kept segments that are now next in order.
        """
        running = self.running_hash
        while running is not None and self.hashed_segments in self.pending:
            running.update(self.pending.pop(self.hashed_segments))
            self.hashed_segments += 1

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

    def processing_state(self, now: float) -> str | None:
        """
        The ``processing_info`` state as of *now*, None without background processing.
        """
        info = self.processing_info(now)
        return None if info is None else str(info["state"])

    def record(self, now: float) -> MediaRecord:
        """
        A frozen copy for tests, as of *now*.
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
            processing_state=self.processing_state(now),
            api=self.api,
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
        self.rate_limits_v2 = RateLimits()
        for key, limit in V2_LIMITS.items():
            self.rate_limits_v2.configure(key, limit=limit, window=DEFAULT_WINDOW)
        self.tokens = TokenStore(clock)
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
        self._token_requests = 0
        self._early_polls = 0
        self._max_concurrent = self._in_flight

    def windows(self, api: str) -> RateLimits:
        """
        The rate-limit windows of one API version (``"1.1"`` or ``"2"``).
        """
        return self.rate_limits_v2 if api == "2" else self.rate_limits

    # Media

    def new_id(self) -> int:
        """
        A fresh snowflake-like id, never repeated.

        Milliseconds since X's epoch above random worker and sequence bits
        (22 bits), like the service's ids such as 1349803915521482754: above
        2**53, and never one a float holds exactly, so a client that parses
        ids through a float gets another id back.
        """
        millis = max(0, int(self.clock() * 1000) - SNOWFLAKE_EPOCH_MS)
        candidate = max(millis << 22 | secrets.randbelow(1 << 22), self._last_id + 1)
        while candidate > FLOAT_EXACT and int(float(candidate)) == candidate:
            candidate += 1
        self._last_id = candidate
        return candidate

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

    def holds_ahead(self, media_id: int, index: int) -> bool:
        """
        Whether an APPEND of *index* comes ahead of the digest, so its bytes are kept a while.

        Only without ``keep_bytes``: kept bytes make the digest at FINALIZE anyway.
        """
        media = self.find(media_id)
        return not self.keep_bytes and media is not None and media.takes_ahead(index)

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
            if record.command == "token":
                self._token_requests += 1
            if record.note == EARLY_STATUS:
                self._early_polls += 1
            elif record.note == "injected":
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
                token_requests=self._token_requests,
                early_status_polls=self._early_polls,
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
        Forget media, counters, log, faults and window usage; keep settings and tokens.
        """
        with self.lock:
            self.media.clear()
            self.faults.clear()
            self.rate_limits.reset()
            self.rate_limits_v2.reset()
            self._log.clear()
            self._reset_counters()
