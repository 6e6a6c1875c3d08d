"""
OAuth 2.0 token refresh: before the token expires and once after a 401, one request at a time.

The token request is written here rather than with authlib's OAuth 2.0 client.
authlib's ``AsyncOAuth2Client`` is an httpx client of its own, so it cannot send
through the one the caller gave (``http_client=``), and importing
``authlib.integrations.httpx_client`` changes the warnings filters; its generic
``OAuth2Client`` sends synchronously; and importing even its small helpers
(``authlib.oauth2.auth.ClientAuth``, ``rfc6749.prepare_token_request``) runs
``authlib.deprecate``, which installs a process-wide warnings filter. What they
would do is a form of three fields and, for a confidential client, HTTP Basic
auth, which httpx does itself.

The request follows X's "OAuth 2.0 Authorization Code Flow with PKCE" page:
``POST {base_url}/2/oauth2/token``, form ``grant_type=refresh_token``,
``refresh_token``, and ``client_id`` for a public client; a confidential
client sends ``client_id:client_secret`` as HTTP Basic auth instead. X answers
``token_type``, ``access_token``, ``expires_in``, ``scope`` and a new
``refresh_token`` (the old one stops working).
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
import time

from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._auth import BearerAuth
from ._credentials import BearerToken
from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    RateLimitError,
    TransportError,
    TwUploadError,
    end_sentence,
    request_id_of,
)
from ._results import RateLimit
from ._transport import Transport


if TYPE_CHECKING:
    from collections.abc import Callable


logger = logging.getLogger("twupload")

#: Where X's token endpoint lives under the API's base URL.
TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 - a path, not a secret
#: Refresh a token this many seconds before its ``expires_at``.
REFRESH_MARGIN = 60.0
#: The service's ``error`` codes that blame the client's id or secret, not the token.
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
_REFUSED_STATUSES = frozenset({400, 401, 403})
_REFUSED_ADVICE = (
    "The refresh token was refused: it expired, was revoked, or was already used "
    "(X issues a new one at every refresh; keep the newest with on_token_refresh). "
    "Re-authorize the user (OAuth 2.0 authorization code flow with the "
    "offline.access scope) and create the BearerToken from the new tokens."
)
_NOT_RESENT = (
    "The token has been refreshed, but the source is a one-shot stream and cannot "
    "be sent again: upload it again."
)
_CLIENT_ADVICE = (
    "X did not accept the app's client credentials: check client_id, and pass "
    "client_secret= for a confidential client (none for a public one)."
)


class TokenRefresher:
    """
    Keeps a client's current bearer token, and refreshes it for every upload at once.

    Concurrent requests share one refresh (single flight): the first one to
    find the token expiring (or refused) sends the token request while the
    others wait on a lock, then use its new token, or fail with a copy of its
    error.

    Args:
        token: The token the client starts with.
        base_url: The API's scheme and host; the token endpoint is under it.
        on_refresh: Called with each new token, after it is in use; may be async.
        clock: Wall-clock Unix time (injectable).
    """

    def __init__(
        self,
        token: BearerToken,
        *,
        base_url: str,
        on_refresh: Callable[[BearerToken], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if on_refresh is not None and not callable(on_refresh):
            raise ConfigurationError(
                "on_token_refresh must be a function (sync or async) that takes the "
                f"new BearerToken, not {type(on_refresh).__name__}."
            )
        self.auth = BearerAuth(token)
        self.url = f"{base_url.rstrip('/')}{TOKEN_PATH}"
        self._on_refresh = on_refresh
        self._clock = clock
        self._lock: anyio.Lock | None = None
        # Bumped by every refresh that ended (in a token or in an error), so a
        # request that waited for the lock knows whether to refresh itself.
        self._generation = 0
        self._failure: TwUploadError | None = None

    @property
    def token(self) -> BearerToken:
        """
        The token requests carry now.
        """
        return self.auth.token

    def transport(self, http: httpx.AsyncClient, **options: Any) -> Transport:
        """
        A `Transport` (same arguments) that refreshes this token as its requests need.
        """
        return RefreshingTransport(http, refresher=self, **options)

    def _expiring(self) -> bool:
        token = self.token
        return (
            token.refresh_token is not None
            and token.expires_at is not None
            and token.expires_at.timestamp() - self._clock() <= REFRESH_MARGIN
        )

    async def before_request(self, http: httpx.AsyncClient) -> None:
        """
        Refresh the token when it expires within `REFRESH_MARGIN` seconds.
        """
        if self._expiring():
            await self._refresh(http, seen=self._generation)

    async def after_refusal(
        self, http: httpx.AsyncClient, error: AuthenticationError
    ) -> bool:
        """
        After a 401: refresh, unless a newer token is in use already; True to retry.
        """
        if error.status_code != 401 or self.token.refresh_token is None:  # noqa: PLR2004
            return False
        seen = self._generation
        if _authorization_sent(error) in {None, self.auth.header}:
            await self._refresh(http, seen=seen)
        return True

    async def _refresh(self, http: httpx.AsyncClient, *, seen: int) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._generation != seen:
                # Another request refreshed (or failed to) while this one
                # waited: share its outcome instead of asking again.
                if self._failure is not None:
                    raise _fresh(self._failure)
                return
            try:
                # Shielded: X has already retired the old refresh token when
                # its answer arrives, and a cancelled read would lose the new
                # one. The request is bounded by the client's timeout.
                with anyio.CancelScope(shield=True):
                    token = await self._exchange(http, self.token)
            except TwUploadError as exc:
                # Each waiting request raises its own copy, taken before the
                # one raised here gets a traceback or a `resume`.
                self._failure = _fresh(exc)
                self._generation += 1
                raise
            self._failure = None
            self._generation += 1
            self.auth.token = token
            logger.info(
                "OAuth 2.0 token refreshed%s",
                ""
                if token.expires_at is None
                else f"; it expires at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC",
            )
            if self._on_refresh is not None:
                # Under the lock, so the caller stores the tokens in order.
                result = self._on_refresh(token)
                if inspect.isawaitable(result):
                    await result

    async def _exchange(self, http: httpx.AsyncClient, old: BearerToken) -> BearerToken:
        """
        Send the token request and read the new token from the answer.
        """
        assert old.refresh_token is not None  # noqa: S101 - checked by the callers
        assert old.client_id is not None  # noqa: S101 - BearerToken requires it
        form = {"grant_type": "refresh_token", "refresh_token": old.refresh_token}
        auth: httpx.Auth | None = None  # None: not even the http client's own auth
        if old.client_secret is None:
            form["client_id"] = old.client_id
        else:
            auth = httpx.BasicAuth(old.client_id, old.client_secret)
        request = http.build_request("POST", self.url, data=form)
        logger.debug("token refresh: POST %s", request.url.path)
        try:
            response = await http.send(request, auth=auth)
        except httpx.TransportError as exc:
            error = TransportError(
                f"Token refresh: network failure ({type(exc).__name__}). The access "
                "token was not refreshed; check the connection and base_url."
            )
            raise error from exc
        logger.debug("token refresh: HTTP %d", response.status_code)
        secrets = [old.token, old.refresh_token, old.client_secret]
        if not response.is_success:
            raise _refresh_error(response, secrets)
        return _read_token(response, old, now=self._clock())


class RefreshingTransport(Transport):
    """
    A `Transport` whose bearer token is refreshed before it expires and once after a 401.

    Args:
        http: As for `Transport`.
        refresher: Holds the token, and refreshes it.
        options: The other arguments of `Transport`.
    """

    def __init__(
        self, http: httpx.AsyncClient, *, refresher: TokenRefresher, **options: Any
    ) -> None:
        super().__init__(http, **options)
        self._refresher = refresher

    async def send(
        self,
        key: str,
        build: Callable[[], httpx.Request],
        *,
        operation: str,
        replayable: bool = True,
    ) -> httpx.Response:
        await self._refresher.before_request(self.http)
        try:
            return await super().send(
                key, build, operation=operation, replayable=replayable
            )
        except AuthenticationError as exc:
            if not await self._refresher.after_refusal(self.http, exc):
                raise
            if not replayable:
                exc.args = (f"{exc.args[0]} {_NOT_RESENT}",)
                raise
        logger.info("%s: HTTP 401; sending again with the refreshed token", operation)
        return await super().send(
            key, build, operation=operation, replayable=replayable
        )


def _authorization_sent(error: APIError) -> str | None:
    """
    The ``Authorization`` value of the refused request, None when unknown.
    """
    if error.response is None:
        return None
    try:
        request = error.response.request
    except RuntimeError:  # a response built by hand, with no request
        return None
    sent: str | None = request.headers.get("authorization")
    return sent


def _fresh(error: TwUploadError) -> TwUploadError:
    """
    A copy of *error* with its cause: an exception object is raised in one task only.
    """
    fresh = copy.copy(error)
    fresh.__cause__ = error.__cause__
    return fresh


def _scrubbed(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _refresh_error(response: httpx.Response, secrets: list[str | None]) -> APIError:
    """
    The error for a token request the service refused; no secret in any field.
    """
    status = response.status_code
    # The service has no reason to quote the tokens; if it ever does, they go.
    text = _scrubbed(response.text, secrets).strip()
    try:
        payload: Any = json.loads(text) if text else None
    except ValueError:
        payload = text[:500]
    code = description = None
    if isinstance(payload, dict):
        code = payload.get("error")
        description = (
            payload.get("error_description")
            or payload.get("detail")
            or payload.get("title")
        )
    elif isinstance(payload, str):
        description = payload
    reason = ": ".join(str(part) for part in (code, description) if part)
    said = f": {end_sentence(reason)}" if reason else "."
    common: dict[str, Any] = {
        "status_code": status,
        "errors": [(None, reason)] if reason else [],
        "request_id": request_id_of(response.headers),
        "payload": payload,
    }
    if status in _REFUSED_STATUSES:
        advice = _CLIENT_ADVICE if code in _CLIENT_ERRORS else _REFUSED_ADVICE
        return AuthenticationError(
            f"Token refresh refused with HTTP {status}{said} {advice}", **common
        )
    if status == 429:  # noqa: PLR2004
        limit = RateLimit.from_headers(response.headers)
        return RateLimitError(
            f"Token refresh failed with HTTP 429{said} The token endpoint's rate limit "
            "is exhausted; try again after reset_at.",
            reset_at=limit.reset_at if limit else None,
            **common,
        )
    return APIError(
        f"Token refresh failed with HTTP {status}{said} "
        + (
            "The service failed; try again later."
            if status >= 500  # noqa: PLR2004
            else "Check base_url: the token endpoint is under it."
        ),
        **common,
    )


def _seconds(value: object) -> float | None:
    """
    ``expires_in`` as seconds: a non-negative finite number (or digit string), else None.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 <= value < 1e9 else None  # noqa: PLR2004


def _read_token(
    response: httpx.Response, old: BearerToken, *, now: float
) -> BearerToken:
    """
    The new `BearerToken` from a 2xx token response.

    The body holds the new tokens: it never goes into an error (payload None).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    access = body.get("access_token") if isinstance(body, dict) else None
    kind = body.get("token_type", "bearer") if isinstance(body, dict) else None
    if not isinstance(access, str) or not access or str(kind).lower() != "bearer":
        raise APIError(
            f"Token refresh: HTTP {response.status_code} without a bearer access token. "
            "Check base_url: it must be X's API root, such as https://api.x.com.",
            status_code=response.status_code,
            request_id=request_id_of(response.headers),
        )
    assert isinstance(body, dict)  # noqa: S101 - access_token came from it
    refresh = body.get("refresh_token")
    lifetime = _seconds(body.get("expires_in"))
    return BearerToken(
        access,
        # X rotates the refresh token; keep the old one if none came back.
        refresh_token=refresh
        if isinstance(refresh, str) and refresh
        else old.refresh_token,
        client_id=old.client_id,
        client_secret=old.client_secret,
        expires_at=None if lifetime is None else now + lifetime,
    )
