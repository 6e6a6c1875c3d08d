"""
Request signing: OAuth 1.0a through authlib's signing core, and OAuth 2.0 bearer tokens.

authlib's httpx integration is not used on purpose: it reads a streamed body
into memory and then sends it empty (authlib #516), and its import changes the
warnings filters. Here only the ``Authorization`` header is computed, from the
method, the URL and, for form-urlencoded bodies only, the body parameters
(RFC 5849 section 3.4.1.3.1). Multipart and JSON bodies are never read.

The signature base string is built here from authlib's normalizers rather than
by its ``construct_base_string``, which drops every parameter named ``realm``
and percent-decodes every ``oauth_*`` value once more. RFC 5849 excludes only
the ``Authorization`` header's own realm (which twupload never sends): a query
or form field named ``realm`` is signed like any other, and credentials are
signed as they are.

Each request percent-encodes some thirty strings (section 3.6), and authlib's
``escape`` costs a few microseconds each. All but the nonce, the timestamp and
the signature are the same on every request of a client (parameter names,
keys, the URL, ``media_category`` values), so the encodings are memoized, and
the parameter list and header are joined here: a third of the signing time.
"""

from __future__ import annotations

import functools
import secrets
import time

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import httpx

from authlib.oauth1.rfc5849.signature import (
    hmac_sha1_signature,
    normalize_base_string_uri,
)
from authlib.oauth1.rfc5849.util import escape


if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from ._credentials import BearerToken, OAuth1Credentials


FORM_URLENCODED = "application/x-www-form-urlencoded"


def _is_form(content_type: str | None) -> bool:
    return (
        content_type is not None
        and content_type.split(";", 1)[0].strip().lower() == FORM_URLENCODED
    )


@functools.lru_cache(maxsize=1024)  # bounded: nonces and signatures pass through too
def _escaped(text: str) -> str:
    """
    Section 3.6 percent-encoding (authlib's), memoized.
    """
    return str(escape(text))


@functools.lru_cache(maxsize=64)
def _escaped_base_uri(url: str) -> str:
    """
    Section 3.4.1.2's base string URI, encoded: a client signs a handful of URLs.
    """
    return str(escape(normalize_base_string_uri(url)))


def _normalized(params: list[tuple[str, str]]) -> str:
    """
    Section 3.4.1.3.2: encode names and values, sort by name then value, join.
    """
    pairs = sorted((_escaped(name), _escaped(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in pairs)


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """
    The RFC 5849 section 3.4.1 signature base string of a request.

    Args:
        method: The HTTP method.
        url: The URL without query (scheme, host, port and encoded path).
        params: Every signed parameter, decoded: query, form body and the
            ``oauth_*`` protocol parameters except ``oauth_signature``. All are
            signed as given, a ``realm`` too (section 3.4.1.3.1 excludes only
            the ``Authorization`` header's realm parameter).
    """
    return "&".join(
        (
            _escaped(method.upper()),
            _escaped_base_uri(url),
            escape(_normalized(params)),
        )
    )


class OAuth1Signer:
    """
    Compute OAuth 1.0a HMAC-SHA1 ``Authorization`` headers for one set of credentials.

    Args:
        credentials: Whose keys sign.
        clock: Returns the Unix time (injectable for tests).
        nonce: Returns a fresh nonce (injectable for tests).
    """

    def __init__(
        self,
        credentials: OAuth1Credentials,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self._creds = credentials
        self._clock = clock
        self._nonce = nonce

    def header(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]],
    ) -> str:
        """
        Sign a request and return the value of its ``Authorization`` header.

        Args:
            method: The HTTP method.
            url: The URL without query (scheme, host, port and encoded path).
            params: Query and form-body parameters, decoded.
        """
        creds = self._creds
        oauth = [
            ("oauth_consumer_key", creds.consumer_key),
            ("oauth_nonce", self._nonce()),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", str(int(self._clock()))),
            ("oauth_token", creds.access_token),
            ("oauth_version", "1.0"),
        ]
        base = base_string(method, url, [*params, *oauth])
        signature = hmac_sha1_signature(
            base, creds.consumer_secret, creds.access_token_secret
        )
        oauth.append(("oauth_signature", signature))
        # Section 3.5.1: every protocol parameter, encoded and quoted.
        return "OAuth " + ", ".join(
            f'{_escaped(name)}="{_escaped(value)}"' for name, value in oauth
        )

    def sign(self, request: httpx.Request) -> None:
        """
        Set the ``Authorization`` header of *request* in place.

        The body is read only when it is form-urlencoded, which twupload
        always builds in memory; a streamed body is never touched.
        """
        url = request.url
        raw_path, _, raw_query = url.raw_path.partition(b"?")
        base_url = (
            f"{url.scheme}://{url.netloc.decode('ascii')}{raw_path.decode('ascii')}"
        )
        params = parse_qsl(raw_query.decode("ascii"), keep_blank_values=True)
        if _is_form(request.headers.get("content-type")):
            params += parse_qsl(request.content.decode("ascii"), keep_blank_values=True)
        request.headers["Authorization"] = self.header(request.method, base_url, params)


class OAuth1Auth(httpx.Auth):
    """
    httpx auth that signs each request with OAuth 1.0a, without reading streamed bodies.
    """

    requires_request_body = False

    def __init__(self, signer: OAuth1Signer) -> None:
        self._signer = signer

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        self._signer.sign(request)
        yield request


class BearerAuth(httpx.Auth):
    """
    httpx auth for an OAuth 2.0 user-context token.

    The token can be replaced (after a refresh); each request carries the one
    current when it is sent.
    """

    requires_request_body = False

    def __init__(self, token: BearerToken) -> None:
        self.token = token

    @property
    def token(self) -> BearerToken:
        """
        The token the next request carries.
        """
        return self._token

    @token.setter
    def token(self, token: BearerToken) -> None:
        self._token = token
        self._header = f"Bearer {token.token}"

    @property
    def header(self) -> str:
        """
        The ``Authorization`` value the next request carries.
        """
        return self._header

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
