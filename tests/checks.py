"""
Independent checks of what twupload sent: oauthlib's verifier and a stdlib multipart parser.
"""

from __future__ import annotations

import email.parser
import email.policy

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature


if TYPE_CHECKING:
    import httpx

    from twupload import OAuth1Credentials


def oauthlib_verifies(request: httpx.Request, creds: OAuth1Credentials) -> bool:
    """
    Verify the request's OAuth 1.0a signature the way a server would, with oauthlib.

    Form-urlencoded bodies are part of the signature; any other body is not.
    """
    content_type = request.headers.get("content-type", "")
    is_form = content_type.split(";")[0] == "application/x-www-form-urlencoded"
    body = request.content.decode() if is_form else None
    headers = {"Authorization": request.headers["authorization"]}
    if is_form:
        headers["Content-Type"] = content_type
    uri = str(request.url)
    oauth_request = OAuthRequest(
        uri, http_method=request.method, body=body, headers=headers
    )
    every = signature.collect_parameters(
        uri_query=urlsplit(uri).query,
        body=body,
        headers=headers,
        exclude_oauth_signature=False,
    )
    oauth = dict(every)
    oauth_request.params = [(k, v) for k, v in every if k != "oauth_signature"]
    oauth_request.signature = oauth["oauth_signature"]
    return (
        oauth["oauth_consumer_key"] == creds.consumer_key
        and oauth["oauth_token"] == creds.access_token
        and signature.verify_hmac_sha1(
            oauth_request, creds.consumer_secret, creds.access_token_secret
        )
    )


def multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """
    Parse a multipart/form-data body with the standard library's email parser.
    """
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        fields[name] = payload
    return fields
