"""
Signing microbenchmark: microseconds per ``Authorization`` header.

twupload's ``OAuth1Signer.sign`` on the two request kinds it signs most: a
multipart APPEND (streamed body, not part of the signature) and a form INIT
(body parameters signed). For reference, the signing calls the baselines
make: authlib's ``ClientAuth.sign`` (the httpx baseline) and oauthlib's
``Client.sign`` (the aiohttp baseline and, through requests-oauthlib, tweepy).
"""

from __future__ import annotations

import statistics
import time

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
import oauthlib.oauth1

from authlib.oauth1 import ClientAuth

import twupload

from twupload._auth import OAuth1Signer
from twupload._multipart import MultipartBody

from ._common import CREDS, MIB


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

URL = "https://upload.twitter.com/1.1/media/upload.json"
FORM = "application/x-www-form-urlencoded"


async def _no_chunks() -> AsyncGenerator[bytes, None]:
    # Never iterated: signing must not touch a streamed body.
    yield b""  # pragma: no cover


def _append_request() -> httpx.Request:
    body = MultipartBody(
        [
            ("command", "APPEND"),
            ("media_id", "1860000000000000001"),
            ("segment_index", "7"),
        ],
        media_field="media",
        media_size=4 * MIB,
    )
    return httpx.Request(
        "POST", URL, headers=body.headers, content=body.stream(_no_chunks())
    )


def _init_fields() -> list[tuple[str, str]]:
    return [
        ("command", "INIT"),
        ("total_bytes", str(200 * MIB)),
        ("media_type", "video/mp4"),
        ("media_category", "tweet_video"),
    ]


def _init_request() -> httpx.Request:
    return httpx.Request(
        "POST",
        URL,
        headers={"Content-Type": FORM},
        content=urlencode(_init_fields()).encode(),
    )


def cases() -> dict[str, Callable[[], object]]:
    """
    Name -> a zero-argument call that signs one request.
    """
    signer = OAuth1Signer(
        twupload.OAuth1Credentials(
            consumer_key=CREDS.consumer_key,
            consumer_secret=CREDS.consumer_secret,
            access_token=CREDS.access_token,
            access_token_secret=CREDS.access_token_secret,
        )
    )
    append, init = _append_request(), _init_request()
    authlib_auth = ClientAuth(
        CREDS.consumer_key,
        CREDS.consumer_secret,
        token=CREDS.access_token,
        token_secret=CREDS.access_token_secret,
    )
    oauthlib_client = oauthlib.oauth1.Client(
        CREDS.consumer_key,
        client_secret=CREDS.consumer_secret,
        resource_owner_key=CREDS.access_token,
        resource_owner_secret=CREDS.access_token_secret,
    )
    form = dict(_init_fields())
    form_body = urlencode(form)
    return {
        "twupload OAuth1Signer.sign, multipart APPEND": lambda: signer.sign(append),
        "twupload OAuth1Signer.sign, form INIT": lambda: signer.sign(init),
        "authlib ClientAuth.sign, multipart (httpx baseline)": lambda: (
            authlib_auth.sign("POST", URL, {}, b"")
        ),
        "authlib ClientAuth.sign, form INIT": lambda: authlib_auth.sign(
            "POST", URL, {"Content-Type": FORM}, form_body
        ),
        "oauthlib Client.sign, multipart (aiohttp baseline)": lambda: (
            oauthlib_client.sign(URL, http_method="POST")
        ),
        "oauthlib Client.sign, form INIT": lambda: oauthlib_client.sign(
            URL, http_method="POST", body=form, headers={"Content-Type": FORM}
        ),
    }


def measure(call: Callable[[], object], *, iterations: int, repeats: int) -> float:
    """
    Median over *repeats* batches of the mean time per call, in microseconds.
    """
    for _ in range(min(iterations, 200)):
        call()
    batches = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        batches.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(batches)


def run(*, iterations: int, repeats: int) -> dict[str, float]:
    return {
        name: measure(call, iterations=iterations, repeats=repeats)
        for name, call in cases().items()
    }
