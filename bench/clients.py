"""
The clients under test: twupload and the code a typical user would write instead.

Every client offers the same three operations, and each returns the ``size``
the sink reported back, so the runner can check every upload:

- ``upload_batch(paths, concurrency)``: simple uploads, *concurrency* in flight
  (1 means a plain sequential loop);
- ``upload_chunked(path, segment_bytes, media_type)``: INIT, APPEND every
  segment, FINALIZE.

Baselines, as their users write them:

- ``httpx``: ``httpx.AsyncClient`` with ``files=`` and an open file; the
  ``Authorization`` header from authlib's signing core (``ClientAuth.sign``),
  since authlib's httpx integration must not be used for uploads.
- ``aiohttp``: ``aiohttp.ClientSession`` with ``FormData`` and an open file;
  the header from ``oauthlib.oauth1.Client.sign``.
- ``tweepy``: ``tweepy.API.media_upload`` (sync, requests) on a thread pool;
  its hard-coded ``https://`` upload URL is redirected to the sink by a
  requests adapter that swaps the scheme (the signature still covers
  ``https://…``, which the sink accepts).

Contenders:

- ``twupload``: ``AsyncMediaClient`` with no ``http_client``, as installed without
  ``twupload[fast]`` (the pure-httpx path): it finds no httpx-aiohttp transport,
  hidden from it while the row runs even where the extra is installed, and uses
  httpx's own.
- ``twupload+aiohttp-transport``: ``AsyncMediaClient`` with no ``http_client``, as
  installed with ``twupload[fast]``: it picks the httpx-aiohttp transport itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import warnings

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import aiohttp
import httpx
import oauthlib.oauth1
import requests.adapters
import tweepy

from authlib.oauth1 import ClientAuth

import twupload

from twupload import _http as twupload_http

from ._common import CREDS


if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from ._common import Target


# tweepy.API.media_upload imports imghdr, deprecated since 3.11 (gone in 3.13).
warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)

FORM = "application/x-www-form-urlencoded"
TIMEOUT = 60.0


class AsyncUploader:
    """
    The interface of the async clients; used as ``async with Cls(target) as up``.
    """

    name: ClassVar[str]

    def __init__(self, target: Target) -> None:
        self.target = target

    async def __aenter__(self) -> AsyncUploader:  # noqa: PYI034 - 3.10 has no Self
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def upload_one(self, path: Path) -> int:
        raise NotImplementedError

    async def upload_batch(self, paths: Sequence[Path], concurrency: int) -> list[int]:
        if concurrency == 1:
            return [await self.upload_one(path) for path in paths]
        gate = asyncio.Semaphore(concurrency)

        async def one(path: Path) -> int:
            async with gate:
                return await self.upload_one(path)

        return list(await asyncio.gather(*(one(path) for path in paths)))

    async def upload_chunked(
        self, path: Path, segment_bytes: int, media_type: str
    ) -> int:
        """
        INIT, APPEND each segment read from the open file, FINALIZE: what users write.
        """
        total = path.stat().st_size  # noqa: ASYNC240 - what users write
        init = await self._form(
            {
                "command": "INIT",
                "total_bytes": str(total),
                "media_type": media_type,
                "media_category": "tweet_video",
            }
        )
        media_id = init["media_id_string"]
        with path.open("rb") as file:
            for index in range(total // segment_bytes + 1):
                segment = file.read(segment_bytes)
                if not segment:
                    break
                await self._append(media_id, index, segment)
                del segment
        done = await self._form({"command": "FINALIZE", "media_id": media_id})
        return int(done["size"])

    async def _form(self, form: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    async def _append(self, media_id: str, index: int, segment: bytes) -> None:
        raise NotImplementedError


# twupload


def _twupload_credentials() -> twupload.OAuth1Credentials:
    return twupload.OAuth1Credentials(
        consumer_key=CREDS.consumer_key,
        consumer_secret=CREDS.consumer_secret,
        access_token=CREDS.access_token,
        access_token_secret=CREDS.access_token_secret,
    )


class TwuploadUploader(AsyncUploader):
    """
    ``AsyncMediaClient`` as its README shows it, installed without ``twupload[fast]``.

    ``upload_many`` for a batch. twupload then carries requests on httpx's own
    transport. Where the extra is installed, the bench hides it from twupload
    while this row runs (rows run one at a time), by the same switch the test
    suite uses.
    """

    name = "twupload"
    with_fast_extra = False

    def __init__(
        self,
        target: Target,
        *,
        max_concurrency: int = 8,
        segments_in_flight: int | None = None,
    ) -> None:
        super().__init__(target)
        self._max_concurrency = max_concurrency
        self._options: dict[str, Any] = {}
        if segments_in_flight is not None and segments_option_supported():
            self._options["max_segments_in_flight"] = segments_in_flight
        self._client: twupload.AsyncMediaClient | None = None
        self._hidden: Any = None

    async def __aenter__(self) -> TwuploadUploader:  # noqa: PYI034
        if not self.with_fast_extra:
            self._hidden = twupload_http.aiohttp_transport
            twupload_http.aiohttp_transport = lambda *_: None
        try:
            self._client = twupload.AsyncMediaClient(
                _twupload_credentials(),
                base_url=self.target.base_url,
                max_concurrency=self._max_concurrency,
                timeout=TIMEOUT,
                **self._options,
            )
            await self._client.__aenter__()
        except BaseException:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        if self._hidden is not None:
            twupload_http.aiohttp_transport, self._hidden = self._hidden, None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
        finally:
            self._restore()

    @property
    def client(self) -> twupload.AsyncMediaClient:
        assert self._client is not None
        return self._client

    async def upload_one(self, path: Path) -> int:
        result = await self.client.upload(path)
        return result.size or 0

    async def upload_batch(self, paths: Sequence[Path], concurrency: int) -> list[int]:
        if concurrency == 1:
            return [await self.upload_one(path) for path in paths]
        results = await self.client.upload_many(paths)
        sizes = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            sizes.append(result.size or 0)
        return sizes

    async def upload_chunked(
        self, path: Path, segment_bytes: int, media_type: str
    ) -> int:
        del segment_bytes, media_type  # the client's own choices (4 MiB, sniffed)
        result = await self.client.upload(path, media_category="tweet_video")
        return result.size or 0


def segments_option_supported() -> bool:
    """
    Whether this twupload has ``AsyncMediaClient(max_segments_in_flight=...)``.
    """
    params = inspect.signature(twupload.AsyncMediaClient).parameters
    return "max_segments_in_flight" in params


def aiohttp_transport_available() -> bool:
    try:
        import httpx_aiohttp  # noqa: F401, PLC0415 - optional
    except ImportError:
        return False
    return True


class TwuploadAiohttpUploader(TwuploadUploader):
    """
    twupload as installed with ``twupload[fast]``: it picks the httpx-aiohttp transport itself.
    """

    name = "twupload+aiohttp-transport"
    with_fast_extra = True


# Plain httpx + authlib's signing core


class HttpxUploader(AsyncUploader):
    """
    What a user writes with httpx: ``files=`` with an open file, authlib for the header.
    """

    name = "httpx"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._auth = ClientAuth(
            CREDS.consumer_key,
            CREDS.consumer_secret,
            token=CREDS.access_token,
            token_secret=CREDS.access_token_secret,
        )
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> HttpxUploader:  # noqa: PYI034
        self._http = httpx.AsyncClient(timeout=TIMEOUT)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None
        return self._http

    def _signed(self, form: dict[str, str] | None = None) -> dict[str, str]:
        # Multipart bodies are not signed; form bodies are (RFC 5849 3.4.1.3.1).
        if form is None:
            _, headers, _ = self._auth.sign("POST", self.target.upload_url, {}, b"")
        else:
            _, headers, _ = self._auth.sign(
                "POST", self.target.upload_url, {"Content-Type": FORM}, urlencode(form)
            )
        return dict(headers)

    async def _form(self, form: dict[str, str]) -> dict[str, Any]:
        response = await self.http.post(
            self.target.upload_url, headers=self._signed(form), data=form
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def upload_one(self, path: Path) -> int:
        with path.open("rb") as file:
            response = await self.http.post(
                self.target.upload_url,
                headers=self._signed(),
                files={"media": (path.name, file, "image/jpeg")},
            )
        response.raise_for_status()
        return int(response.json()["size"])

    async def _append(self, media_id: str, index: int, segment: bytes) -> None:
        response = await self.http.post(
            self.target.upload_url,
            headers=self._signed(),
            data={
                "command": "APPEND",
                "media_id": media_id,
                "segment_index": str(index),
            },
            files={"media": ("blob", segment, "application/octet-stream")},
        )
        response.raise_for_status()


# aiohttp + oauthlib


class AiohttpUploader(AsyncUploader):
    """
    What a user writes with aiohttp: ``FormData`` with an open file, oauthlib for the header.
    """

    name = "aiohttp"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._oauth = oauthlib.oauth1.Client(
            CREDS.consumer_key,
            client_secret=CREDS.consumer_secret,
            resource_owner_key=CREDS.access_token,
            resource_owner_secret=CREDS.access_token_secret,
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpUploader:  # noqa: PYI034
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    def _signed(self) -> dict[str, str]:
        _, headers, _ = self._oauth.sign(self.target.upload_url, http_method="POST")
        return dict(headers)

    async def _form(self, form: dict[str, str]) -> dict[str, Any]:
        _, headers, body = self._oauth.sign(
            self.target.upload_url,
            http_method="POST",
            body=form,
            headers={"Content-Type": FORM},
        )
        async with self.session.post(
            self.target.upload_url, data=body, headers=headers
        ) as response:
            response.raise_for_status()
            data: dict[str, Any] = json.loads(await response.read())
        return data

    async def upload_one(self, path: Path) -> int:
        with path.open("rb") as file:
            form = aiohttp.FormData()
            form.add_field("media", file, filename=path.name, content_type="image/jpeg")
            async with self.session.post(
                self.target.upload_url, data=form, headers=self._signed()
            ) as response:
                response.raise_for_status()
                data = await response.json()
        return int(data["size"])

    async def _append(self, media_id: str, index: int, segment: bytes) -> None:
        form = aiohttp.FormData()
        form.add_field("command", "APPEND")
        form.add_field("media_id", media_id)
        form.add_field("segment_index", str(index))
        form.add_field(
            "media", segment, filename="blob", content_type="application/octet-stream"
        )
        async with self.session.post(
            self.target.upload_url, data=form, headers=self._signed()
        ) as response:
            response.raise_for_status()
            await response.read()


# tweepy (sync: requests, on a thread pool for concurrency)


class _PlainHTTPAdapter(requests.adapters.HTTPAdapter):
    """
    Sends tweepy's ``https://127.0.0.1:port`` requests as plain HTTP to the sink.
    """

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:  # type: ignore[override]
        url = request.url or ""
        if url.startswith("https://"):
            request.url = "http://" + url.removeprefix("https://")
        return super().send(request, **kwargs)


class TweepyUploader:
    """
    ``tweepy.API(...).media_upload``; 8 in flight means a ThreadPoolExecutor of 8.
    """

    name = "tweepy"

    def __init__(self, target: Target) -> None:
        auth = tweepy.OAuth1UserHandler(
            CREDS.consumer_key,
            CREDS.consumer_secret,
            CREDS.access_token,
            CREDS.access_token_secret,
        )
        self.api = tweepy.API(
            auth, upload_host=f"{target.host}:{target.port}", timeout=TIMEOUT
        )
        if target.scheme == "http":
            self.api.session.mount("https://", _PlainHTTPAdapter())

    def __enter__(self) -> TweepyUploader:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.api.session.close()

    def upload_one(self, path: Path) -> int:
        return int(self.api.media_upload(str(path)).size)

    def upload_batch(self, paths: Sequence[Path], concurrency: int) -> list[int]:
        if concurrency == 1:
            return [self.upload_one(path) for path in paths]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(self.upload_one, paths))

    def upload_chunked(self, path: Path, segment_bytes: int, media_type: str) -> int:
        del media_type  # tweepy guesses it from the file name
        media = self.api.media_upload(
            str(path),
            chunked=True,
            media_category="tweet_video",
            chunk_size=segment_bytes,
        )
        return int(media.size)


ASYNC_CLIENTS: dict[str, type[AsyncUploader]] = {
    "twupload": TwuploadUploader,
    "twupload+aiohttp-transport": TwuploadAiohttpUploader,
    "httpx": HttpxUploader,
    "aiohttp": AiohttpUploader,
}
ALL_CLIENTS = (*ASYNC_CLIENTS, "tweepy")
