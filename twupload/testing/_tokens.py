"""
OAuth 2.0 user tokens for the emulator: issued to tests, checked on /2 paths, refreshed.

X's authorization code flow needs a browser, so the emulator skips it: a test
asks `Emulator.issue_token` for a token directly. What the emulator serves is
what a client needs afterwards, as X's "OAuth 2.0 Authorization Code Flow with
PKCE" and "OAuth 2.0 user access token" pages describe it: bearer tokens that
expire (two hours by default) and carry scopes (``media.write`` for media),
and ``POST /2/oauth2/token`` with ``grant_type=refresh_token``, where a public
client names itself with ``client_id`` in the form and a confidential one with
HTTP Basic auth, and each refresh retires the refresh token it used.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .._credentials import BearerToken


#: The scope media endpoints need.
MEDIA_WRITE = "media.write"
#: The scope that comes with a refresh token.
OFFLINE_ACCESS = "offline.access"
#: An access token's lifetime when the test does not choose one (X's default).
DEFAULT_EXPIRES_IN = 7200


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """
    An OAuth 2.0 user token the emulator issued; its `repr` hides the secrets.

    Attributes:
        access_token: Send it as ``Authorization: Bearer <access_token>`` to /2 paths.
        refresh_token: Exchange it at ``POST /2/oauth2/token``; None without one.
        expires_at: When the access token stops working, Unix seconds by the
            emulator's clock.
        expires_in: Its lifetime, seconds.
        scopes: The scopes it grants.
        client_id: The OAuth 2.0 client (app) it belongs to.
        client_secret: That client's secret, for a confidential client; None
            for a public one.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    expires_in: int
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str | None = field(repr=False)

    def bearer_token(self) -> BearerToken:
        """
        The same token as a `twupload.BearerToken`, with what refreshing it needs.
        """
        from .._credentials import BearerToken  # noqa: PLC0415

        return BearerToken(
            self.access_token,
            refresh_token=self.refresh_token,
            client_id=self.client_id if self.refresh_token else None,
            client_secret=self.client_secret if self.refresh_token else None,
            expires_at=self.expires_at,
        )


@dataclass
class _Grant:
    """
    What one user authorized one client to do; refreshes keep it.
    """

    scopes: tuple[str, ...]
    expires_in: int
    confidential: bool


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """
    An answer of the token endpoint: a status and a JSON body.
    """

    status: int
    body: dict[str, Any]
    note: str | None = None


def _oauth_error(status: int, error: str, description: str, note: str) -> TokenAnswer:
    return TokenAnswer(status, {"error": error, "error_description": description}, note)


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise TypeError("scopes must be a sequence of scope names, not one string.")
    found = tuple(dict.fromkeys(scopes))
    for scope in found:
        if not isinstance(scope, str) or not scope or " " in scope:
            raise ValueError(f"A scope must be a non-empty word, not {scope!r}.")
    return found


class TokenStore:
    """
    The OAuth 2.0 client of an emulator, and the tokens issued to it.

    Not thread-safe by itself: the emulator calls it under its lock.

    Args:
        clock: Unix time, for expiry.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.client_id = secrets.token_urlsafe(18)
        self.client_secret = secrets.token_urlsafe(37)
        # access token -> (grant, expiry); refresh token -> grant.
        self._access: dict[str, tuple[_Grant, float]] = {}
        self._refresh: dict[str, _Grant] = {}

    def issue(
        self,
        *,
        scopes: Iterable[str],
        expires_in: int,
        refresh: bool,
        confidential: bool,
    ) -> IssuedToken:
        """
        A new token for *scopes* (``offline.access`` is added with *refresh*).
        """
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise TypeError(f"expires_in must be an int, not {expires_in!r}.")
        if expires_in < 0:
            raise ValueError(f"expires_in must be >= 0 seconds, not {expires_in!r}.")
        granted = _check_scopes(scopes)
        if refresh and OFFLINE_ACCESS not in granted:
            granted = (*granted, OFFLINE_ACCESS)
        grant = _Grant(granted, expires_in, confidential)
        return self._new_token(grant, refresh=refresh)

    def _new_token(self, grant: _Grant, *, refresh: bool) -> IssuedToken:
        access = secrets.token_urlsafe(48)
        expires_at = self._clock() + grant.expires_in
        self._access[access] = (grant, expires_at)
        refresh_token = secrets.token_urlsafe(48) if refresh else None
        if refresh_token is not None:
            self._refresh[refresh_token] = grant
        return IssuedToken(
            access_token=access,
            refresh_token=refresh_token,
            expires_at=expires_at,
            expires_in=grant.expires_in,
            scopes=grant.scopes,
            client_id=self.client_id,
            client_secret=self.client_secret if grant.confidential else None,
        )

    def check(self, token: str, scope: str = MEDIA_WRITE) -> str | None:
        """
        Why *token* may not be used for *scope* (a log note), or None when it may.

        The note starts with ``"401"`` or ``"403"``: the status to answer with.
        """
        found = self._access.get(token)
        if found is None:
            return "401 unknown bearer token"
        grant, expires_at = found
        if self._clock() >= expires_at:
            return "401 bearer token expired"
        if scope not in grant.scopes:
            return f"403 bearer token lacks the {scope} scope"
        return None

    def exchange(  # noqa: PLR0911 - one return per refusal
        self, form: Mapping[str, str], authorization: str | None
    ) -> TokenAnswer:
        """
        Answer ``POST /2/oauth2/token``: refresh a token, retiring its refresh token.
        """
        grant_type = form.get("grant_type")
        if not grant_type:
            return _oauth_error(
                400,
                "invalid_request",
                "Missing required parameter [grant_type].",
                "no grant_type",
            )
        if grant_type != "refresh_token":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The emulator supports grant_type=refresh_token only; "
                "get tokens from Emulator.issue_token().",
                f"grant_type {grant_type}",
            )
        client = self._client(form, authorization)
        if client is not None:
            return client
        old = form.get("refresh_token")
        if not old:
            return _oauth_error(
                400,
                "invalid_request",
                "Missing required parameter [refresh_token].",
                "no refresh_token",
            )
        grant = self._refresh.pop(old, None)
        if grant is None:
            return _oauth_error(
                400,
                "invalid_request",
                "Value passed for the token was invalid.",
                "unknown or used refresh token",
            )
        if grant.confidential != (authorization is not None):
            # A confidential client's token refreshed without its secret, or
            # a public client's with one: refused, and the token stays usable.
            self._refresh[old] = grant
            return _oauth_error(
                401,
                "unauthorized_client",
                "Missing valid authorization header",
                "client authentication does not fit the client type",
            )
        token = self._new_token(grant, refresh=True)
        return TokenAnswer(
            200,
            {
                "token_type": "bearer",
                "expires_in": token.expires_in,
                "access_token": token.access_token,
                "scope": " ".join(token.scopes),
                "refresh_token": token.refresh_token,
            },
        )

    def _client(
        self, form: Mapping[str, str], authorization: str | None
    ) -> TokenAnswer | None:
        """
        Check who is asking: ``client_id`` in the form, or HTTP Basic with the secret.
        """
        if authorization is None:
            client_id = form.get("client_id")
            if not client_id:
                return _oauth_error(
                    400,
                    "invalid_request",
                    "Missing required parameter [client_id].",
                    "no client_id",
                )
            if not _same(client_id, self.client_id):
                return _oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication failed.",
                    "unknown client_id",
                )
            return None
        scheme, _, encoded = authorization.strip().partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        if (
            scheme.lower() != "basic"
            or not _same(client_id, self.client_id)
            or not _same(secret, self.client_secret)
        ):
            return _oauth_error(
                401,
                "unauthorized_client",
                "Missing valid authorization header",
                "bad client credentials",
            )
        return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
