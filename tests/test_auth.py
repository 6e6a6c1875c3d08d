"""
OAuth 1.0a signing: the published test vector, and independent verification with oauthlib.
"""

from __future__ import annotations

import httpx

from hypothesis import given, settings
from hypothesis import strategies as st

from twupload import BearerToken, OAuth1Credentials
from twupload._auth import BearerAuth, OAuth1Auth, OAuth1Signer
from twupload._multipart import MultipartBody

from checks import oauthlib_verifies


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


@settings(max_examples=60, deadline=None)
@given(
    query=st.dictionaries(
        st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=3
    ),
    form=st.dictionaries(
        st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=3
    ),
)
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
