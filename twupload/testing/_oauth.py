"""
Server-side OAuth 1.0a (RFC 5849) verification of HMAC-SHA1 signed requests.

The signature base string is rebuilt from what arrived: the method, the URL
the client addressed (scheme, ``Host`` header and raw path), the query, the
body parameters of form-urlencoded bodies only, and the ``oauth_*`` parameters
of the ``Authorization`` header. authlib's signing primitives compute the
expected signature, independently of how the client computed its own.
"""

from __future__ import annotations

import hmac
import threading

from typing import TYPE_CHECKING
from urllib.request import parse_http_list, parse_keqv_list

from authlib.oauth1.rfc5849.signature import (
    hmac_sha1_signature,
    normalize_base_string_uri,
    normalize_parameters,
)
from authlib.oauth1.rfc5849.util import escape, unescape


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._credentials import OAuth1Credentials


#: How far a request's ``oauth_timestamp`` may be from the emulator's clock, seconds.
MAX_CLOCK_SKEW = 300.0

_REQUIRED = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_token",
)


def parse_authorization(header: str | None) -> dict[str, str] | None:
    """
    Split an ``Authorization: OAuth ...`` header into its still-encoded parameters.

    None when the header is absent, of another scheme, or malformed.
    """
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    try:
        pairs = parse_keqv_list([item.strip() for item in parse_http_list(rest)])
    except ValueError:
        return None
    return {key: value for key, value in pairs.items() if key != "realm"}


class OAuthVerifier:
    """
    Accept requests signed with one set of credentials, each nonce once.

    Args:
        credentials: The only keys accepted.
        clock: Unix time, for the timestamp window and nonce expiry.
        max_skew: Seconds an ``oauth_timestamp`` may differ from *clock*.
    """

    def __init__(
        self,
        credentials: OAuth1Credentials,
        *,
        clock: Callable[[], float],
        max_skew: float = MAX_CLOCK_SKEW,
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._max_skew = max_skew
        self._nonces: dict[tuple[str, str], float] = {}
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def verify(  # noqa: PLR0911 - one return per reason to refuse
        self,
        *,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        authorization: str | None,
    ) -> str | None:
        """
        Check one request; return why it fails, or None when it is authentic.

        Args:
            method: The HTTP method.
            url: Scheme, host (as in the ``Host`` header) and raw path, no query.
            params: Decoded query parameters, plus form-urlencoded body parameters.
            authorization: The ``Authorization`` header, if any.
        """
        oauth = parse_authorization(authorization)
        if oauth is None:
            return "no OAuth Authorization header"
        if missing := [name for name in _REQUIRED if name not in oauth]:
            return f"missing {', '.join(missing)}"
        values = {key: unescape(value) for key, value in oauth.items()}
        if values["oauth_signature_method"] != "HMAC-SHA1":
            return "oauth_signature_method is not HMAC-SHA1"
        if values.get("oauth_version", "1.0") != "1.0":
            return "oauth_version is not 1.0"
        creds = self._credentials
        if not _same(values["oauth_consumer_key"], creds.consumer_key):
            return "unknown consumer key"
        if not _same(values["oauth_token"], creds.access_token):
            return "unknown access token"

        # RFC 5849 3.4.1: every query and form parameter is signed, one named
        # realm too; only the Authorization header's own realm is left out
        # (parse_authorization drops it). authlib's construct_base_string drops
        # every realm, so the base string is put together here.
        signed = [
            *params,
            *((k, v) for k, v in values.items() if k != "oauth_signature"),
        ]
        base = "&".join(
            (
                escape(method.upper()),
                escape(normalize_base_string_uri(url)),
                escape(normalize_parameters(signed)),
            )
        )
        expected = hmac_sha1_signature(
            base, creds.consumer_secret, creds.access_token_secret
        )
        if not _same(values["oauth_signature"], expected):
            return "signature mismatch"
        return self._check_fresh(values["oauth_timestamp"], values["oauth_nonce"])

    def _check_fresh(self, timestamp: str, nonce: str) -> str | None:
        if not timestamp.isascii() or not timestamp.isdigit():
            return "oauth_timestamp is not a number"
        now = self._clock()
        if abs(now - int(timestamp)) > self._max_skew:
            return "oauth_timestamp is too far from the server's clock"
        with self._lock:
            if now >= self._next_prune:
                self._next_prune = now + self._max_skew
                self._nonces = {
                    key: seen
                    for key, seen in self._nonces.items()
                    if now - seen <= 2 * self._max_skew
                }
            key = (timestamp, nonce)
            if key in self._nonces:
                return "oauth_nonce was used before"
            self._nonces[key] = now
        return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
