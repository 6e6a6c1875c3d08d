"""
A fast upload sink: a v1.1 media upload look-alike that reads, checks and discards.

It runs in its own process (``python -m bench.sink``), pinned to its own CPU
core, so its work is never billed to the client being measured. It is a
bare asyncio protocol, not a framework, so that it stays far from being the
bottleneck. For every request it:

- reads the whole body, exactly ``Content-Length`` bytes (``Transfer-Encoding:
  chunked`` is refused with 411, as the real service needs a length);
- verifies the OAuth 1.0a HMAC-SHA1 signature with its own RFC 5849 code
  (form bodies signed, multipart bodies not), independent of authlib/oauthlib;
- checks the shape: a simple upload or APPEND is multipart with a ``media`` (or
  ``media_data``) part, INIT and FINALIZE are form-urlencoded;
- answers with the v1.1 JSON shapes and status codes (200 simple, 202 INIT,
  204 APPEND with an empty body, 201 FINALIZE) and rate-limit headers.

For the far-and-narrow scenarios it can also hold every upload response for
``--latency`` seconds (a per-request round trip) and cap the rate it reads at,
over all connections together (``--bandwidth`` bytes per second: a token
bucket in the read loop that pauses reading until the link is free again);
with ``--tls-cert``/``--tls-key`` it speaks HTTPS. ``connections`` in the stats
counts the connections it accepted.

``GET /_bench/stats`` returns what it received (counts, bytes, errors, its own
CPU time); ``POST /_bench/reset`` zeroes the counters. It exits on SIGTERM or
when its parent process goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from ._common import CREDS, RESET_PATH, STATS_PATH, UPLOAD_PATH, Creds, Target


MAX_HEAD = 64 * 1024
SCRATCH_BYTES = 256 * 1024
MAX_BODY = 32 * 1024 * 1024
THROTTLED_READ = 64 * 1024
# The token bucket holds 20 ms of the link: a late timer does not lose bandwidth.
BURST_SECONDS = 0.02
MAX_PARTS = 32
MAX_PIPELINED = 64
MAX_SEGMENTS = 1000
MAX_ERROR_SAMPLES = 20
RATE_WINDOW = 900
RATE_LIMIT = 10_000_000
FORM = "application/x-www-form-urlencoded"
FIRST_MEDIA_ID = 1_860_000_000_000_000_000

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
}
_AUTH_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_PART_NAME = re.compile(rb'[;\s]name="([^"]*)"')


class BadRequest(Exception):  # noqa: N818 - mirrors the HTTP status
    """
    A request the real service would refuse; carries the v1.1 error shape.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Chunked:
    total_bytes: int
    media_type: str
    category: str | None
    received: int = 0
    segments: set[int] = field(default_factory=set)


@dataclass
class Stats:
    """
    What the sink received since the last reset.
    """

    requests: int = 0
    simple_uploads: int = 0
    simple_bytes: int = 0
    inits: int = 0
    appends: int = 0
    append_bytes: int = 0
    finalized: int = 0
    finalized_bytes: int = 0
    status_checks: int = 0
    body_bytes: int = 0
    errors: int = 0
    signature_failures: int = 0
    chunked_refused: int = 0
    connections: int = 0
    reads: int = 0
    peak_in_flight: int = 0
    slowest_body_seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    started_cpu: float = field(default_factory=time.process_time)
    started_wall: float = field(default_factory=time.perf_counter)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if not k.startswith("started_")}
        data["cpu_seconds"] = time.process_time() - self.started_cpu
        data["wall_seconds"] = time.perf_counter() - self.started_wall
        return data


def _enc(value: str) -> str:
    return quote(value, safe="~")


class BufferPool:
    """
    Body buffers recycled by exact size.

    A fresh multi-megabyte bytearray costs page faults and zeroing on every
    request (more than half of the sink's time on 4.5 MB bodies); a client's
    bodies mostly share a size, so reuse by size almost always hits.
    """

    def __init__(self, limit: int = 256 * 1024 * 1024) -> None:
        self._free: dict[int, list[bytearray]] = {}
        self._held = 0
        self._limit = limit

    def take(self, size: int) -> bytearray:
        free = self._free.get(size)
        if free:
            self._held -= size
            return free.pop()
        return bytearray(size)

    def give(self, buffer: bytearray) -> None:
        size = len(buffer)
        if self._held + size > self._limit:
            self._free.clear()
            self._held = 0
        self._free.setdefault(size, []).append(buffer)
        self._held += size


class Sink:
    """
    The request handler: stateless HTTP aside, it keeps chunked uploads and stats.
    """

    def __init__(
        self,
        creds: Creds,
        *,
        verify: bool,
        latency: float = 0.0,
        bandwidth: float = 0.0,
    ) -> None:
        self._creds = creds
        self._verify = verify
        self.latency = latency
        self.bandwidth = bandwidth
        self._link_free = 0.0
        self._key = (
            f"{_enc(creds.consumer_secret)}&{_enc(creds.access_token_secret)}".encode()
        )
        self._next_id = FIRST_MEDIA_ID
        self._uploads: dict[int, _Chunked] = {}
        self._window_end = 0
        self._used: dict[str, int] = {}
        self.in_flight = 0
        self.buffers = BufferPool()
        self.stats = Stats()

    # Plumbing

    def throttle(self, nbytes: int) -> float:
        """
        Books *nbytes* on the shared link; seconds to pause reading (0: go on).
        """
        if self.bandwidth <= 0:
            return 0.0
        now = time.perf_counter()
        start = max(self._link_free, now - BURST_SECONDS)
        self._link_free = start + nbytes / self.bandwidth
        return max(0.0, self._link_free - now)

    def _media_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _rate_headers(self, command: str) -> bytes:
        now = int(time.time())
        if now >= self._window_end:
            self._window_end = (now // RATE_WINDOW + 1) * RATE_WINDOW
            self._used.clear()
        used = self._used.get(command, 0) + 1
        self._used[command] = used
        return (
            f"x-rate-limit-limit: {RATE_LIMIT}\r\n"
            f"x-rate-limit-remaining: {RATE_LIMIT - used}\r\n"
            f"x-rate-limit-reset: {self._window_end}\r\n"
        ).encode()

    def error(self, exc: BadRequest) -> tuple[int, bytes, bytes]:
        self.stats.errors += 1
        if len(self.stats.error_samples) < MAX_ERROR_SAMPLES:
            self.stats.error_samples.append(f"{exc.status} {exc.message}")
        body = json.dumps({"errors": [{"code": exc.code, "message": exc.message}]})
        return exc.status, body.encode(), b""

    def check_signature(
        self,
        *,
        method: str,
        host: str,
        path: str,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        authorization: str | None,
    ) -> None:
        """
        RFC 5849 HMAC-SHA1 check; http and https base URLs are both accepted.

        Raises:
            BadRequest: 401 with code 32, as the real service answers.
        """
        if not self._verify:
            return
        if authorization is None or not authorization.startswith("OAuth "):
            raise BadRequest(401, 32, "Could not authenticate you (no OAuth header).")
        oauth = {k: unquote(v) for k, v in _AUTH_PARAM.findall(authorization)}
        signature = oauth.pop("oauth_signature", "")
        oauth.pop("realm", None)
        if (
            oauth.get("oauth_consumer_key") != self._creds.consumer_key
            or oauth.get("oauth_token") != self._creds.access_token
            or oauth.get("oauth_signature_method") != "HMAC-SHA1"
            or "oauth_body_hash" in oauth
        ):
            raise BadRequest(401, 32, "Could not authenticate you (bad oauth params).")
        pairs = sorted((_enc(k), _enc(v)) for k, v in [*query, *form, *oauth.items()])
        normalized = _enc("&".join(f"{k}={v}" for k, v in pairs))
        host = host.lower()
        for scheme in ("http", "https"):
            base = f"{method}&{_enc(f'{scheme}://{host}{path}')}&{normalized}"
            digest = hmac.new(self._key, base.encode(), hashlib.sha1).digest()
            if hmac.compare_digest(base64.b64encode(digest).decode(), signature):
                return
        self.stats.signature_failures += 1
        raise BadRequest(401, 32, "Could not authenticate you (bad signature).")

    # Requests

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytearray
    ) -> tuple[int, bytes, bytes]:
        """
        Answer one request: status, JSON body, extra header lines.
        """
        path, _, raw_query = target.partition("?")
        if path == STATS_PATH:
            return 200, json.dumps(self.stats.to_json()).encode(), b""
        if path == RESET_PATH:
            self.stats = Stats()
            return 200, b"{}", b""
        self.stats.requests += 1
        self.stats.body_bytes += len(body)
        if path != UPLOAD_PATH:
            return self.error(BadRequest(404, 34, "Sorry, that page does not exist."))
        try:
            return self._upload(method, path, raw_query, headers, body)
        except BadRequest as exc:
            return self.error(exc)

    def _upload(
        self,
        method: str,
        path: str,
        raw_query: str,
        headers: dict[str, str],
        body: bytearray,
    ) -> tuple[int, bytes, bytes]:
        query = parse_qsl(raw_query, keep_blank_values=True)
        ctype = headers.get("content-type", "")
        mime = ctype.split(";", 1)[0].strip().lower()
        form: list[tuple[str, str]] = []
        parts: dict[str, tuple[int, int]] = {}
        if method == "POST" and mime == FORM:
            form = parse_qsl(body.decode("ascii"), keep_blank_values=True)
        elif method == "POST" and mime == "multipart/form-data":
            parts = _multipart(body, _boundary(ctype))
        elif method == "POST":
            raise BadRequest(400, 38, f"Unsupported content type {mime!r}.")
        self.check_signature(
            method=method,
            host=headers.get("host", ""),
            path=path,
            query=query,
            form=form,
            authorization=headers.get("authorization"),
        )
        fields = dict(query)
        fields.update(form)
        for name, (start, end) in parts.items():
            if name not in {"media", "media_data"}:
                fields[name] = body[start:end].decode()
        return self._dispatch(method, fields, parts, body)

    def _dispatch(
        self,
        method: str,
        fields: dict[str, str],
        parts: dict[str, tuple[int, int]],
        body: bytearray,
    ) -> tuple[int, bytes, bytes]:
        command = fields.get("command")
        if method == "GET":
            if command != "STATUS":
                raise BadRequest(405, 38, "GET is for command=STATUS only.")
            return self._status(fields)
        if command is None:
            if not parts:
                raise BadRequest(400, 38, "media parameter is missing (not multipart).")
            return self._simple(fields, parts, body)
        if command == "APPEND":
            if not parts:
                raise BadRequest(400, 38, "APPEND must be multipart/form-data.")
            return self._append(fields, parts)
        if parts:
            raise BadRequest(400, 38, f"{command} must be form-urlencoded.")
        if command == "INIT":
            return self._init(fields)
        if command == "FINALIZE":
            return self._finalize(fields)
        raise BadRequest(400, 38, f"Unknown command {command!r}.")

    def _simple(
        self, fields: dict[str, str], parts: dict[str, tuple[int, int]], body: bytearray
    ) -> tuple[int, bytes, bytes]:
        size = _media_size(parts, body)
        if size == 0:
            raise BadRequest(400, 38, "media is empty.")
        if size > 5 * 1024 * 1024:
            raise BadRequest(413, 0, "")
        media_id = self._media_id()
        self.stats.simple_uploads += 1
        self.stats.simple_bytes += size
        payload: dict[str, Any] = {
            "media_id": media_id,
            "media_id_string": str(media_id),
            "size": size,
            "expires_after_secs": 86400,
            "image": {"image_type": "image/jpeg", "w": 1024, "h": 768},
        }
        if "media_category" in fields:
            payload["media_key"] = f"3_{media_id}"
        return 200, json.dumps(payload).encode(), self._rate_headers("upload")

    def _init(self, fields: dict[str, str]) -> tuple[int, bytes, bytes]:
        total = fields.get("total_bytes", "")
        media_type = fields.get("media_type", "")
        if not total.isdigit() or int(total) <= 0 or not media_type:
            raise BadRequest(400, 38, "INIT needs total_bytes and media_type.")
        media_id = self._media_id()
        category = fields.get("media_category")
        self._uploads[media_id] = _Chunked(int(total), media_type, category)
        self.stats.inits += 1
        payload: dict[str, Any] = {
            "media_id": media_id,
            "media_id_string": str(media_id),
            "expires_after_secs": 86399,
        }
        if category:
            payload["media_key"] = f"7_{media_id}"
        return 202, json.dumps(payload).encode(), self._rate_headers("INIT")

    def _lookup(self, fields: dict[str, str]) -> tuple[int, _Chunked]:
        raw = fields.get("media_id", "")
        upload = self._uploads.get(int(raw)) if raw.isdigit() else None
        if upload is None:
            raise BadRequest(400, 325, f"Media id {raw!r} not found.")
        return int(raw), upload

    def _append(
        self, fields: dict[str, str], parts: dict[str, tuple[int, int]]
    ) -> tuple[int, bytes, bytes]:
        _, upload = self._lookup(fields)
        index = fields.get("segment_index", "")
        if not index.isdigit() or int(index) >= MAX_SEGMENTS:
            raise BadRequest(400, 38, "segment_index must be 0-999.")
        if "media" not in parts:
            raise BadRequest(400, 38, "APPEND needs a media part.")
        start, end = parts["media"]
        size = end - start
        if size > 5 * 1024 * 1024 or size == 0:
            raise BadRequest(400, 324, f"Segment of {size} bytes is out of range.")
        upload.received += size
        upload.segments.add(int(index))
        self.stats.appends += 1
        self.stats.append_bytes += size
        return 204, b"", self._rate_headers("APPEND")

    def _finalize(self, fields: dict[str, str]) -> tuple[int, bytes, bytes]:
        media_id, upload = self._lookup(fields)
        if upload.received != upload.total_bytes:
            raise BadRequest(
                400,
                324,
                f"Received {upload.received} bytes but INIT said {upload.total_bytes}.",
            )
        if upload.segments != set(range(len(upload.segments))):
            raise BadRequest(400, 324, "Segments are not 0..n-1.")
        del self._uploads[media_id]
        self.stats.finalized += 1
        self.stats.finalized_bytes += upload.received
        payload: dict[str, Any] = {
            "media_id": media_id,
            "media_id_string": str(media_id),
            "size": upload.received,
            "expires_after_secs": 86400,
        }
        if upload.category:
            payload["media_key"] = f"7_{media_id}"
        if upload.media_type.startswith("video/"):
            payload["video"] = {"video_type": upload.media_type}
        else:
            payload["image"] = {"image_type": upload.media_type, "w": 1024, "h": 768}
        return 201, json.dumps(payload).encode(), self._rate_headers("FINALIZE")

    def _status(self, fields: dict[str, str]) -> tuple[int, bytes, bytes]:
        raw = fields.get("media_id", "")
        self.stats.status_checks += 1
        payload = {
            "media_id": int(raw) if raw.isdigit() else 0,
            "media_id_string": raw,
            "expires_after_secs": 86000,
            "processing_info": {"state": "succeeded", "progress_percent": 100},
        }
        return 200, json.dumps(payload).encode(), self._rate_headers("STATUS")


def _boundary(content_type: str) -> bytes:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise BadRequest(400, 38, "multipart body without a boundary.")


def _multipart(body: bytearray, boundary: bytes) -> dict[str, tuple[int, int]]:
    """
    Locate each part's data as ``name -> (start, end)`` without copying it.

    The media bytes are not scanned for a delimiter when the media part is the
    last one (the closing delimiter ends the body): a part placed after it
    would then be counted into the media, and the size check catches that.
    """
    delimiter = b"--" + boundary
    bad = BadRequest(400, 38, "Malformed multipart body.")
    position = body.find(delimiter)
    if position < 0:
        raise bad
    closing = b"\r\n" + delimiter + b"--\r\n"
    last = len(body) - len(closing) if body.endswith(closing) else -1
    parts: dict[str, tuple[int, int]] = {}
    for _ in range(MAX_PARTS):
        position += len(delimiter)
        marker = body[position : position + 2]
        if marker == b"--":
            return parts
        if marker != b"\r\n":
            raise bad
        head_end = body.find(b"\r\n\r\n", position + 2)
        if head_end < 0:
            raise bad
        found = _PART_NAME.search(body, position + 2, head_end)
        if found is None:
            raise bad
        start = head_end + 4
        name = found.group(1).decode()
        if name in {"media", "media_data"} and last >= start:
            parts[name] = (start, last)
            return parts
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise bad
        parts[name] = (start, end)
        position = end + 2
    raise bad


def _media_size(parts: dict[str, tuple[int, int]], body: bytearray) -> int:
    if "media" in parts:
        start, end = parts["media"]
        return end - start
    if "media_data" in parts:
        start, end = parts["media_data"]
        try:
            return len(binascii.a2b_base64(bytes(body[start:end]), strict_mode=True))
        except binascii.Error:
            raise BadRequest(400, 38, "media_data is not base64.") from None
    raise BadRequest(400, 38, "media parameter is missing.")


class _Connection(asyncio.BufferedProtocol):
    """
    HTTP/1.1 keep-alive framing: head, then exactly Content-Length body bytes.

    Bodies are received straight into a buffer of their declared length (no
    copy per chunk); heads go through a small scratch buffer.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._transport: asyncio.Transport | None = None
        self._scratch = bytearray(SCRATCH_BYTES)
        self._buffer = bytearray()
        self._body: bytearray | None = None
        self._filled = 0
        self._request: tuple[str, str, dict[str, str]] | None = None
        self._head_at = 0.0
        self._cap = THROTTLED_READ if sink.bandwidth > 0 else MAX_BODY

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sink.stats.connections += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        del sizehint
        if self._body is not None:
            return memoryview(self._body)[self._filled : self._filled + self._cap]
        return memoryview(self._scratch)[: self._cap]

    def _resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def buffer_updated(self, nbytes: int) -> None:
        self._sink.stats.reads += 1
        pause = self._sink.throttle(nbytes)
        if pause and self._transport is not None:
            self._transport.pause_reading()
            asyncio.get_running_loop().call_later(pause, self._resume)
        if self._body is not None:
            self._filled += nbytes
            if self._filled == len(self._body):
                body, self._body = self._body, None
                self._complete(body)
                self._sink.buffers.give(body)
            return
        self._buffer += memoryview(self._scratch)[:nbytes]
        self._heads()

    def _heads(self) -> None:
        for _ in range(MAX_PIPELINED):
            if self._transport is None or self._transport.is_closing():
                return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._error_reply(431, "Request header too large.")
                return
            lines = self._buffer[:end].decode("latin-1").split("\r\n")
            rest = self._buffer[end + 4 :]
            method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._request = (method, target, headers)
            self._head_at = time.perf_counter()
            self._sink.in_flight += 1
            self._sink.stats.peak_in_flight = max(
                self._sink.stats.peak_in_flight, self._sink.in_flight
            )
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._sink.stats.chunked_refused += 1
                self._error_reply(
                    411, "Transfer-Encoding: chunked; send Content-Length."
                )
                return
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY:
                self._error_reply(413, "Content-Length missing or too large.")
                return
            need = int(length)
            if headers.get("expect", "").lower() == "100-continue":
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if len(rest) < need:
                self._body = self._sink.buffers.take(need)
                self._body[: len(rest)] = rest
                self._filled = len(rest)
                self._buffer = bytearray()
                return
            self._buffer = rest[need:]
            del rest[need:]
            self._complete(rest)

    def _error_reply(self, status: int, message: str) -> None:
        _, body, _ = self._sink.error(BadRequest(status, 38, message))
        self._reply(status, body, b"", close=True)

    def _complete(self, body: bytearray) -> None:
        assert self._request is not None
        method, target, headers = self._request
        stats = self._sink.stats
        stats.slowest_body_seconds = max(
            stats.slowest_body_seconds, time.perf_counter() - self._head_at
        )
        status, payload, extra = self._sink.handle(method, target, headers, body)
        close = headers.get("connection", "").lower() == "close"
        if self._sink.latency > 0 and target.startswith(UPLOAD_PATH):
            asyncio.get_running_loop().call_later(
                self._sink.latency, self._delayed_reply, status, payload, extra, close
            )
            return
        self._reply(status, payload, extra, close=close)

    def _delayed_reply(
        self, status: int, payload: bytes, extra: bytes, close: bool
    ) -> None:
        self._reply(status, payload, extra, close=close)

    def _reply(self, status: int, payload: bytes, extra: bytes, *, close: bool) -> None:
        self._sink.in_flight = max(0, self._sink.in_flight - 1)
        self._request = None
        if self._transport is None:
            return
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"content-length: {len(payload)}\r\n"
            + ("content-type: application/json;charset=utf-8\r\n" if payload else "")
            + ("connection: close\r\n" if close else "")
        ).encode()
        self._transport.write(head + extra + b"\r\n" + payload)
        if close:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        if self._request is not None:
            self._sink.in_flight = max(0, self._sink.in_flight - 1)
        self._transport = None
        self._body = None


async def serve(
    host: str,
    port: int,
    *,
    verify: bool,
    parent: int | None,
    ready: Any = None,
    latency: float = 0.0,
    bandwidth: float = 0.0,
    tls: tuple[str, str] | None = None,
) -> None:
    """
    Serve until SIGTERM/SIGINT, or until the parent process *parent* is gone.
    """
    loop = asyncio.get_running_loop()
    sink = Sink(CREDS, verify=verify, latency=latency, bandwidth=bandwidth)
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    server = await loop.create_server(
        lambda: _Connection(sink),
        host,
        port,
        backlog=1024,
        reuse_address=True,
        ssl=context,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    out = ready or sys.stdout
    print(bound, file=out, flush=True)
    async with server:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if parent is not None and os.getppid() != parent:
                break


class SinkProcess:
    """
    The runner's handle on a sink subprocess: start, query, reset, and always stop.

    Use as a context manager; the sink is terminated (then killed) on exit.
    """

    def __init__(
        self,
        *,
        cpu: int | None,
        verify: bool = True,
        latency: float = 0.0,
        bandwidth: float = 0.0,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self._cpu = cpu
        self._verify = verify
        self._extra: list[str] = []
        self._cafile = tls[0] if tls is not None else None
        if latency:
            self._extra += ["--latency", repr(latency)]
        if bandwidth:
            self._extra += ["--bandwidth", repr(bandwidth)]
        if tls is not None:
            self._extra += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self._scheme = "https" if tls is not None else "http"
        self._proc: subprocess.Popen[str] | None = None
        self.target = Target("127.0.0.1", 0)
        self.pid = 0

    def __enter__(self) -> SinkProcess:  # noqa: PYI034 - 3.10 has no Self
        command = [sys.executable, "-m", "bench.sink", "--parent", str(os.getpid())]
        if self._cpu is not None:
            command += ["--cpu", str(self._cpu)]
        if not self._verify:
            command.append("--no-verify")
        command += self._extra
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root}
        self._proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=env, cwd=root
        )
        try:
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline().strip()
        except BaseException:
            self.stop()
            raise
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the sink did not start (printed {line!r})")
        self.target = Target("127.0.0.1", int(line), self._scheme)
        self.pid = self._proc.pid
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def _call(self, method: str, path: str) -> dict[str, Any]:
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(
                self.target.host,
                self.target.port,
                timeout=10,
                context=ssl.create_default_context(cafile=self._cafile),
            )
        else:
            conn = http.client.HTTPConnection(
                self.target.host, self.target.port, timeout=10
            )
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            response = conn.getresponse()
            data: dict[str, Any] = json.loads(response.read())
        finally:
            conn.close()
        return data

    def stats(self) -> dict[str, Any]:
        return self._call("GET", STATS_PATH)

    def reset(self) -> None:
        self._call("POST", RESET_PATH)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU core")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip OAuth signature checks"
    )
    parser.add_argument(
        "--parent", type=int, default=None, help="exit when this pid is no parent"
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to hold each response"
    )
    parser.add_argument(
        "--bandwidth", type=float, default=0.0, help="bytes/s read, all connections"
    )
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", help="... and this private key")
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the sink listens on loopback only")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    asyncio.run(
        serve(
            args.host,
            args.port,
            verify=not args.no_verify,
            parent=args.parent,
            latency=args.latency,
            bandwidth=args.bandwidth,
            tls=tls,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
