"""
The HTTP side of the emulator: aiohttp's server, one handler, and the order of checks.

Each request goes through: route, Content-Length, body (streamed), planned
drops, latency, injected failures, OAuth, rate limit, and finally the
command. Only this module imports aiohttp; it runs on the emulator's own
event loop thread.
"""

from __future__ import annotations

import json
import secrets

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import anyio

from aiohttp import web
from aiohttp.http import HttpProcessingError

from . import _commands as commands
from ._body import (
    MAX_FIELD_BYTES,
    BodyError,
    BodyReader,
    MultipartParser,
    Received,
    Sink,
    multipart_boundary,
)
from ._records import RequestRecord


if TYPE_CHECKING:
    from ._oauth import OAuthVerifier
    from ._state import EmulatorState


FORM_URLENCODED = "application/x-www-form-urlencoded"
#: Largest form-urlencoded body: a base64 ``media_data`` of a 5 MiB image, and then some.
MAX_FORM_BYTES = 8 * 1024 * 1024
_ROUTES = {commands.UPLOAD_PATH: "upload", commands.METADATA_PATH: "metadata"}
_MEDIA_FIELDS = ("media", "media_data")


class _DroppedError(Exception):
    """
    A planned drop fired: close the connection without an answer.
    """

    def __init__(self, command: str | None, params: dict[str, str]) -> None:
        super().__init__(command)
        self.command = command
        self.params = params


@dataclass
class _Body:
    """
    What a request body held.
    """

    fields: dict[str, str] = field(default_factory=dict)
    signed: list[tuple[str, str]] = field(default_factory=list)
    received: Received | None = None
    media_parts: int = 0
    raw: bytes | None = None
    too_large: bool = False
    drop_checked: bool = False


@dataclass
class _Exchange:
    """
    One request in progress, collecting what its log record will say.
    """

    method: str
    path: str
    content_length: int | None
    transaction_id: str = field(default_factory=lambda: secrets.token_hex(8))
    command: str | None = None
    status: int | None = None
    media_id: int | None = None
    segment_index: int | None = None
    note: str | None = None

    def describe(self, command: str | None, params: dict[str, str]) -> None:
        """
        Note what the request asked for, once its parameters are known.
        """
        self.command = command
        self.media_id = _digits(params.get("media_id"))
        self.segment_index = _digits(params.get("segment_index"))

    def record(self, body_bytes: int) -> RequestRecord:
        return RequestRecord(
            method=self.method,
            path=self.path,
            command=self.command,
            status=self.status,
            content_length=self.content_length,
            body_bytes=body_bytes,
            media_id=self.media_id,
            segment_index=self.segment_index,
            transaction_id=self.transaction_id,
            note=self.note,
        )


def _command(route: str, method: str, params: dict[str, str]) -> str | None:
    if route == "metadata":
        return "metadata" if method == "POST" else None
    given = params.get("command")
    if method == "GET":
        return "STATUS" if given == "STATUS" else None
    if given is None:
        return "upload"
    return given if given in {"INIT", "APPEND", "FINALIZE"} else None


def _digits(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


class EmulatorServer:
    """
    aiohttp's web server, answering as the v1.1 upload service would.

    Args:
        state: The emulator's memory.
        verifier: Checks OAuth signatures.
        host: Interface to listen on.
        port: Port to listen on (0 picks a free one).
    """

    def __init__(
        self, state: EmulatorState, verifier: OAuthVerifier, *, host: str, port: int
    ) -> None:
        self._state = state
        self._verifier = verifier
        self._host = host
        self._port = port
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)

    async def start(self) -> int:
        """
        Listen, and return the port.
        """
        runner = self._runner
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port: int = runner.addresses[0][1]
        return port

    async def stop(self) -> None:
        """
        Stop listening and close every connection.
        """
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(request.method, request.path, request.content_length)
        body = BodyReader(request.content)
        self._state.begin()
        try:
            return await self._serve(request, exchange, body)
        except _DroppedError as drop:
            exchange.describe(drop.command, drop.params)
            exchange.note = "dropped"
            request.protocol.force_close()
            # Nothing reaches the client: its connection is gone.
            return web.Response(status=500)
        except (ConnectionError, HttpProcessingError, web.RequestPayloadError):
            exchange.note = "body ended before Content-Length"
            return self._respond(
                exchange, commands.request_error(exchange.note, path=request.path)
            )
        finally:
            self._state.end(exchange.record(body.read_bytes))

    def _respond(
        self,
        exchange: _Exchange,
        reply: commands.Reply,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> web.Response:
        exchange.status = reply.status
        all_headers = {"x-transaction-id": exchange.transaction_id, **(headers or {})}
        if reply.body is None:
            response = web.Response(status=reply.status, headers=all_headers)
        else:
            response = web.Response(
                status=reply.status,
                body=json.dumps(reply.body, separators=(",", ":")).encode(),
                content_type="application/json",
                charset="utf-8",
                headers=all_headers,
            )
        if close:
            response.force_close()
        return response

    async def _serve(
        self, request: web.Request, exchange: _Exchange, body: BodyReader
    ) -> web.StreamResponse:
        route = _ROUTES.get(request.path)
        if request.method == "POST" and (
            "chunked" in request.headers.get("Transfer-Encoding", "").lower()
            or request.content_length is None
        ):
            await body.drain()
            exchange.note = "no Content-Length"
            return self._respond(exchange, commands.Reply(411), close=True)
        if route is None or request.method not in {"GET", "POST"}:
            await body.drain()
            reply = commands.error(404, 34, "Sorry, that page does not exist.")
            return self._respond(exchange, reply)

        query = parse_qsl(request.query_string, keep_blank_values=True)
        try:
            parsed = await self._read_body(request, route, dict(query), body)
        except BodyError as exc:
            await body.drain()
            exchange.note = str(exc)
            return self._respond(
                exchange, commands.request_error(str(exc), path=request.path)
            )
        params = {**dict(query), **parsed.fields}
        command = _command(route, request.method, params)
        exchange.describe(command, params)

        state = self._state
        with state.lock:
            drop = None if parsed.drop_checked else state.faults.take_drop(command)
            delay = state.faults.latency_for(command)
            failure = state.faults.take_failure(command) if drop is None else None
        if drop is not None:
            raise _DroppedError(command, params)
        if delay:
            await anyio.sleep(delay)
        if failure is not None:
            exchange.note = "injected"
            exchange.status = failure.status
            headers = {"x-transaction-id": exchange.transaction_id, **failure.headers}
            return web.Response(
                status=failure.status, body=failure.body, headers=headers
            )
        return self._answer(
            request,
            exchange,
            command=command,
            params=params,
            signed=[*query, *parsed.signed],
            parsed=parsed,
        )

    def _answer(
        self,
        request: web.Request,
        exchange: _Exchange,
        *,
        command: str | None,
        params: dict[str, str],
        signed: list[tuple[str, str]],
        parsed: _Body,
    ) -> web.Response:
        if parsed.too_large:
            # Refused before the signature is checked: the form cannot be parsed.
            exchange.note = "body too large"
            return self._respond(exchange, commands.Reply(413))
        problem = self._verifier.verify(
            method=request.method,
            url=f"{request.scheme}://{request.host}{request.raw_path.partition('?')[0]}",
            params=signed,
            authorization=request.headers.get("Authorization"),
        )
        if problem is not None:
            exchange.note = problem
            return self._respond(
                exchange, commands.error(401, 32, "Could not authenticate you.")
            )
        if command is None:
            reply = commands.error(400, 44, "command parameter is invalid.")
            return self._respond(exchange, reply)

        state = self._state
        with state.lock:
            allowed, headers = state.rate_limits.take(command, state.clock())
            reply = (
                self._dispatch(command, params, parsed)
                if allowed
                else commands.error(429, 88, "Rate limit exceeded")
            )
        if reply.body is not None and "media_id" in reply.body:
            exchange.media_id = reply.body["media_id"]
        return self._respond(exchange, reply, headers=headers)

    def _dispatch(
        self, command: str, params: dict[str, str], parsed: _Body
    ) -> commands.Reply:
        state = self._state
        if parsed.media_parts > 1:
            return commands.error(400, 44, "Send only one of media and media_data.")
        if command == "upload":
            return commands.simple_upload(state, params, parsed.received)
        if command == "APPEND":
            return commands.append(state, params, parsed.received)
        if command == "metadata":
            return commands.metadata(state, parsed.raw)
        handler = {
            "INIT": commands.init,
            "FINALIZE": commands.finalize,
            "STATUS": commands.status,
        }[command]
        return handler(state, params)

    async def _read_body(
        self, request: web.Request, route: str, query: dict[str, str], body: BodyReader
    ) -> _Body:
        content_type = request.headers.get("Content-Type", "")
        mime = content_type.partition(";")[0].strip().lower()
        if mime == FORM_URLENCODED:
            parsed = await self._read_form(body)
            if _command(route, request.method, {**query, **parsed.fields}) == "upload":
                self._take_form_media(parsed)
            return parsed
        if mime == "multipart/form-data":
            boundary = multipart_boundary(content_type)
            if boundary is None:
                raise BodyError("The multipart Content-Type has no boundary.")
            return await self._read_multipart(
                MultipartParser(body, boundary), request.method, route, query
            )
        if mime == "application/json":
            raw = await body.read_all(MAX_FIELD_BYTES)
            return _Body(raw=raw, too_large=raw is None)
        await body.drain()
        return _Body()

    async def _read_form(self, body: BodyReader) -> _Body:
        raw = await body.read_all(MAX_FORM_BYTES)
        if raw is None:
            return _Body(too_large=True)
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BodyError("The form body is not UTF-8.") from None
        return _Body(fields=dict(pairs), signed=pairs)

    def _take_form_media(self, parsed: _Body) -> None:
        """
        Take ``media_data`` out of a form-urlencoded simple upload (APPEND needs multipart).
        """
        if "media" in parsed.fields:
            raise BodyError("Send raw media as multipart/form-data, or use media_data.")
        if "media_data" in parsed.fields:
            sink = self._sink("media_data", "upload", parsed.fields)
            sink.write(parsed.fields.pop("media_data").encode())
            parsed.received = sink.close()
            parsed.media_parts = 1

    def _sink(self, name: str, command: str | None, params: dict[str, str]) -> Sink:
        state = self._state
        continues = None
        if command == "APPEND":
            media_id = _digits(params.get("media_id"))
            index = _digits(params.get("segment_index"))
            if media_id is not None and index is not None:
                with state.lock:
                    continues = state.continued_hash(media_id, index)
        limit = (
            commands.MAX_SEGMENT_BYTES
            if command == "APPEND"
            else commands.MAX_IMAGE_BYTES
        )
        return Sink(field=name, keep=state.keep_bytes, limit=limit, continues=continues)

    async def _read_multipart(
        self, parser: MultipartParser, method: str, route: str, query: dict[str, str]
    ) -> _Body:
        parsed = _Body()
        while (part := await parser.next_part()) is not None:
            if part.name not in _MEDIA_FIELDS:
                text = await parser.read_text()
                if part.name is not None:
                    parsed.fields[part.name] = text
                continue
            parsed.media_parts += 1
            if parsed.media_parts > 1:
                continue
            params = {**query, **parsed.fields}
            command = _command(route, method, params)
            with self._state.lock:
                drop = self._state.faults.take_drop(command)
            parsed.drop_checked = True
            sink = self._sink(part.name, command, params)
            seen = 0
            while drop is None or seen < drop:
                piece = await parser.read()
                if not piece:
                    break
                seen += len(piece)
                sink.write(piece)
            if drop is not None:
                raise _DroppedError(command, params)
            parsed.received = sink.close()
        return parsed
