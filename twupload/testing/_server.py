"""
The HTTP side of the emulator: aiohttp's server, one handler, and the order of checks.

Each request goes through: route, Content-Length, body (streamed), planned
drops, latency, injected failures, authentication, rate limit, and finally
the command. v1.1 paths (``/1.1/media/...``) take OAuth 1.0a; v2 paths
(``/2/media/...``) take OAuth 1.0a or an OAuth 2.0 bearer token, and
``POST /2/oauth2/token`` refreshes tokens. Only this module imports aiohttp;
it runs on the emulator's own event loop thread.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import weakref

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio

from aiohttp import web
from aiohttp.http import HttpProcessingError

from . import _commands as commands
from . import _v2 as v2
from ._body import (
    MAX_FIELD_BYTES,
    BodyError,
    BodyReader,
    MultipartParser,
    Received,
    Sink,
    multipart_boundary,
)
from ._records import RATE_LIMIT_KEYS, RequestRecord


if TYPE_CHECKING:
    from ._commands import Reply
    from ._oauth import OAuthVerifier
    from ._state import EmulatorState


FORM_URLENCODED = "application/x-www-form-urlencoded"
#: Largest form-urlencoded body: a base64 ``media_data`` of a 5 MiB image, and then some.
MAX_FORM_BYTES = 8 * 1024 * 1024
_V1_MEDIA_FIELDS = ("media", "media_data")
_V2_MEDIA_FIELDS = ("media",)
_BEARER_ON_V1 = "bearer token on a v1.1 path (OAuth 2.0 works on /2 paths only)"


@dataclass(frozen=True, slots=True)
class Route:
    """
    Where a path leads.

    Attributes:
        api: ``"1.1"`` or ``"2"``.
        name: The endpoint: ``"upload"`` and ``"metadata"`` for v1.1;
            ``"v2-upload"``, ``"initialize"``, ``"append"``, ``"finalize"``,
            ``"v2-metadata"`` and ``"token"`` for v2.
        methods: The methods it answers.
        path_id: The media id in an append or finalize path, as sent.
    """

    api: str
    name: str
    methods: frozenset[str]
    path_id: str | None = None

    def command(self, method: str, params: dict[str, str]) -> str | None:
        """
        The command (rate-limit key, or ``"token"``) a request asks for; None if unknown.
        """
        if self.name == "metadata":
            return "metadata" if method == "POST" else None
        if self.name == "upload":
            given = params.get("command")
            if method == "GET":
                return "STATUS" if given == "STATUS" else None
            if given is None:
                return "upload"
            return given if given in {"INIT", "APPEND", "FINALIZE"} else None
        if self.name == "v2-upload":
            return "STATUS" if method == "GET" else "upload"
        return _V2_COMMANDS[self.name]


_V2_COMMANDS = {
    "initialize": "INIT",
    "append": "APPEND",
    "finalize": "FINALIZE",
    "v2-metadata": "metadata",
    "token": "token",
    # The subtitles endpoints (both versions) publish no window of their own:
    # they share the metadata one.
    "subtitles-create": "metadata",
    "subtitles-delete": "metadata",
    "v2-subtitles": "metadata",
}
_GET_POST = frozenset({"GET", "POST"})
_POST = frozenset({"POST"})
#: The subtitles routes, and whether each associates (True) or removes.
_SUBTITLES_ROUTES = {
    "subtitles-create": True,
    "subtitles-delete": False,
    "v2-subtitles": True,
}
_ROUTES = {
    commands.UPLOAD_PATH: Route("1.1", "upload", _GET_POST),
    commands.METADATA_PATH: Route("1.1", "metadata", _GET_POST),
    v2.UPLOAD_PATH: Route("2", "v2-upload", _GET_POST),
    v2.INITIALIZE_PATH: Route("2", "initialize", _POST),
    v2.METADATA_PATH: Route("2", "v2-metadata", _POST),
    v2.TOKEN_PATH: Route("2", "token", _POST),
    commands.SUBTITLES_CREATE_PATH: Route("1.1", "subtitles-create", _POST),
    commands.SUBTITLES_DELETE_PATH: Route("1.1", "subtitles-delete", _POST),
    v2.SUBTITLES_PATH: Route("2", "v2-subtitles", frozenset({"POST", "DELETE"})),
}


def route_of(path: str) -> Route | None:
    """
    The route of *path*, None for a path the service does not serve.
    """
    route = _ROUTES.get(path)
    if route is not None:
        return route
    step = v2.STEP_PATH.fullmatch(path)
    if step is None:
        return None
    return Route("2", step["step"], _POST, step["id"])


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

    Attributes:
        form: ``"multipart"``, ``"json"``, ``"form"``, ``"empty"``, or the
            other media type sent.
    """

    form: str = "empty"
    fields: dict[str, str] = field(default_factory=dict)
    signed: list[tuple[str, str]] = field(default_factory=list)
    received: Received | None = None
    media_parts: int = 0
    raw: bytes | None = None
    too_large: bool = False
    drop_checked: bool = False

    def payload(self) -> v2.Payload:
        """
        The body as the v2 handlers take it.
        """
        return v2.Payload(
            form=self.form,
            fields=self.fields,
            received=self.received,
            raw=self.raw,
            media_parts=self.media_parts,
        )


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
    api: str = "1.1"
    auth: str | None = None

    def describe(
        self, command: str | None, params: dict[str, str], route: Route | None
    ) -> None:
        """
        Note what the request asked for, once its parameters are known.
        """
        self.command = command
        path_id = route.path_id if route is not None else None
        self.media_id = _digits(path_id or params.get("media_id"))
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
            api=self.api,
            auth=self.auth,
        )


def _digits(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def _body_error(route: Route | None, message: str, path: str) -> Reply:
    """
    A malformed body's refusal, in the shape of the route's API.
    """
    if route is not None and route.name == "token":
        return commands.Reply(
            400, {"error": "invalid_request", "error_description": message}
        )
    if route is not None and route.api == "2":
        return v2.bad(message)
    return commands.request_error(message, path=path)


def _replied_media(reply: Reply) -> int | None:
    if reply.media_id is not None:
        return reply.media_id
    if reply.body is not None and isinstance(reply.body.get("media_id"), int):
        media_id: int = reply.body["media_id"]
        return media_id
    return None


class EmulatorServer:
    """
    aiohttp's web server, answering as the v1.1 and v2 upload services would.

    Args:
        state: The emulator's memory.
        verifier: Checks OAuth 1.0a signatures.
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
        self._transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()

    async def start(self) -> int:
        """
        Listen, and return the port.
        """
        runner = self._runner
        await runner.setup()
        # aiohttp's shutdown forgets a connection set up while it closes the
        # others; every transport is recorded, so `stop` can close those too.
        server = runner.server
        assert server is not None  # noqa: S101 - set by setup()
        made = server.connection_made

        def record(handler: Any, transport: asyncio.Transport) -> None:
            self._transports.add(transport)
            made(handler, transport)

        server.connection_made = record  # type: ignore[method-assign]
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
        # A socket accepted in the last loop turn becomes a transport a turn or
        # two later, and only while the listening server is open (asyncio drops
        # the socket, unclosed, if the server closed first): let that happen.
        for _ in range(5):
            await asyncio.sleep(0)
        await self._runner.cleanup()
        # A connection accepted as the server stopped is set up a few loop turns
        # later; let that happen, then close whatever is still open.
        for _ in range(5):
            await asyncio.sleep(0)
        for transport in self._transports:
            transport.abort()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(request.method, request.path, request.content_length)
        body = BodyReader(request.content)
        route = route_of(request.path)
        if route is not None:
            exchange.api = route.api
        elif request.path.startswith("/2/"):
            exchange.api = "2"
        self._state.begin()
        try:
            return await self._serve(request, exchange, body, route)
        except _DroppedError as drop:
            exchange.describe(drop.command, drop.params, route)
            exchange.note = "dropped"
            request.protocol.force_close()
            # Nothing reaches the client: its connection is gone.
            return web.Response(status=500)
        except (ConnectionError, HttpProcessingError, web.RequestPayloadError):
            exchange.note = "body ended before Content-Length"
            return self._respond(
                exchange, _body_error(route, exchange.note, request.path)
            )
        finally:
            self._state.end(exchange.record(body.read_bytes))

    def _respond(
        self,
        exchange: _Exchange,
        reply: Reply,
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
                content_type=reply.content_type,
                charset="utf-8",
                headers=all_headers,
            )
        if close:
            response.force_close()
        return response

    async def _serve(
        self,
        request: web.Request,
        exchange: _Exchange,
        body: BodyReader,
        route: Route | None,
    ) -> web.StreamResponse:
        if request.method == "POST" and (
            "chunked" in request.headers.get("Transfer-Encoding", "").lower()
            or request.content_length is None
        ):
            await body.drain()
            exchange.note = "no Content-Length"
            return self._respond(exchange, commands.Reply(411), close=True)
        if route is None or request.method not in route.methods:
            await body.drain()
            reply = commands.error(404, 34, "Sorry, that page does not exist.")
            return self._respond(exchange, reply)

        if route.api == "2":
            # Known from the path alone, even when the body turns out broken.
            exchange.command = route.command(request.method, {})
        query = parse_qsl(request.query_string, keep_blank_values=True)
        try:
            parsed = await self._read_body(request, route, dict(query), body)
        except BodyError as exc:
            await body.drain()
            exchange.note = str(exc)
            return self._respond(exchange, _body_error(route, str(exc), request.path))
        params = {**dict(query), **parsed.fields}
        command = route.command(request.method, params)
        exchange.describe(command, params, route)

        state = self._state
        with state.lock:
            drop = (
                None
                if parsed.drop_checked
                else state.faults.take_drop(command, route.api)
            )
            delay = state.faults.latency_for(command)
            failure = (
                state.faults.take_failure(command, route.api) if drop is None else None
            )
            limits = (
                state.windows(route.api).peek(command, state.clock())
                if failure is not None
                and failure.rate_limit_headers
                and command in RATE_LIMIT_KEYS
                else {}
            )
        if drop is not None:
            raise _DroppedError(command, params)
        if delay:
            await anyio.sleep(delay)
        if failure is not None:
            exchange.note = "injected"
            exchange.status = failure.status
            content, extra = failure.response(route.api)
            headers = {
                "x-transaction-id": exchange.transaction_id,
                **limits,
                **extra,
            }
            return web.Response(status=failure.status, body=content, headers=headers)
        if route.name == "token":
            return self._token(request, exchange, parsed)
        return self._answer(
            request,
            exchange,
            route=route,
            command=command,
            query=query,
            params=params,
            signed=[*query, *parsed.signed],
            parsed=parsed,
        )

    def _token(
        self, request: web.Request, exchange: _Exchange, parsed: _Body
    ) -> web.Response:
        """
        ``POST /2/oauth2/token``: refresh an OAuth 2.0 token.
        """
        if parsed.too_large:
            exchange.note = "body too large"
            return self._respond(exchange, commands.Reply(413))
        if parsed.form != "form":
            exchange.note = "not a form"
            reply = commands.Reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"The body must be {FORM_URLENCODED}.",
                },
            )
            return self._respond(exchange, reply)
        with self._state.lock:
            answer = self._state.tokens.exchange(
                parsed.fields, request.headers.get("Authorization")
            )
        exchange.note = answer.note
        return self._respond(
            exchange,
            commands.Reply(answer.status, answer.body),
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _authenticate(  # noqa: PLR0911 - one return per refusal
        self,
        request: web.Request,
        exchange: _Exchange,
        route: Route,
        signed: list[tuple[str, str]],
    ) -> Reply | None:
        """
        Check the request's credentials; None when they pass, else the refusal.
        """
        authorization = request.headers.get("Authorization")
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer":
            if route.api != "2":
                exchange.note = _BEARER_ON_V1
                return commands.error(401, 32, "Could not authenticate you.")
            with self._state.lock:
                problem = self._state.tokens.check(token.strip())
            if problem is None:
                exchange.auth = "bearer"
                return None
            status, _, exchange.note = problem.partition(" ")
            if status == "403":
                return v2.forbidden(
                    "This request needs an OAuth 2.0 user token with the "
                    "media.write scope."
                )
            return v2.unauthorized()
        problem = self._verifier.verify(
            method=request.method,
            url=f"{request.scheme}://{request.host}{request.raw_path.partition('?')[0]}",
            params=signed,
            authorization=authorization,
        )
        if problem is not None:
            exchange.note = problem
            if route.api == "2":
                return v2.unauthorized()
            return commands.error(401, 32, "Could not authenticate you.")
        exchange.auth = "oauth1"
        return None

    def _answer(
        self,
        request: web.Request,
        exchange: _Exchange,
        *,
        route: Route,
        command: str | None,
        query: list[tuple[str, str]],
        params: dict[str, str],
        signed: list[tuple[str, str]],
        parsed: _Body,
    ) -> web.Response:
        if parsed.too_large:
            # Refused before the credentials are checked: the body cannot be parsed.
            exchange.note = "body too large"
            return self._respond(exchange, commands.Reply(413))
        refusal = self._authenticate(request, exchange, route, signed)
        if refusal is not None:
            return self._respond(exchange, refusal)
        if command is None:
            reply = commands.error(400, 44, "command parameter is invalid.")
            return self._respond(exchange, reply)

        state = self._state
        with state.lock:
            allowed, headers = state.windows(route.api).take(command, state.clock())
            if not allowed:
                reply = (
                    v2.too_many_requests()
                    if route.api == "2"
                    else commands.error(429, 88, "Rate limit exceeded")
                )
            elif route.name in _SUBTITLES_ROUTES:
                reply = self._subtitles(route, request.method, parsed)
            elif route.api == "2":
                reply = self._dispatch_v2(route, command, query, parsed)
            else:
                reply = self._dispatch(command, params, parsed)
        exchange.media_id = _replied_media(reply) or exchange.media_id
        if reply.note is not None:
            exchange.note = reply.note
        return self._respond(exchange, reply, headers=headers)

    def _dispatch(self, command: str, params: dict[str, str], parsed: _Body) -> Reply:
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

    def _subtitles(self, route: Route, method: str, parsed: _Body) -> Reply:
        create = _SUBTITLES_ROUTES[route.name] and method != "DELETE"
        if route.api == "2":
            return v2.subtitles(self._state, parsed.payload(), create=create)
        return commands.subtitles(self._state, parsed.raw, create=create)

    def _dispatch_v2(
        self,
        route: Route,
        command: str,
        query: list[tuple[str, str]],
        parsed: _Body,
    ) -> Reply:
        state = self._state
        payload = parsed.payload()
        if command == "STATUS":
            return v2.status(state, query)
        if command == "upload":
            return v2.one_shot(state, payload)
        if command == "INIT":
            return v2.initialize(state, payload)
        if command == "metadata":
            return v2.metadata(state, payload)
        path_id = route.path_id or ""
        if command == "APPEND":
            return v2.append(state, path_id, payload)
        return v2.finalize(state, path_id)

    async def _read_body(
        self,
        request: web.Request,
        route: Route,
        query: dict[str, str],
        body: BodyReader,
    ) -> _Body:
        content_type = request.headers.get("Content-Type", "")
        mime = content_type.partition(";")[0].strip().lower()
        if route.api == "2" and (request.method == "GET" or route.name == "finalize"):
            # v2's STATUS and finalize take no body: whatever comes is skipped.
            await body.drain()
            return _Body()
        if mime == FORM_URLENCODED:
            parsed = await self._read_form(body)
            merged = {**query, **parsed.fields}
            if route.command(request.method, merged) == "upload" and route.api == "1.1":
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
            limit = (
                v2.MAX_JSON_MEDIA_BYTES
                if route.name in {"v2-upload", "append"}
                else MAX_FIELD_BYTES
            )
            raw = await body.read_all(limit)
            return _Body(form="json", raw=raw, too_large=raw is None)
        before = body.read_bytes
        await body.drain()
        if body.read_bytes == before:
            return _Body()
        return _Body(form=mime or "a body without a Content-Type")

    async def _read_form(self, body: BodyReader) -> _Body:
        raw = await body.read_all(MAX_FORM_BYTES)
        if raw is None:
            return _Body(form="form", too_large=True)
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BodyError("The form body is not UTF-8.") from None
        return _Body(form="form", fields=dict(pairs), signed=pairs)

    def _take_form_media(self, parsed: _Body) -> None:
        """
        Take ``media_data`` out of a form-urlencoded simple upload (APPEND needs multipart).
        """
        if "media" in parsed.fields:
            raise BodyError("Send raw media as multipart/form-data, or use media_data.")
        if "media_data" in parsed.fields:
            sink = self._sink("media_data", "upload", parsed.fields, None)
            sink.write(parsed.fields.pop("media_data").encode())
            parsed.received = sink.close()
            parsed.media_parts = 1

    def _sink(
        self,
        name: str,
        command: str | None,
        params: dict[str, str],
        route: Route | None,
    ) -> Sink:
        state = self._state
        continues = None
        keep = state.keep_bytes
        if command == "APPEND":
            path_id = route.path_id if route is not None else None
            media_id = _digits(path_id or params.get("media_id"))
            index = _digits(params.get("segment_index"))
            if media_id is not None and index is not None:
                with state.lock:
                    continues = state.continued_hash(media_id, index)
                    # A segment ahead of its turn (parallel APPENDs) is kept
                    # until the digest reaches it.
                    keep = keep or state.holds_ahead(media_id, index)
        if command == "APPEND":
            limit = commands.MAX_SEGMENT_BYTES
        elif route is not None and route.api == "2":
            limit = v2.ONE_SHOT_LIMIT
        else:
            limit = commands.MAX_IMAGE_BYTES
        return Sink(field=name, keep=keep, limit=limit, continues=continues)

    async def _read_multipart(
        self, parser: MultipartParser, method: str, route: Route, query: dict[str, str]
    ) -> _Body:
        parsed = _Body(form="multipart")
        media_fields = _V2_MEDIA_FIELDS if route.api == "2" else _V1_MEDIA_FIELDS
        while (part := await parser.next_part()) is not None:
            if part.name not in media_fields:
                text = await parser.read_text()
                if part.name is not None:
                    parsed.fields[part.name] = text
                continue
            parsed.media_parts += 1
            if parsed.media_parts > 1:
                continue
            params = {**query, **parsed.fields}
            command = route.command(method, params)
            with self._state.lock:
                drop = self._state.faults.take_drop(command, route.api)
            parsed.drop_checked = True
            sink = self._sink(part.name or "media", command, params, route)
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
