"""
The upload emulator, over real sockets: twupload's client and an independent OAuth client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
import anyio.lowlevel
import httpx
import pytest

from oauthlib.oauth1 import Client as OAuthlibClient

from twupload import (
    AsyncMediaClient,
    AuthenticationError,
    MediaProcessingError,
    OAuth1Credentials,
    TransportError,
    UploadTimeoutError,
)
from twupload.testing import Emulator, MediaRecord, _state
from twupload.testing._body import (
    BodyError,
    BodyReader,
    MultipartParser,
    Received,
    Sink,
    multipart_boundary,
)
from twupload.testing._images import detect
from twupload.testing._oauth import OAuthVerifier


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence


pytestmark = pytest.mark.anyio

UPLOAD = "/1.1/media/upload.json"
METADATA = "/1.1/media/metadata/create.json"
FORM = "application/x-www-form-urlencoded"
MIB = 1024 * 1024

Fields = list[tuple[str, str | bytes]]
# One TLS context for every hand-made client: building one per test costs more
# than the test (the emulator itself speaks plain HTTP).
TLS = ssl.create_default_context()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """
    Run every async test on asyncio and on trio.
    """
    return str(request.param)


# Media samples, built by hand so the expected sizes are known exactly.


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    app0 = (
        b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8"
        + app0
        + b"\xff"
        + b"\xff\xd0"
        + sof
        + b"\xff\xda\x00\x02"
        + b"\x00" * 64
        + b"\xff\xd9"
    )


def gif(width: int, height: int, *, frames: int = 1, loop: bool = False) -> bytes:
    screen = (
        struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    )
    body = b""
    if loop:
        body += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        body += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"
        body += b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
        body += b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + body + b"\x3b"


def webp(kind: str, width: int, height: int) -> bytes:
    if kind == "VP8 ":
        data = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height)
    elif kind == "VP8L":
        data = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14)
    else:
        data = (
            b"\x00\x00\x00\x00"
            + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little")
        )
    chunk = kind.encode() + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# Two frames, each with its own palette, and no global palette (GIF87a).
GIF_WITH_LOCAL_PALETTES = b"".join(
    [
        b"GIF87a\x03\x00\x04\x00\x00\x00\x00",
        *[b"\x2c" + bytes(8) + b"\x81" + bytes(12) + b"\x02\x01\x00\x00"] * 2,
        b"\x3b",
    ]
)


def mp4(size: int) -> bytes:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return (
        head
        + bytes(range(256)) * ((size - len(head)) // 256)
        + b"\x00" * ((size - len(head)) % 256)
    )


# Helpers


class FakeTime:
    """
    A wall clock that moves only when the code under test sleeps.
    """

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def multipart(
    fields: Sequence[tuple[str, str | bytes]], boundary: str = "emulator-test-boundary"
) -> tuple[bytes, str]:
    parts = []
    for name, value in fields:
        disposition = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
        if isinstance(value, bytes):
            head = f'{disposition}; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n'
            parts.append(head.encode() + value + b"\r\n")
        else:
            parts.append(f"{disposition}\r\n\r\n{value}\r\n".encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Raw:
    """
    Hand-made requests, signed by oauthlib (an OAuth client twupload does not use).
    """

    def __init__(
        self,
        emu: Emulator,
        http: httpx.AsyncClient,
        credentials: OAuth1Credentials | None = None,
    ) -> None:
        creds = credentials or emu.credentials
        self.url = emu.url
        self.http = http
        self.signer = OAuthlibClient(
            creds.consumer_key,
            client_secret=creds.consumer_secret,
            resource_owner_key=creds.access_token,
            resource_owner_secret=creds.access_token_secret,
        )

    def sign(
        self, method: str, url: str, body: str | None, headers: dict[str, str]
    ) -> dict[str, str]:
        _, signed, _ = self.signer.sign(
            url, http_method=method, body=body, headers=headers
        )
        return dict(signed)

    async def send(
        self,
        method: str = "POST",
        path: str = UPLOAD,
        *,
        query: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        parts: Sequence[tuple[str, str | bytes]] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        body: bytes | str | None = content
        headers = {"Content-Type": content_type} if content_type else {}
        if form is not None:
            body, headers = urlencode(form), {"Content-Type": FORM}
        elif parts is not None:
            body, ctype = multipart(parts)
            headers = {"Content-Type": ctype}
        elif json_body is not None:
            body, headers = json.dumps(json_body), {"Content-Type": "application/json"}
        if sign:
            signed_body = body if isinstance(body, str) and form is not None else None
            headers = self.sign(method, url, signed_body, headers)
        return await self.http.request(method, url, content=body, headers=headers)

    async def init(self, **fields: str) -> int:
        response = await self.send(form={"command": "INIT", **fields})
        assert response.status_code == 202, response.text
        return int(response.json()["media_id_string"])


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """
    A started emulator with random credentials.
    """
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def fake() -> FakeTime:
    """
    A fake clock, for an emulator and a client that share it.
    """
    return FakeTime()


@pytest.fixture
def timed(fake: FakeTime) -> Iterator[Emulator]:
    """
    A started emulator on the fake clock: processing moves as the client sleeps.
    """
    with Emulator(clock=fake) as emulator:
        yield emulator


@pytest.fixture
async def raw(emu: Emulator) -> AsyncIterator[Raw]:
    """
    A signer and an httpx client for hand-made requests to *emu*.
    """
    async with httpx.AsyncClient(verify=TLS) as http:
        yield Raw(emu, http)


def client(
    emu: Emulator, fake: FakeTime | None = None, **options: Any
) -> AsyncMediaClient:
    if fake is not None:
        options.update(clock=fake, sleep=fake.sleep)
    return AsyncMediaClient(emu.credentials, base_url=emu.url, **options)


def errors(response: httpx.Response) -> list[tuple[int, str]]:
    return [(e["code"], e["message"]) for e in response.json()["errors"]]


# End to end with twupload's client


async def test_simple_upload_stores_the_bytes_and_measures_the_image(
    emu: Emulator,
) -> None:
    """
    A simple upload answers 200 with the real size and dimensions, and stores the bytes.
    """
    data = png(31, 17)
    async with client(emu) as c:
        result = await c.upload(
            data, additional_owners=[12, "34"], alt_text="a red box"
        )

    record = emu.get_media(result.media_id)
    assert result.size == len(data) == record.size
    assert result.media_key == f"3_{result.media_id}"
    assert record.category == "tweet_image"
    assert result.image is not None
    assert (result.image.image_type, result.image.w, result.image.h) == (
        "image/png",
        31,
        17,
    )
    assert record.data == data
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert (record.width, record.height, record.finalized) == (31, 17, True)
    assert record.additional_owners == ("12", "34")
    assert record.alt_text == "a red box"
    assert result.media_id > 2**53
    assert result.expires_after_secs == 86_400


async def test_base64_upload_is_decoded_before_it_is_stored(emu: Emulator) -> None:
    """
    ``media_data`` is decoded: the stored bytes equal the original, and a category gives a key.
    """
    data = jpeg(640, 480)
    async with client(emu) as c:
        result = await c.upload(data, encoding="base64", media_category="tweet_image")

    assert emu.get_media(result.media_id).data == data
    assert result.media_key == f"3_{result.media_id}"
    assert result.image is not None
    assert (result.image.image_type, result.image.w, result.image.h) == (
        "image/jpeg",
        640,
        480,
    )


async def test_chunked_video_is_assembled_and_processed(
    timed: Emulator, fake: FakeTime
) -> None:
    """
    INIT, APPENDs and FINALIZE store the video in order; STATUS walks pending to succeeded.
    """
    emu = timed
    emu.set_processing("succeed", steps=2, check_after_secs=3)
    data = mp4(2 * MIB + 12345)
    seen: list[str] = []
    async with client(emu, fake, segment_bytes=MIB) as c:
        result = await c.upload(
            data,
            media_category="tweet_video",
            on_processing=lambda i: seen.append(i.state),
        )

    record = emu.get_media(result.media_id)
    assert record.data == data
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert [s.size for s in record.segments] == [MIB, MIB, 12345]
    assert (record.media_type, record.declared_type, record.category) == (
        "video/mp4",
        "video/mp4",
        "tweet_video",
    )
    assert record.media_key == result.media_key == f"7_{result.media_id}"
    assert record.processing_state == "succeeded"
    assert result.video is not None
    assert result.video.video_type == "video/mp4"
    assert seen == ["pending", "in_progress", "in_progress", "succeeded"]
    assert fake.slept == [3, 3, 3]
    commands = [(r.command, r.status, r.segment_index) for r in emu.requests]
    # Segments may be in flight together and arrive in any order.
    commands[1:4] = sorted(commands[1:4], key=lambda c: c[2] or 0)
    assert commands == [
        ("INIT", 202, None),
        ("APPEND", 204, 0),
        ("APPEND", 204, 1),
        ("APPEND", 204, 2),
        ("FINALIZE", 201, None),
        ("STATUS", 200, None),
        ("STATUS", 200, None),
        ("STATUS", 200, None),
    ]


async def test_animated_gif_gets_a_gif_key_and_alt_text(
    timed: Emulator, fake: FakeTime
) -> None:
    """
    An animated GIF goes chunked with tweet_gif, is keyed ``16_``, and takes alt text.
    """
    emu = timed
    data = gif(8, 6, frames=3)
    async with client(emu, fake) as c:
        result = await c.upload(data, alt_text="dancing")

    record = emu.get_media(result.media_id)
    assert record.media_key == f"16_{result.media_id}"
    assert (record.category, record.width, record.height) == ("tweet_gif", 8, 6)
    assert record.alt_text == "dancing"
    assert result.video is not None


@pytest.mark.parametrize(
    ("mode", "state"), [("fail", "failed"), ("stuck_in_progress", "in_progress")]
)
async def test_failed_processing_reaches_the_client(
    timed: Emulator, fake: FakeTime, mode: Any, state: str
) -> None:
    """
    ``failed``, and ``in_progress`` with an error object, both end the upload with the error.
    """
    emu = timed
    emu.set_processing(
        mode, steps=1, error_code=3, error_name="UnsupportedMedia", error_message="no"
    )
    async with client(emu, fake) as c:
        with pytest.raises(MediaProcessingError) as caught:
            await c.upload(mp4(4000), media_category="tweet_video")

    assert (caught.value.code, caught.value.name, caught.value.message) == (
        3,
        "UnsupportedMedia",
        "no",
    )
    assert emu.get_media(caught.value.media_id or 0).processing_state == state


async def test_processing_that_stays_pending_times_out(
    timed: Emulator, fake: FakeTime
) -> None:
    """
    ``pending_forever`` keeps answering pending, so the client gives up at its deadline.
    """
    emu = timed
    emu.set_processing("pending_forever", check_after_secs=5)
    async with client(emu, fake, processing_timeout=20) as c:
        with pytest.raises(UploadTimeoutError):
            await c.upload(mp4(4000), media_category="amplify_video")

    assert fake.slept == [5, 5, 5, 5]
    assert [r.command for r in emu.requests].count("STATUS") == 4


async def test_status_and_metadata_through_the_client(emu: Emulator) -> None:
    """
    STATUS of an image has no processing_info, and set_alt_text stores the text.
    """
    async with client(emu) as c:
        result = await c.upload(png(2, 2))
        status = await c.status(result.media_id)
        await c.set_alt_text(result.media_id, "é" * 1000)

    assert status.processing is None
    assert status.image is not None
    assert emu.get_media(result.media_id).alt_text == "é" * 1000


# OAuth


async def test_any_oauth1_client_is_accepted(emu: Emulator, raw: Raw) -> None:
    """
    oauthlib-signed requests sent with plain httpx pass: a form INIT and a multipart upload.
    """
    init = await raw.send(
        form={
            "command": "INIT",
            "total_bytes": "5000",
            "media_type": "video/mp4",
            "media_category": "dm_video",
            "shared": "true",
        }
    )
    assert init.status_code == 202
    body = init.json()
    assert set(body) == {
        "media_id",
        "media_id_string",
        "expires_after_secs",
        "media_key",
    }
    assert body["media_key"] == f"7_{body['media_id']}"
    assert emu.get_media(body["media_id"]).shared is True

    data = png(5, 4)
    simple = await raw.send(
        parts=[("media_category", "dm_image"), ("media", data)],
        query={"additional_owners": "7,8"},
    )
    assert simple.status_code == 200
    assert simple.json()["image"] == {"image_type": "image/png", "w": 5, "h": 4}
    record = emu.get_media(simple.json()["media_id"])
    assert (record.data, record.category, record.additional_owners) == (
        data,
        "dm_image",
        ("7", "8"),
    )


async def test_a_form_field_named_realm_is_signed_like_any_other(
    emu: Emulator, raw: Raw
) -> None:
    """
    RFC 5849 3.4.1.3.1 leaves out only the header's realm: oauthlib signs a form realm, and so must we.
    """
    fields = {
        "command": "INIT",
        "total_bytes": "5000",
        "media_type": "video/mp4",
        "realm": "photos",
    }
    accepted = await raw.send(form=fields)
    assert accepted.status_code == 202, emu.requests[-1].note
    # The same signature over a different realm value must not pass.
    url = raw.url + UPLOAD
    headers = raw.sign("POST", url, urlencode(fields), {"Content-Type": FORM})
    tampered = await raw.http.post(
        url, content=urlencode({**fields, "realm": "other"}), headers=headers
    )
    assert tampered.status_code == 401
    assert emu.requests[-1].note == "signature mismatch"


async def test_a_wrong_signature_is_refused_with_code_32(emu: Emulator) -> None:
    """
    Credentials with the wrong secret get 401 and error 32; nothing is stored.
    """
    wrong = OAuth1Credentials(
        emu.credentials.consumer_key,
        "not-the-secret",
        emu.credentials.access_token,
        "nope",
    )
    async with AsyncMediaClient(wrong, base_url=emu.url) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.upload(png(3, 3))

    assert caught.value.status_code == 401
    assert caught.value.errors == ((32, "Could not authenticate you."),)
    assert caught.value.request_id == emu.requests[-1].transaction_id
    assert emu.media == {}
    assert emu.stats.rejected_401 == 1
    assert emu.requests[-1].note == "signature mismatch"


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"consumer_key": "someone-else"}, "unknown consumer key"),
        ({"access_token": "1-other"}, "unknown access token"),
    ],
)
async def test_other_credentials_are_refused(
    emu: Emulator, change: dict[str, str], note: str
) -> None:
    """
    A signature made with another app's or user's keys is refused, however well formed.
    """
    creds = emu.credentials
    other = OAuth1Credentials(
        change.get("consumer_key", creds.consumer_key),
        creds.consumer_secret,
        change.get("access_token", creds.access_token),
        creds.access_token_secret,
    )
    async with httpx.AsyncClient(verify=TLS) as http:
        response = await Raw(emu, http, other).send(
            "GET", query={"command": "STATUS", "media_id": "1"}
        )
    assert response.status_code == 401
    assert emu.requests[-1].note == note


async def test_a_replayed_nonce_and_stale_timestamps_are_refused(
    emu: Emulator, raw: Raw
) -> None:
    """
    The same signed request sent twice fails the second time; so does an old timestamp.
    """
    url = f"{emu.url}{UPLOAD}?command=STATUS&media_id=1"
    headers = raw.sign("GET", url, None, {})
    first = await raw.http.get(url, headers=headers)
    second = await raw.http.get(url, headers=headers)
    assert (first.status_code, second.status_code) == (400, 401)
    assert emu.requests[-1].note == "oauth_nonce was used before"

    raw.signer.timestamp = str(int(time.time()) - 301)
    stale = await raw.send("GET", query={"command": "STATUS", "media_id": "1"})
    assert stale.status_code == 401
    assert emu.requests[-1].note == "oauth_timestamp is too far from the server's clock"


@pytest.mark.parametrize(
    ("authorization", "note"),
    [
        (None, "no OAuth Authorization header"),
        (
            "Bearer abc",
            "bearer token on a v1.1 path (OAuth 2.0 works on /2 paths only)",
        ),
        ('OAuth oauth_consumer_key="a", broken', "no OAuth Authorization header"),
        (
            'OAuth oauth_consumer_key="a"',
            "missing oauth_nonce, oauth_signature, oauth_signature_method, oauth_timestamp, oauth_token",
        ),
    ],
)
async def test_malformed_authorization_is_refused(
    emu: Emulator, raw: Raw, authorization: str | None, note: str
) -> None:
    """
    A missing, foreign or incomplete Authorization header gets 401 code 32.
    """
    headers = {"Authorization": authorization} if authorization else {}
    response = await raw.http.get(
        f"{emu.url}{UPLOAD}", params={"command": "STATUS"}, headers=headers
    )
    assert response.status_code == 401
    assert errors(response) == [(32, "Could not authenticate you.")]
    assert emu.requests[-1].note == note


def oauthlib_client(**options: str) -> OAuthlibClient:
    return OAuthlibClient(
        "ck",
        client_secret="cs",
        resource_owner_key="1-at",
        resource_owner_secret="ats",
        **options,
    )


VERIFIER_CREDENTIALS = OAuth1Credentials("ck", "cs", "1-at", "ats")


@pytest.mark.parametrize(
    ("options", "edit", "note"),
    [
        (
            {"signature_method": "PLAINTEXT"},
            ("", ""),
            "oauth_signature_method is not HMAC-SHA1",
        ),
        (
            {},
            ('oauth_version="1.0"', 'oauth_version="2.0"'),
            "oauth_version is not 1.0",
        ),
        ({"timestamp": "soon"}, ("", ""), "oauth_timestamp is not a number"),
    ],
)
def test_verifier_refuses_bad_oauth_parameters(
    options: dict[str, str], edit: tuple[str, str], note: str
) -> None:
    """
    Only HMAC-SHA1, version 1.0 and numeric timestamps are accepted.
    """
    _, headers, _ = oauthlib_client(**options).sign("http://h/p", http_method="GET")
    authorization = headers["Authorization"].replace(*edit)
    verifier = OAuthVerifier(VERIFIER_CREDENTIALS, clock=time.time)
    found = verifier.verify(
        method="GET", url="http://h/p", params=[], authorization=authorization
    )
    assert found == note


def test_verifier_forgets_nonces_once_their_timestamps_are_stale() -> None:
    """
    Remembered nonces are pruned as time passes, so their memory stays bounded.
    """
    now = 1_800_000_000.0
    verifier = OAuthVerifier(VERIFIER_CREDENTIALS, clock=lambda: now)

    def verify() -> str | None:
        signer = oauthlib_client(timestamp=str(int(now)), nonce="same")
        _, headers, _ = signer.sign("http://h/p", http_method="GET")
        return verifier.verify(
            method="GET",
            url="http://h/p",
            params=[],
            authorization=headers["Authorization"],
        )

    assert verify() is None
    assert verify() == "oauth_nonce was used before"
    now += 700
    assert verify() is None
    assert list(verifier._nonces) == [(str(int(now)), "same")]


def test_verifier_matches_the_x_documentation_example() -> None:
    """
    The "Creating a signature" example of the X docs verifies, and any change breaks it.
    """
    creds = OAuth1Credentials(
        "xvz1evFS4wEEPTGEFPHBog",
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )
    authorization = (
        'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", '
        'oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
        'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D", '
        'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", '
        'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"'
    )
    params = [
        ("include_entities", "true"),
        ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
    ]
    verifier = OAuthVerifier(creds, clock=lambda: 1318622958.0)
    url = "https://api.twitter.com/1.1/statuses/update.json"
    assert (
        verifier.verify(
            method="POST", url=url, params=params, authorization=authorization
        )
        is None
    )
    again = verifier.verify(
        method="POST", url=url, params=params[:1], authorization=authorization
    )
    assert again == "signature mismatch"


async def test_credentials_that_need_percent_encoding_work() -> None:
    """
    Keys with reserved characters sign and verify alike on both sides.
    """
    creds = OAuth1Credentials("key+/=&", "sécret %20", "1-tök/en", "s&e=c;r,e t")
    with Emulator(credentials=creds) as emu:
        async with client(emu) as c:
            result = await c.upload(png(1, 1))
        assert emu.get_media(result.media_id).size == len(png(1, 1))
        assert emu.credentials is creds


# Rate limits


async def test_rate_limit_headers_count_down_then_reset(raw: Raw) -> None:
    """
    Each STATUS lowers remaining, the window then answers 429 code 88, and reopens at reset.
    """
    fake = FakeTime()
    fake.now = float(int(fake.now)) + 0.25
    with Emulator(credentials=raw_credentials(raw), clock=fake) as emu:
        raw.url = emu.url
        emu.set_rate_limit("STATUS", limit=2, window=30.0)
        media_id = (await raw.send(parts=[("media", png(2, 2))])).json()[
            "media_id_string"
        ]
        query = {"command": "STATUS", "media_id": media_id}

        answers = [await raw.send("GET", query=query) for _ in range(4)]
        fake.now += 30
        after = await raw.send("GET", query=query)

    reset = int(fake.now - 30 - 0.25) + 31
    seen = [
        (
            r.status_code,
            r.headers["x-rate-limit-remaining"],
            r.headers["x-rate-limit-reset"],
        )
        for r in [*answers, after]
    ]
    assert seen == [
        (200, "1", str(reset)),
        (200, "0", str(reset)),
        (429, "0", str(reset)),
        (429, "0", str(reset)),
        (200, "1", str(reset + 30)),
    ]
    assert all(r.headers["x-rate-limit-limit"] == "2" for r in answers)
    assert errors(answers[2]) == [(88, "Rate limit exceeded")]
    assert emu.stats.rejected_429 == 2
    assert emu.rate_limit("STATUS") == {"limit": 2, "remaining": 1, "reset": reset + 30}
    assert emu.rate_limit("upload")["remaining"] == 414


def raw_credentials(raw: Raw) -> OAuth1Credentials:
    signer = raw.signer
    return OAuth1Credentials(
        signer.client_key,
        signer.client_secret,
        signer.resource_owner_key,
        signer.resource_owner_secret,
    )


async def test_the_client_waits_for_the_reset_instead_of_hitting_429() -> None:
    """
    With one upload per window, twupload's second upload waits out the window, never seeing 429.
    """
    fake = FakeTime()
    with Emulator(clock=fake) as emu:
        emu.set_rate_limit("upload", limit=1, window=60.0)
        async with client(emu, fake) as c:
            first = await c.upload(png(1, 1))
            second = await c.upload(png(1, 2))
        stats = emu.stats

    assert first.media_id != second.media_id
    assert stats.rejected_429 == 0
    assert len(fake.slept) == 1
    assert 60 <= fake.slept[0] <= 63


async def test_every_response_carries_a_transaction_id(emu: Emulator, raw: Raw) -> None:
    """
    Successes, errors and refusals all carry ``x-transaction-id``, as the log records.
    """
    responses = [
        await raw.send("GET", query={"command": "STATUS", "media_id": "1"}),
        await raw.send("GET", query={"command": "STATUS"}, sign=False),
        await raw.send(parts=[("media", png(1, 1))]),
    ]
    ids = [r.headers["x-transaction-id"] for r in responses]
    assert ids == [r.transaction_id for r in emu.requests]
    assert len(set(ids)) == 3


# Faults


async def test_injected_503_is_retried_by_the_client(emu: Emulator) -> None:
    """
    fail_next answers 503 once with the service's body; the client's retry then succeeds.
    """
    emu.fail_next(status=503)
    fake = FakeTime()
    async with client(emu, fake) as c:
        result = await c.upload(png(4, 4))

    assert [(r.status, r.note) for r in emu.requests] == [
        (503, "injected"),
        (200, None),
    ]
    assert emu.stats.injected_failures == 1
    assert emu.get_media(result.media_id).size == len(png(4, 4))


async def test_injected_429_with_retry_after_is_honoured(
    timed: Emulator, fake: FakeTime
) -> None:
    """
    An injected 429 with Retry-After makes the client wait exactly that long.
    """
    emu = timed
    emu.fail_next(status=429, headers={"Retry-After": "7"}, command="INIT")
    async with client(emu, fake) as c:
        await c.upload(mp4(3000), media_category="tweet_video")

    assert fake.slept[0] == 7
    assert [r.status for r in emu.requests][:2] == [429, 202]


async def test_injected_failures_match_their_command_and_body(
    emu: Emulator, raw: Raw
) -> None:
    """
    A command-specific failure skips other commands; bodies may be text, bytes or JSON.
    """
    emu.fail_next(2, status=500, body="oops", command="STATUS")
    emu.fail_next(
        status=500,
        body=b"<html/>",
        headers={"content-type": "text/html"},
        command="FINALIZE",
    )
    emu.fail_next(status=502, body=b"", headers={"x-extra": "1"})
    emu.fail_next(status=400, body={"errors": ["plain"]})
    upload = await raw.send(parts=[("media", png(1, 1))])
    status = [
        await raw.send("GET", query={"command": "STATUS", "media_id": "1"})
        for _ in range(3)
    ]
    other = await raw.send("GET", query={"command": "STATUS", "media_id": "1"})

    assert (upload.status_code, upload.content, upload.headers["x-extra"]) == (
        502,
        b"",
        "1",
    )
    assert [(r.status_code, r.content) for r in status[:2]] == [(500, b"oops")] * 2
    assert status[0].headers["content-type"] == "text/plain; charset=utf-8"
    finalize = await raw.send(form={"command": "FINALIZE", "media_id": "1"})
    assert (finalize.content, finalize.headers["content-type"]) == (
        b"<html/>",
        "text/html",
    )
    assert (status[2].status_code, status[2].json()) == (400, {"errors": ["plain"]})
    assert other.status_code == 400
    assert errors(other) == [(325, "Media id 1 not found.")]


async def test_default_failure_bodies_follow_the_service(
    emu: Emulator, raw: Raw
) -> None:
    """
    Without a body, an injected failure sends the service's error for that status.
    """
    for status in (401, 429, 500, 503, 504):
        emu.fail_next(status=status)
    answers = [await raw.send("GET", query={"command": "STATUS"}) for _ in range(5)]
    assert [errors(a)[0][0] for a in answers] == [32, 88, 131, 130, 131]
    assert {a.headers["content-type"] for a in answers} == {
        "application/json; charset=utf-8"
    }


async def test_dropped_connection_mid_body_is_retried(emu: Emulator) -> None:
    """
    drop_next closes the connection after some media bytes; the client retries on a new one.
    """
    emu.drop_next(after_bytes=10_000, command="upload")
    data = png(3, 3) + bytes(range(256)) * 8192
    fake = FakeTime()
    async with client(emu, fake) as c:
        result = await c.upload(data)

    first, second = emu.requests
    assert (first.status, first.note, first.command) == (None, "dropped", "upload")
    assert 10_000 <= first.body_bytes < len(data)
    assert second.status == 200
    assert emu.stats.dropped_connections == 1
    assert emu.get_media(result.media_id).data == data


@pytest.mark.parametrize("after_bytes", [0, 10**9])
async def test_dropped_connection_without_retries_is_a_transport_error(
    emu: Emulator, after_bytes: int
) -> None:
    """
    With retries off, a dropped connection (at the part's start or end) surfaces as TransportError.
    """
    emu.drop_next(after_bytes=after_bytes)
    async with client(emu, max_retries=0) as c:
        with pytest.raises(TransportError):
            await c.upload(png(2, 2))
    assert emu.media == {}


@pytest.mark.filterwarnings(
    # This test drives plain httpx, whose own body generators trio reports when a
    # write fails (encode/httpx#3686); twupload's requests avoid them.
    "ignore::pytest.PytestUnraisableExceptionWarning"
)
async def test_requests_are_dropped_mid_body_or_after_it(
    emu: Emulator, raw: Raw
) -> None:
    """
    A planned drop cuts a multipart upload mid-media, and form or GET requests after their body.
    """
    emu.drop_next(after_bytes=64 * 1024, command="upload")
    with pytest.raises(httpx.TransportError):
        await raw.send(parts=[("media", png(1, 1) + b"\x00" * (4 * MIB))])
    assert 64 * 1024 < emu.requests[-1].body_bytes < 4 * MIB
    emu.reset_stats()
    emu.drop_next(command="metadata")
    emu.drop_next(2)
    with pytest.raises(httpx.TransportError):
        await raw.send(
            form={"command": "INIT", "total_bytes": "10", "media_type": "video/mp4"}
        )
    with pytest.raises(httpx.TransportError):
        await raw.send("GET", query={"command": "STATUS", "media_id": "1"})
    assert [r.note for r in emu.requests] == ["dropped", "dropped"]
    assert emu.media == {}


async def test_latency_holds_requests_open_and_shows_concurrency(
    emu: Emulator, raw: Raw
) -> None:
    """
    With latency, concurrent requests overlap in the server, and max_concurrent counts them.
    """
    emu.set_latency(0.3, command="STATUS")
    emu.set_latency(0.0)
    started = time.monotonic()

    async def status() -> None:
        await raw.send("GET", query={"command": "STATUS", "media_id": "1"})

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(status)
    assert time.monotonic() - started >= 0.3
    assert emu.max_concurrent == 3
    emu.set_latency(0, command="STATUS")
    emu.reset_stats()
    await raw.send("GET", query={"command": "STATUS", "media_id": "1"})
    assert emu.max_concurrent == 1
    emu.set_latency(5)
    emu.clear_faults()
    await raw.send("GET", query={"command": "STATUS", "media_id": "1"})


# Protocol errors


async def test_oversized_simple_image_gets_an_empty_413(
    emu: Emulator, raw: Raw
) -> None:
    """
    A simple upload over 5 MiB is refused with 413 and an empty body, and nothing is kept.
    """
    data = png(1, 1) + b"\x00" * (5 * MIB)
    response = await raw.send(parts=[("media", data)])
    assert (response.status_code, response.content) == (413, b"")
    assert emu.media == {}
    assert emu.requests[-1].body_bytes == emu.requests[-1].content_length


async def test_simple_upload_refusals(emu: Emulator, raw: Raw) -> None:
    """
    Missing, doubled, undecodable, unrecognized, video and mismatched media are refused.
    """
    still, animated = png(2, 2), gif(2, 2, frames=2)
    cases: list[tuple[Fields, int, tuple[int, str]]] = [
        ([("media_category", "tweet_image")], 400, (38, "media parameter is missing.")),
        (
            [("media", still), ("media_data", "AAAA")],
            400,
            (44, "Send only one of media and media_data."),
        ),
        ([("media_data", "AAA")], 400, (44, "media_data parameter is invalid.")),
        ([("media_data", "A$A=")], 400, (44, "media_data parameter is invalid.")),
        (
            [("media", still), ("media_category", "tweet_film")],
            400,
            (324, "Invalid media_category 'tweet_film'."),
        ),
        (
            [("media", still), ("additional_owners", "1,x")],
            400,
            (44, "additional_owners parameter is invalid."),
        ),
        (
            [("media", mp4(100))],
            400,
            (324, "Video must be uploaded in chunks (INIT, APPEND, FINALIZE)."),
        ),
        (
            [("media", still), ("media_category", "tweet_gif")],
            400,
            (324, "media_category tweet_gif needs the chunked upload (INIT)."),
        ),
        (
            [("media", animated), ("media_category", "tweet_image")],
            400,
            (
                324,
                "Invalid media: an animated GIF does not fit media_category tweet_image.",
            ),
        ),
    ]
    for fields, status, error in cases:
        response = await raw.send(parts=fields)
        assert (response.status_code, errors(response)) == (status, [error])

    unknown = await raw.send(parts=[("media", b"BM" + b"\x00" * 100)])
    assert unknown.json() == {"request": UPLOAD, "error": "media type unrecognized."}
    legacy = await raw.send(parts=[("media", animated)])
    assert legacy.json()["image"]["image_type"] == "image/gif"
    assert "media_key" not in legacy.json()
    assert emu.get_media(legacy.json()["media_id"]).media_key.startswith("16_")


async def test_form_upload_with_media_data_is_signed_with_its_body(
    emu: Emulator, raw: Raw
) -> None:
    """
    A form-urlencoded simple upload with ``media_data`` works; raw ``media`` in a form does not.
    """
    data = png(3, 2)
    ok = await raw.send(form={"media_data": base64.b64encode(data).decode()})
    assert ok.status_code == 200
    assert emu.get_media(ok.json()["media_id"]).data == data
    refused = await raw.send(form={"media": "xyz"})
    assert (
        refused.json()["error"]
        == "Send raw media as multipart/form-data, or use media_data."
    )


async def test_init_refusals(emu: Emulator, raw: Raw) -> None:
    """
    INIT refuses missing or bad sizes, unknown types, category mismatches and oversize media.
    """
    cases = [
        ({"media_type": "video/mp4"}, (38, "total_bytes parameter is missing.")),
        (
            {"total_bytes": "-1", "media_type": "video/mp4"},
            (44, "total_bytes parameter is invalid."),
        ),
        (
            {"total_bytes": "0", "media_type": "video/mp4"},
            (44, "total_bytes parameter is invalid."),
        ),
        ({"total_bytes": "10"}, (38, "media_type parameter is missing.")),
        (
            {"total_bytes": "10", "media_type": "video/mp4", "media_category": "nope"},
            (324, "Invalid media_category 'nope'."),
        ),
        (
            {
                "total_bytes": "10",
                "media_type": "video/mp4",
                "additional_owners": ",".join(["1"] * 101),
            },
            (44, "additional_owners parameter is invalid."),
        ),
        (
            {
                "total_bytes": "10",
                "media_type": "image/png",
                "media_category": "tweet_gif",
            },
            (
                324,
                "Invalid media: media_type image/png does not fit media_category tweet_gif.",
            ),
        ),
        (
            {
                "total_bytes": str(15 * MIB + 1),
                "media_type": "image/gif",
                "media_category": "tweet_gif",
            },
            (324, f"File size exceeds {15 * MIB} bytes."),
        ),
    ]
    for fields, error in cases:
        response = await raw.send(form={"command": "INIT", **fields})
        assert (response.status_code, errors(response)) == (400, [error]), fields

    bmp = await raw.send(
        form={"command": "INIT", "total_bytes": "10", "media_type": "image/bmp"}
    )
    assert bmp.json()["error"] == "media type unrecognized."
    subtitles = await raw.send(
        form={
            "command": "INIT",
            "total_bytes": "10",
            "media_type": "text/srt",
            "media_category": "subtitles",
        }
    )
    assert subtitles.status_code == 202
    assert emu.media == {
        subtitles.json()["media_id"]: emu.get_media(subtitles.json()["media_id"])
    }


async def test_append_and_finalize_refusals(emu: Emulator, raw: Raw) -> None:
    """
    Segment index, size, media id and byte-count errors come back in the service's shapes.
    """
    media_id = str(
        await raw.init(
            total_bytes="100", media_type="video/mp4", media_category="tweet_video"
        )
    )

    async def append(
        index: str, media: bytes | None = b"x", mid: str = media_id
    ) -> httpx.Response:
        fields: list[tuple[str, str | bytes]] = [
            ("command", "APPEND"),
            ("media_id", mid),
            ("segment_index", index),
        ]
        return await raw.send(
            parts=[*fields, *([("media", media)] if media is not None else [])]
        )

    big = await append("0", b"\x00" * (5 * MIB + 1))
    assert big.json() == {
        "request": UPLOAD,
        "error": f"Segment size exceeds {5 * MIB} bytes.",
    }
    assert (await append("1000")).json() == {
        "request": UPLOAD,
        "error": "SegmentIndex must be between 0 and 999.",
    }
    assert errors(await append("-1")) == [(44, "segment_index parameter is invalid.")]
    assert errors(await append("0", None)) == [(38, "media parameter is missing.")]
    bad_base64 = [
        ("command", "APPEND"),
        ("media_id", media_id),
        ("segment_index", "0"),
        ("media_data", "A"),
    ]
    assert errors(await raw.send(parts=bad_base64)) == [
        (44, "media_data parameter is invalid.")
    ]
    assert errors(await append("0", mid="123")) == [(325, "Media id 123 not found.")]
    assert errors(await append("0", mid="")) == [(38, "media_id parameter is missing.")]
    form_append = await raw.send(
        form={
            "command": "APPEND",
            "media_id": media_id,
            "segment_index": "0",
            "media_data": "AAAA",
        }
    )
    assert errors(form_append) == [(38, "media parameter is missing.")]

    assert (await append("0", b"\x00" * 10)).status_code == 204
    finalize = await raw.send(form={"command": "FINALIZE", "media_id": media_id})
    assert finalize.json() == {
        "request": UPLOAD,
        "error": "Segments do not add up to provided total file size.",
    }
    assert errors(await raw.send(form={"command": "FINALIZE"})) == [
        (38, "media_id parameter is missing.")
    ]
    bogus = await raw.send(form={"command": "BOGUS"})
    assert errors(bogus) == [(44, "command parameter is invalid.")]


async def test_finalize_checks_the_bytes_against_the_category(
    emu: Emulator, raw: Raw
) -> None:
    """
    FINALIZE refuses bytes that are no media at all, or that do not fit the category.
    """

    async def upload(data: bytes, **fields: str) -> httpx.Response:
        media_id = str(await raw.init(total_bytes=str(len(data)), **fields))
        await raw.send(
            parts=[
                ("command", "APPEND"),
                ("media_id", media_id),
                ("segment_index", "0"),
                ("media", data),
            ]
        )
        return await raw.send(form={"command": "FINALIZE", "media_id": media_id})

    still = png(2, 2)
    mismatch = await upload(still, media_type="video/mp4", media_category="tweet_video")
    assert errors(mismatch) == [
        (324, "Invalid media: the image/png bytes does not fit tweet_video.")
    ]
    garbage = await upload(b"\x00" * 50, media_type="video/mp4")
    assert garbage.json()["error"] == "media type unrecognized."
    declared = await upload(gif(2, 2, frames=2), media_type="image/png")
    assert errors(declared) == [
        (324, "Invalid media: the image/gif bytes does not fit media_type image/png.")
    ]

    plain = await upload(still, media_type="image/png")
    assert plain.status_code == 201
    assert plain.json()["image"] == {"image_type": "image/png", "w": 2, "h": 2}
    assert "processing_info" not in plain.json()
    video = await upload(mp4(1000), media_type="video/mp4")
    assert video.json()["video"] == {"video_type": "video/mp4"}
    subtitles = await upload(
        b"1\n00:00:01,000 --> 00:00:02,000\nhi\n",
        media_type="text/srt",
        media_category="subtitles",
    )
    assert subtitles.status_code == 201
    assert set(subtitles.json()) == {
        "media_id",
        "media_id_string",
        "media_key",
        "size",
        "expires_after_secs",
    }


async def test_repeated_finalize_and_late_append(emu: Emulator, raw: Raw) -> None:
    """
    A second FINALIZE repeats the state without moving processing on; APPEND after it is refused.
    """
    data = mp4(500)
    media_id = str(
        await raw.init(
            total_bytes="500", media_type="video/mp4", media_category="tweet_video"
        )
    )
    append: Fields = [
        ("command", "APPEND"),
        ("media_id", media_id),
        ("segment_index", "0"),
        ("media", data),
    ]
    await raw.send(parts=append)
    first = await raw.send(form={"command": "FINALIZE", "media_id": media_id})
    second = await raw.send(form={"command": "FINALIZE", "media_id": media_id})
    assert (
        first.json()["processing_info"]
        == second.json()["processing_info"]
        == {"state": "pending", "check_after_secs": 1}
    )
    late = await raw.send(parts=append)
    assert errors(late) == [(324, f"Media id {media_id} is already finalized.")]


async def test_segments_replace_and_arrive_out_of_order(
    emu: Emulator, raw: Raw
) -> None:
    """
    Segments are assembled by index whatever their order, and a re-sent index replaces the old one.
    """
    data = mp4(300)
    media_id = str(await raw.init(total_bytes="300", media_type="video/mp4"))
    for index, piece in [
        (1, data[100:200]),
        (2, data[200:]),
        (0, b"\xff" * 100),
        (0, data[:100]),
    ]:
        await raw.send(
            parts=[
                ("command", "APPEND"),
                ("media_id", media_id),
                ("segment_index", str(index)),
                ("media", piece),
            ]
        )
    assert emu.get_media(media_id).data == data
    assert emu.get_media(media_id).sha256 is None
    await raw.send(form={"command": "FINALIZE", "media_id": media_id})
    record = emu.get_media(media_id)
    assert (record.data, record.sha256, record.finalized) == (
        data,
        hashlib.sha256(data).hexdigest(),
        True,
    )


async def test_digests_without_kept_bytes_survive_any_segment_order(
    raw: Raw,
) -> None:
    """
    Without kept bytes, segments in any order (repeats allowed) give a digest; a changed one none.
    """
    data = mp4(3000)
    with Emulator(credentials=raw_credentials(raw), keep_bytes=False) as emu:
        raw.url = emu.url

        async def upload(order: list[tuple[int, bytes]]) -> MediaRecord:
            media_id = str(
                await raw.init(total_bytes=str(len(data)), media_type="video/mp4")
            )
            for index, piece in order:
                fields = [
                    ("command", "APPEND"),
                    ("media_id", media_id),
                    ("segment_index", str(index)),
                ]
                assert (
                    await raw.send(parts=[*fields, ("media", piece)])
                ).status_code == 204
            unfinished = emu.get_media(media_id)
            assert (unfinished.data, unfinished.sha256, unfinished.finalized) == (
                None,
                None,
                False,
            )
            finalize = await raw.send(
                form={"command": "FINALIZE", "media_id": media_id}
            )
            assert finalize.json()["video"] == {"video_type": "video/mp4"}
            return emu.get_media(media_id)

        digest = hashlib.sha256(data).hexdigest()
        in_order = await upload([(0, data[:1000]), (0, data[:1000]), (1, data[1000:])])
        shuffled = await upload(
            [(2, data[2000:]), (1, data[1000:2000]), (2, data[2000:]), (0, data[:1000])]
        )
        changed = await upload(
            [(0, b"\xff" * 1000), (0, data[:1000]), (1, data[1000:])]
        )

    assert (in_order.data, in_order.sha256) == (None, digest)
    assert (shuffled.data, shuffled.sha256, shuffled.size) == (None, digest, 3000)
    assert (changed.sha256, changed.media_type, changed.size) == (
        None,
        "video/mp4",
        3000,
    )
    assert [s.sha256 for s in changed.segments] == [
        hashlib.sha256(data[:1000]).hexdigest(),
        hashlib.sha256(data[1000:]).hexdigest(),
    ]


def test_segments_ahead_of_the_digest_are_kept_within_a_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Early segments wait for the digest while they fit the budget; past it, no digest.
    """
    monkeypatch.setattr(_state, "MAX_PENDING_BYTES", 10)

    def received(data: bytes | None, size: int = 6) -> Received:
        return Received("media", size, "x", data, b"", too_large=False, invalid=False)

    media = _state.Media(1, "video", True, "video/mp4", "video/mp4", None, 18, 0.0)
    media.add_segment(1, received(b"b" * 6), keep=False)
    assert media.pending == {1: b"b" * 6}
    media.add_segment(2, received(b"c" * 6), keep=False)  # over the budget
    assert (media.running_hash, media.pending) == (None, {})
    assert not media.takes_ahead(3)

    unkept = _state.Media(2, "video", True, "video/mp4", "video/mp4", None, 12, 0.0)
    unkept.add_segment(1, received(None), keep=False)  # its bytes were not kept
    assert unkept.running_hash is None

    # A segment sent twice at once: the copy that ends last changes nothing.
    twice = _state.Media(3, "video", True, "video/mp4", "video/mp4", None, 6, 0.0)
    first = hashlib.sha256(b"a" * 6)
    twice.add_segment(
        0,
        Received("media", 6, "x", None, b"", False, False, continued=first),
        keep=False,
    )
    twice.add_segment(0, received(b"a" * 6), keep=False)
    assert (twice.running_hash, twice.hashed_segments) == (first, 1)


async def test_status_refusals_and_expiry(raw: Raw) -> None:
    """
    STATUS needs a known, unexpired media id; expired media is forgotten.
    """
    fake = FakeTime()
    with Emulator(credentials=raw_credentials(raw), clock=fake, media_ttl=100) as emu:
        raw.url = emu.url
        media_id = (await raw.send(parts=[("media", png(1, 1))])).json()[
            "media_id_string"
        ]
        ok = await raw.send("GET", query={"command": "STATUS", "media_id": media_id})
        fake.now += 100
        assert emu.media == {}
        with pytest.raises(KeyError):
            emu.get_media(media_id)
        gone = await raw.send("GET", query={"command": "STATUS", "media_id": media_id})
        missing = await raw.send("GET", query={"media_id": media_id})
        posted = await raw.send(form={"command": "STATUS", "media_id": media_id})
        assert emu.media == {}

    assert ok.json()["expires_after_secs"] == 100
    assert errors(gone) == [(325, f"Media id {media_id} not found.")]
    assert errors(missing) == errors(posted) == [(44, "command parameter is invalid.")]


async def test_metadata_refusals(emu: Emulator, raw: Raw) -> None:
    """
    metadata/create checks the JSON, the media id, the text's length and the kind of media.
    """
    image = (await raw.send(parts=[("media", png(1, 1))])).json()["media_id_string"]
    video = str(await raw.init(total_bytes="10", media_type="video/mp4"))

    async def create(body: Any) -> httpx.Response:
        if isinstance(body, bytes):
            return await raw.send(
                path=METADATA, content=body, content_type="application/json"
            )
        return await raw.send(path=METADATA, json_body=body)

    assert errors(await create(b"{")) == [(44, "The body is not valid JSON.")]
    assert errors(await create([1])) == [(44, "The body must be a JSON object.")]
    assert errors(await create({"alt_text": {"text": "x"}})) == [
        (38, "media_id parameter is missing.")
    ]
    assert errors(await create({"media_id": "1", "alt_text": {"text": "x"}})) == [
        (325, "Media id 1 not found.")
    ]
    assert errors(await create({"media_id": image, "alt_text": "x"})) == [
        (38, "alt_text.text parameter is missing.")
    ]
    assert errors(
        await create({"media_id": image, "alt_text": {"text": "x" * 1001}})
    ) == [(44, "alt_text.text is longer than 1000 characters.")]
    assert errors(await create({"media_id": video, "alt_text": {"text": "x"}})) == [
        (324, f"Media id {video} is not finalized.")
    ]
    ok = await create({"media_id": int(image), "alt_text": {"text": "x" * 1000}})
    assert (ok.status_code, ok.content) == (200, b"")
    too_big = await create(b" " * (64 * 1024 + 1))
    assert (too_big.status_code, too_big.content) == (413, b"")

    data = mp4(1000)
    await raw.send(
        parts=[
            ("command", "APPEND"),
            ("media_id", video),
            ("segment_index", "0"),
            ("media", data[:10]),
        ]
    )
    await raw.send(form={"command": "FINALIZE", "media_id": video})
    assert errors(await create({"media_id": video, "alt_text": {"text": "x"}})) == [
        (324, "Alt text applies to images and GIFs only.")
    ]


async def test_http_level_refusals(emu: Emulator, raw: Raw) -> None:
    """
    Unknown paths are 404 (code 34); chunked or length-less POSTs are 411 with an empty body.
    """
    unknown = await raw.send("GET", path="/1.1/media/nothing.json")
    assert (unknown.status_code, errors(unknown)) == (
        404,
        [(34, "Sorry, that page does not exist.")],
    )
    wrong_method = await raw.http.put(f"{emu.url}{UPLOAD}", content=b"x")
    assert wrong_method.status_code == 404

    async def stream() -> AsyncIterator[bytes]:
        yield b"command=INIT"

    chunked = await raw.http.post(
        f"{emu.url}{UPLOAD}", content=stream(), headers={"Content-Type": FORM}
    )
    assert (chunked.status_code, chunked.content, chunked.headers["connection"]) == (
        411,
        b"",
        "close",
    )
    assert emu.requests[-1].note == "no Content-Length"

    with socket.create_connection(
        ("127.0.0.1", int(emu.url.rsplit(":", 1)[1]))
    ) as sock:
        sock.sendall(b"POST /1.1/media/upload.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 411 ")


def test_a_body_shorter_than_its_content_length_is_noticed() -> None:
    """
    A client that sends fewer bytes than Content-Length and closes gets no success.
    """
    with Emulator() as emu:
        port = int(emu.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /1.1/media/upload.json HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\ncommand=INIT"
            )
            sock.shutdown(socket.SHUT_WR)
            answer = sock.recv(1024)
    # Stopping finishes (or cancels) every handler, so the log is complete.
    (record,) = emu.requests
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert (record.note, record.body_bytes, record.content_length) == (
        "body ended before Content-Length",
        12,
        100,
    )


async def test_malformed_bodies_are_refused(emu: Emulator, raw: Raw) -> None:
    """
    Broken multipart and non-UTF-8 forms get 400 in the request/error shape.
    """
    cases = [
        (
            b"no boundary here",
            "multipart/form-data; boundary=xyz",
            "The multipart body ended before its boundary.",
        ),
        (b"x", "multipart/form-data", "The multipart Content-Type has no boundary."),
        (b"%FF=1", FORM, "The form body is not UTF-8."),
    ]
    for body, ctype, message in cases:
        response = await raw.send(content=body, content_type=ctype, sign=False)
        assert (response.status_code, response.json()) == (
            400,
            {"request": UPLOAD, "error": message},
        )
    big_form = await raw.send(
        content=b"a=" + b"b" * (8 * MIB), content_type=FORM, sign=False
    )
    assert big_form.status_code == 413
    other = await raw.send(content=b"whatever", content_type="application/octet-stream")
    assert errors(other) == [(38, "media parameter is missing.")]
    nameless = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nignored\r\n"
        b'--b\r\nContent-Disposition: form-data; name="media"\r\n\r\n'
        + png(2, 3)
        + b"\r\n--b--\r\n"
    )
    response = await raw.send(
        content=nameless, content_type="multipart/form-data; boundary=b"
    )
    assert response.json()["image"] == {"image_type": "image/png", "w": 2, "h": 3}


# Inspection and memory


@pytest.mark.parametrize(("in_flight", "segment"), [(1, 4 * MIB), (3, MIB)])
async def test_keep_bytes_false_keeps_only_sizes_and_digests(
    in_flight: int, segment: int
) -> None:
    """
    Without kept bytes, a chunked upload still reports its size and exact SHA-256.

    Segments sent in parallel finish in any order: the emulator holds those
    ahead of the digest only until it reaches them.
    """
    data = mp4(24 * MIB + 5)
    fake = FakeTime()
    with Emulator(keep_bytes=False, clock=fake) as emu:
        emu.set_processing(steps=0)
        async with client(
            emu, fake, segment_bytes=segment, max_segments_in_flight=in_flight
        ) as c:
            tracemalloc.start()
            try:
                result = await c.upload(data, media_category="tweet_video")
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        record = emu.get_media(result.media_id)

    assert record.data is None
    assert (record.size, record.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert len(record.segments) == len(data) // segment + 1
    assert peak < 16 * MIB


def test_a_200_mb_body_streams_through_in_bounded_memory() -> None:
    """
    A 200 MB simple upload is read and refused (413) without holding more than a few MB.
    """
    chunk = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MIB - 8)
    prefix, ctype = multipart([("media_category", "tweet_image")])
    prefix = prefix[: -len(b"--emulator-test-boundary--\r\n")]
    prefix += b'--emulator-test-boundary\r\nContent-Disposition: form-data; name="media"\r\n\r\n'
    suffix = b"\r\n--emulator-test-boundary--\r\n"
    size = 200 * MIB

    def body() -> Iterator[bytes]:
        yield prefix
        for _ in range(200):
            yield chunk
        yield suffix

    with Emulator(keep_bytes=False) as emu, httpx.Client() as http:
        url = emu.url + UPLOAD
        raw_signer = OAuthlibClient(
            emu.credentials.consumer_key,
            client_secret=emu.credentials.consumer_secret,
            resource_owner_key=emu.credentials.access_token,
            resource_owner_secret=emu.credentials.access_token_secret,
        )
        _, headers, _ = raw_signer.sign(
            url, http_method="POST", headers={"Content-Type": ctype}
        )
        headers["Content-Length"] = str(len(prefix) + size + len(suffix))
        tracemalloc.start()
        try:
            response = http.post(url, content=body(), headers=headers)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        record = emu.requests[-1]

    assert (response.status_code, response.content) == (413, b"")
    assert (
        record.body_bytes == record.content_length == len(prefix) + size + len(suffix)
    )
    assert peak < 12 * MIB


async def test_inspection_is_safe_while_the_server_works(emu: Emulator) -> None:
    """
    Reading media, requests and stats during a concurrent batch never sees a torn state.
    """
    emu.set_latency(0.01)
    snapshots: list[int] = []

    async def inspect(done: anyio.Event) -> None:
        while not done.is_set():
            snapshots.append(len(emu.media) + len(emu.requests) + emu.stats.requests)
            await anyio.lowlevel.checkpoint()

    done = anyio.Event()
    async with client(emu, max_concurrency=4) as c, anyio.create_task_group() as group:
        group.start_soon(inspect, done)
        results = await c.upload_many([png(1, n) for n in range(1, 13)])
        done.set()

    assert len(emu.media) == len(results) == 12
    assert snapshots == sorted(snapshots)
    log = repr(emu.requests) + repr(emu.stats) + repr(emu)
    for secret in (
        emu.credentials.consumer_secret,
        emu.credentials.access_token,
        emu.credentials.access_token_secret,
        "oauth_signature",
    ):
        assert secret not in log


async def test_inspection_snapshots_and_resets(emu: Emulator, raw: Raw) -> None:
    """
    Snapshots are frozen copies; reset_stats clears counters, reset forgets media too.
    """
    await raw.send(parts=[("media", png(1, 1))])
    media = emu.media
    (record,) = media.values()
    assert isinstance(record, MediaRecord)
    assert emu.stats.by_command == {"upload": 1}
    assert emu.stats.by_status == {200: 1}
    assert emu.stats.requests == 1
    emu.reset_stats()
    assert (emu.stats.requests, emu.requests, emu.max_concurrent) == (0, (), 0)
    assert emu.media == media
    emu.fail_next()
    emu.reset()
    assert emu.media == {}
    assert (
        await raw.send("GET", query={"command": "STATUS", "media_id": "1"})
    ).status_code == 400
    with pytest.raises(KeyError):
        emu.get_media(1)


# Lifecycle and configuration


def test_lifecycle() -> None:
    """
    url needs a running emulator; start twice fails; stop is idempotent; a stopped one restarts.
    """
    emu = Emulator()
    assert "stopped" in repr(emu)
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.url
    emu.start()
    try:
        assert emu.url.startswith("http://127.0.0.1:")
        assert emu.url in repr(emu)
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()
    finally:
        emu.stop()
    emu.stop()
    with emu:
        assert httpx.get(emu.url + "/").status_code == 404


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_urls_are_bracketed() -> None:
    """
    An IPv6 host is bracketed in the URL, and the client reaches it.
    """
    with Emulator(host="::1") as emu:
        assert emu.url.startswith("http://[::1]:")
        assert httpx.get(emu.url + "/").status_code == 404


def test_a_busy_port_raises_from_start() -> None:
    """
    A port in use raises OSError from start, and the emulator stays stopped.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        emu = Emulator(port=taken.getsockname()[1])
        with pytest.raises(OSError):  # noqa: PT011 - the errno varies by platform
            emu.start()
        with pytest.raises(RuntimeError):
            _ = emu.url


def test_start_without_aiohttp_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Without aiohttp, start raises ImportError naming the extra to install.
    """
    monkeypatch.setitem(sys.modules, "twupload.testing._server", None)
    with pytest.raises(ImportError, match=r"twupload\[emulator\]"):
        Emulator().start()


def test_the_plugin_and_the_library_import_without_aiohttp() -> None:
    """
    The plugin module loads without aiohttp, and twupload itself never imports the emulator.
    """
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "import twupload\n"
        "assert 'twupload.testing' not in sys.modules\n"
        "import twupload.testing.plugin, twupload.testing\n"
        "assert not any(m.startswith('twupload.testing._server') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.set_rate_limit("UPLOAD", limit=1), "Unknown rate-limit key"),
        (lambda e: e.set_rate_limit("INIT", limit=-1), "limit must be"),
        (lambda e: e.set_rate_limit("INIT", limit=True), "limit must be"),
        (lambda e: e.set_rate_limit("INIT", limit=1, window=0), "window must be"),
        (lambda e: e.rate_limit("nope"), "Unknown rate-limit key"),
        (lambda e: e.fail_next(0), "count must be"),
        (lambda e: e.fail_next(status=99), "status must be"),
        (lambda e: e.fail_next(command="STATUS?"), "Unknown command"),
        (lambda e: e.drop_next(after_bytes=-1), "after_bytes must be"),
        (lambda e: e.set_latency(-1), "seconds must be"),
        (lambda e: e.set_processing("explode"), "mode must be"),
        (lambda e: e.set_processing(steps=-1), "steps must be"),
    ],
)
def test_settings_are_validated(call: Any, message: str) -> None:
    """
    Bad settings raise ValueError at once, not confusing behaviour later.
    """
    with pytest.raises(ValueError, match=message):
        call(Emulator())


# Units: media detection and the body parser


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(640, 480), ("image/png", "image", 640, 480)),
        (b"\x89PNG\r\n\x1a\n", ("image/png", "image", None, None)),
        (jpeg(1920, 1080), ("image/jpeg", "image", 1920, 1080)),
        (
            b"\xff\xd8\xff\xe0\x00\x10" + b"\x00" * 14 + b"\x12\x34\x56\x78",
            ("image/jpeg", "image", None, None),
        ),
        (b"\xff\xd8\xff\xda\x00\x02", ("image/jpeg", "image", None, None)),
        (gif(7, 9), ("image/gif", "image", 7, 9)),
        (gif(7, 9, frames=2), ("image/gif", "gif", 7, 9)),
        (gif(7, 9, loop=True), ("image/gif", "gif", 7, 9)),
        (gif(7, 9)[: gif(7, 9).index(b"\x2c") + 3], ("image/gif", "image", 7, 9)),
        (gif(7, 9)[:19] + b"\x3b", ("image/gif", "image", 7, 9)),
        (GIF_WITH_LOCAL_PALETTES, ("image/gif", "gif", 3, 4)),
        (b"\xff\xd8\xff\xc0\x00\x11\x08", ("image/jpeg", "image", None, None)),
        (webp("VP8 ", 300, 200), ("image/webp", "image", 300, 200)),
        (webp("VP8L", 301, 201), ("image/webp", "image", 301, 201)),
        (webp("VP8X", 3000, 2000), ("image/webp", "image", 3000, 2000)),
        (b"RIFF\x00\x00\x00\x00WEBPXXXX", ("image/webp", "image", None, None)),
        (mp4(100), ("video/mp4", "video", None, None)),
        (b"\x00\x00\x00\x14ftypqt  ", ("video/quicktime", "video", None, None)),
        (b"\x00\x00\x00\x08wide", ("video/quicktime", "video", None, None)),
    ],
)
def test_detect_reads_types_and_dimensions(
    data: bytes, expected: tuple[Any, ...]
) -> None:
    """
    PNG, JPEG, GIF, WEBP (all three codecs), MP4 and MOV are told apart and measured.
    """
    found = detect(data)
    assert found is not None
    assert (found.media_type, found.kind, found.width, found.height) == expected


@pytest.mark.parametrize("data", [b"", b"GIF89a", b"BM\x00\x00", b"\x00" * 16])
def test_detect_refuses_what_it_does_not_know(data: bytes) -> None:
    """
    Unknown or truncated bytes are not guessed at.
    """
    assert detect(data) is None


class Pieces:
    """
    A request stream that yields prepared pieces.
    """

    def __init__(self, *pieces: bytes) -> None:
        self._pieces = list(pieces)

    async def readany(self) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


async def test_multipart_parser_streams_parts_split_anywhere() -> None:
    """
    Preamble, padding, unnamed parts, epilogues and boundaries split across reads all parse.
    """
    body = (
        b"preamble\r\n--b\r\n"
        b'Content-Disposition: form-data; name="a"\r\n\r\none\r\n--b  \r\n'
        b"Content-Type: text/plain\r\n\r\nnameless\r\n--b\r\n"
        b"Content-Disposition: form-data; name*=UTF-8''m%C3%A9dia; filename=\"f\"\r\n\r\n"
        + b"x" * 5000
        + b"\r\n--b--\r\nepilogue"
    )
    for step in (1, 3, 7, 64, len(body)):
        reader = BodyReader(
            Pieces(*(body[i : i + step] for i in range(0, len(body), step)))
        )
        parser = MultipartParser(reader, "b")
        first = await parser.next_part()
        assert first is not None
        assert (first.name, await parser.read_text()) == ("a", "one")
        second = await parser.next_part()
        assert second is not None
        assert second.name is None
        third = await parser.next_part()
        assert third is not None
        assert (third.name, third.filename) == ("média", "f")
        data = b""
        while piece := await parser.read():
            data += piece
        assert data == b"x" * 5000
        assert await parser.read() == b""
        assert await parser.next_part() is None
        assert await parser.next_part() is None
        assert reader.read_bytes == len(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated',
            "inside a part",
        ),
        (b"--b", "after a boundary"),
        (b"--b\r\nX: " + b"y" * 20000, "too many header bytes"),
        (b"--b\r\nContent-Disposition: form-data", "inside part headers"),
    ],
)
async def test_multipart_parser_refuses_broken_bodies(
    body: bytes, message: str
) -> None:
    """
    A body that ends early or has endless part headers is a BodyError.
    """
    parser = MultipartParser(BodyReader(Pieces(body)), "b")

    async def consume() -> None:
        while await parser.next_part() is not None:
            while await parser.read():
                pass

    with pytest.raises(BodyError, match=message):
        await consume()


@pytest.mark.parametrize(
    ("value", "message"),
    [(b"x" * (64 * 1024 + 1), "too long"), (b"\xff", "not UTF-8")],
)
async def test_multipart_text_fields_are_bounded_utf8(
    value: bytes, message: str
) -> None:
    """
    Text fields must be UTF-8 and at most 64 KiB.
    """
    body = (
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n'
        + value
        + b"\r\n--b--\r\n"
    )
    parser = MultipartParser(BodyReader(Pieces(body)), "b")
    assert await parser.next_part() is not None
    with pytest.raises(BodyError, match=message):
        await parser.read_text()


def test_multipart_boundary_is_read_from_the_content_type() -> None:
    """
    Only multipart/form-data with a non-empty boundary counts.
    """
    assert multipart_boundary('multipart/form-data; boundary="a b"') == "a b"
    assert multipart_boundary("multipart/mixed; boundary=x") is None
    assert multipart_boundary("multipart/form-data; boundary=") is None


def test_sink_decodes_base64_across_pieces_and_caps_what_it_keeps() -> None:
    """
    base64 split mid-quartet with line breaks decodes exactly; bytes past the limit are not kept.
    """
    data = bytes(range(256)) * 10
    text = base64.encodebytes(data)
    sink = Sink(field="media_data", keep=True, limit=len(data))
    for i in range(0, len(text), 5):
        sink.write(text[i : i + 5])
    received = sink.close()
    assert (received.data, received.size, received.invalid, received.too_large) == (
        data,
        len(data),
        False,
        False,
    )

    capped = Sink(field="media", keep=True, limit=10)
    capped.write(b"x" * 11)
    result = capped.close()
    assert (result.data, result.too_large, result.size, result.head) == (
        None,
        True,
        11,
        b"x" * 11,
    )
