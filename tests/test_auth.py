"""
OAuth 1.0a signing: the published test vector, and independent verification with oauthlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from hypothesis import example, given, settings
from hypothesis import strategies as st
from oauthlib.oauth1 import Client as OAuthlibClient

from twupload import BearerToken, OAuth1Credentials
from twupload._auth import BearerAuth, OAuth1Auth, OAuth1Signer, base_string
from twupload._multipart import MultipartBody, StreamedBody
from twupload.testing._oauth import OAuthVerifier

from checks import oauthlib_verifies


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator


X_DOCS = OAuth1Credentials(
    consumer_key="xvz1evFS4wEEPTGEFPHBog",
    consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    access_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    access_token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
)


def test_x_docs_signature_vector() -> None:
    """
    The example from X's "Creating a signature" page signs to the published value.
    """
    signer = OAuth1Signer(
        X_DOCS,
        clock=lambda: 1318622958,
        nonce=lambda: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
    )
    request = httpx.Request(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        params={"include_entities": "true"},
        data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"},
    )

    signer.sign(request)

    header = request.headers["authorization"]
    assert header.startswith("OAuth ")
    assert 'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"' in header
    assert 'oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog"' in header
    assert "oauth_body_hash" not in header
    assert oauthlib_verifies(request, X_DOCS)


def test_form_body_is_signed(creds: OAuth1Credentials) -> None:
    """
    Changing a form-urlencoded body after signing breaks the signature.
    """
    request = httpx.Request(
        "POST",
        "https://upload.twitter.com/1.1/media/upload.json",
        data={"command": "INIT", "total_bytes": "10"},
    )
    OAuth1Signer(creds).sign(request)
    assert oauthlib_verifies(request, creds)

    tampered = httpx.Request(
        "POST",
        request.url,
        headers={"Authorization": request.headers["authorization"]},
        data={"command": "INIT", "total_bytes": "11"},
    )
    assert not oauthlib_verifies(tampered, creds)


def test_charset_on_form_content_type_still_signs_body(
    creds: OAuth1Credentials,
) -> None:
    """
    A ``; charset=`` parameter does not stop a form body from being signed.
    """
    request = httpx.Request(
        "POST",
        "https://upload.twitter.com/1.1/media/upload.json",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        content=b"command=FINALIZE&media_id=1",
    )
    OAuth1Signer(creds).sign(request)
    assert oauthlib_verifies(request, creds)


def test_multipart_with_query_is_signed_without_reading_the_body(
    creds: OAuth1Credentials,
) -> None:
    """
    A streamed multipart body with query parameters verifies, and the body stays unread.
    """
    consumed = []

    async def chunks() -> object:
        consumed.append(True)
        yield b"abc"

    body = MultipartBody([("command", "APPEND")], media_field="media", media_size=3)
    request = httpx.Request(
        "POST",
        "https://upload.twitter.com/1.1/media/upload.json",
        params={"media_category": "tweet_image", "odd": "a b+c/[x]'~"},
        headers=body.headers,
        content=body.stream(chunks()),  # type: ignore[arg-type]
    )
    signed = next(OAuth1Auth(OAuth1Signer(creds)).sync_auth_flow(request))

    assert consumed == []
    assert "oauth_body_hash" not in signed.headers["authorization"]
    assert oauthlib_verifies(signed, creds)


# Parameter names: any text, and "realm" often (RFC 5849 signs it outside the header).
NAMES = st.text(min_size=1, max_size=8) | st.just("realm")


@settings(max_examples=60, deadline=None)
@given(
    query=st.dictionaries(NAMES, st.text(max_size=12), max_size=3),
    form=st.dictionaries(NAMES, st.text(max_size=12), max_size=3),
)
@example(query={}, form={"realm": "0"})
@example(query={"realm": "q"}, form={"realm": "f"})
def test_percent_encoding_round_trips_through_oauthlib(
    query: dict[str, str], form: dict[str, str]
) -> None:
    """
    Any unicode in query and form parameters signs to what oauthlib verifies.
    """
    creds = OAuth1Credentials("ck", "c s", "t", "t/s")
    request = httpx.Request(
        "POST", "https://upload.twitter.com/x", params=query, data=form or {"a": "b"}
    )
    OAuth1Signer(creds).sign(request)
    assert oauthlib_verifies(request, creds)


REALM_URL = "https://upload.twitter.com/1.1/media/upload.json"


def _oauthlib_signature(
    creds: OAuth1Credentials, uri: str, body: str, *, nonce: str, timestamp: int
) -> str:
    """
    The oauth_signature oauthlib's own client computes for the same request, encoded.
    """
    client = OAuthlibClient(
        creds.consumer_key,
        client_secret=creds.consumer_secret,
        resource_owner_key=creds.access_token,
        resource_owner_secret=creds.access_token_secret,
        nonce=nonce,
        timestamp=str(timestamp),
    )
    _, headers, _ = client.sign(
        uri,
        "POST",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    value = headers["Authorization"].split('oauth_signature="', 1)[1]
    return str(value.split('"', 1)[0])


def test_realm_form_and_query_parameters_are_signed(creds: OAuth1Credentials) -> None:
    """
    A query or form field named realm is signed (RFC 5849 section 3.4.1.3.1).

    Only the Authorization header's own realm parameter is left out of the base
    string; twupload sends none. oauthlib's client signs the same request to the
    same signature and its verifier accepts it; authlib's construct_base_string,
    which drops every realm, would not.
    """
    signer = OAuth1Signer(creds, clock=lambda: 1_700_000_000, nonce=lambda: "n0nce")
    request = httpx.Request(
        "POST", REALM_URL, params={"realm": "q"}, data={"realm": "f", "a": "b"}
    )
    signer.sign(request)

    header = request.headers["authorization"]
    assert "realm" not in header
    expected = _oauthlib_signature(
        creds,
        f"{REALM_URL}?realm=q",
        "realm=f&a=b",
        nonce="n0nce",
        timestamp=1_700_000_000,
    )
    assert f'oauth_signature="{expected}"' in header
    assert oauthlib_verifies(request, creds)
    for query, form in [({"realm": "Q"}, {"realm": "f"}), ({"realm": "q"}, {})]:
        tampered = httpx.Request(
            "POST",
            REALM_URL,
            params=query,
            headers={"Authorization": header},
            data={**form, "a": "b"},
        )
        assert not oauthlib_verifies(tampered, creds)


def test_base_string_keeps_realm_and_decodes_nothing_twice() -> None:
    """
    The base string lists every parameter once, encoded once, realm and oauth_* alike.
    """
    base = base_string(
        "post",
        "HTTPS://Upload.Twitter.com:443/1.1/media/upload.json",
        [("realm", "r"), ("b", "x y"), ("oauth_token", "t%41"), ("a", "2")],
    )
    assert base == "&".join(
        [
            "POST",
            quote("https://upload.twitter.com/1.1/media/upload.json", safe=""),
            quote("a=2&b=x%20y&oauth_token=t%2541&realm=r", safe=""),
        ]
    )


def test_credentials_are_signed_as_they_are() -> None:
    """
    Credentials and nonces holding "%" are not percent-decoded before signing.

    oauthlib's client and verifier, and the emulator's verifier, all agree.
    """
    creds = OAuth1Credentials("c%41k", "cs%20", "1-t%42", "ts")
    signer = OAuth1Signer(creds, clock=lambda: 1_700_000_000, nonce=lambda: "n%43")
    request = httpx.Request("POST", REALM_URL, data={"command": "INIT"})
    signer.sign(request)
    header = request.headers["authorization"]
    expected = _oauthlib_signature(
        creds, REALM_URL, "command=INIT", nonce="n%43", timestamp=1_700_000_000
    )
    assert f'oauth_signature="{expected}"' in header
    assert oauthlib_verifies(request, creds)
    verifier = OAuthVerifier(creds, clock=lambda: 1_700_000_000)
    assert (
        verifier.verify(
            method="POST",
            url=REALM_URL,
            params=[("command", "INIT")],
            authorization=header,
        )
        is None
    )


def test_nonce_and_timestamp_change_per_request(creds: OAuth1Credentials) -> None:
    """
    Two signings of the same request use different nonces.
    """
    signer = OAuth1Signer(creds)
    first = httpx.Request("GET", "https://upload.twitter.com/a")
    second = httpx.Request("GET", "https://upload.twitter.com/a")
    signer.sign(first)
    signer.sign(second)
    assert first.headers["authorization"] != second.headers["authorization"]


def test_bearer_auth_sets_header_and_hides_token() -> None:
    """
    Bearer auth sends the token and never shows it in its repr.
    """
    auth = BearerAuth(BearerToken("tok-SECRET"))
    request = httpx.Request("POST", "https://api.x.com/2/media/upload")
    signed = next(auth.sync_auth_flow(request))
    assert signed.headers["authorization"] == "Bearer tok-SECRET"
    assert "SECRET" not in repr(auth)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["bearer", "oauth1"])
async def test_auth_never_reads_a_streamed_body_before_sending(
    kind: str, creds: OAuth1Credentials
) -> None:
    """
    Through a real httpx client, the body is still unread when the request reaches the wire.

    Bearer and OAuth 1.0a auth alike: an auth that asked httpx for the body
    (``requires_request_body``) would have it read into memory first.
    """
    pulled: list[bytes] = []

    async def chunks() -> AsyncGenerator[bytes, None]:
        for chunk in (b"abc", b"def"):
            pulled.append(chunk)
            yield chunk

    seen: dict[str, object] = {}

    class Wire(httpx.AsyncBaseTransport):
        # Unlike httpx.MockTransport, which reads every body before its handler.
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen["pulled_before_sending"] = list(pulled)
            seen["authorization"] = request.headers["authorization"]
            seen["body"] = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
            return httpx.Response(200)

    auth: httpx.Auth = (
        BearerAuth(BearerToken("tok-SECRET"))
        if kind == "bearer"
        else OAuth1Auth(OAuth1Signer(creds))
    )
    body = MultipartBody([("command", "APPEND")], media_field="media", media_size=6)
    async with httpx.AsyncClient(transport=Wire()) as http:
        request = http.build_request(
            "POST",
            "https://api.x.com/2/media/upload",
            headers=body.headers,
            content=StreamedBody(body.stream(chunks())),
        )
        response = await http.send(request, auth=auth)
    assert response.status_code == 200
    assert seen["pulled_before_sending"] == []
    assert pulled == [b"abc", b"def"]
    assert isinstance(seen["body"], bytes)
    assert len(seen["body"]) == body.content_length
    assert b"abcdef" in seen["body"]
    scheme = "Bearer" if kind == "bearer" else "OAuth"
    assert str(seen["authorization"]).startswith(f"{scheme} ")
