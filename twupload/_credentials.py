"""
Credentials, kept out of every repr, log line and message.
"""

from __future__ import annotations

import datetime as dt
import os

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ._errors import ConfigurationError


if TYPE_CHECKING:
    from collections.abc import Mapping


_REDACTED = "'***'"


@dataclass(frozen=True, slots=True)
class OAuth1Credentials:
    """
    OAuth 1.0a user-context credentials: an app's consumer pair and a user's token pair.

    The consumer key is the only field shown by `repr` and `str`; the three
    secrets appear as ``'***'`` so that credentials can be logged safely.

    Attributes:
        consumer_key: The app's API key.
        consumer_secret: The app's API key secret.
        access_token: The user's access token.
        access_token_secret: The user's access token secret.
    """

    ENV_VARS: ClassVar[tuple[str, str, str, str]] = (
        "TWUPLOAD_CONSUMER_KEY",
        "TWUPLOAD_CONSUMER_SECRET",
        "TWUPLOAD_ACCESS_TOKEN",
        "TWUPLOAD_ACCESS_TOKEN_SECRET",
    )

    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        empty = [
            name
            for name in (
                "consumer_key",
                "consumer_secret",
                "access_token",
                "access_token_secret",
            )
            if not isinstance(getattr(self, name), str) or not getattr(self, name)
        ]
        if empty:
            raise ConfigurationError(
                f"OAuth1Credentials needs non-empty strings for: {', '.join(empty)}. "
                "Copy them from your app's 'Keys and tokens' page."
            )

    def __repr__(self) -> str:
        return (
            f"OAuth1Credentials(consumer_key={self.consumer_key!r}, "
            f"consumer_secret={_REDACTED}, access_token={_REDACTED}, "
            f"access_token_secret={_REDACTED})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OAuth1Credentials:
        """
        Read the four values from ``TWUPLOAD_*`` environment variables.

        Args:
            environ: Where to look instead of `os.environ` (handy in tests).

        Raises:
            ConfigurationError: Naming every missing or empty variable (never a value).
        """
        env = os.environ if environ is None else environ
        missing = [name for name in cls.ENV_VARS if not env.get(name)]
        if missing:
            raise ConfigurationError(
                f"Missing environment variable(s): {', '.join(missing)}. "
                "Set them to your app's OAuth 1.0a keys and the user's access token."
            )

        return cls(*(env[name] for name in cls.ENV_VARS))


@dataclass(frozen=True, slots=True, init=False)
class BearerToken:
    """
    An OAuth 2.0 user-context access token (scope ``media.write``), for the v2 API only.

    Given its refresh token (scope ``offline.access``) and the app's client id,
    an `AsyncMediaClient` refreshes it shortly before *expires_at* and once
    after the service refuses it, and hands every new token to its
    ``on_token_refresh`` callback: X issues a new refresh token at each
    refresh, so the new token is the one to keep.

    `repr` and `str` show the client id and the expiry; the access token, the
    refresh token and the client secret appear as ``'***'``.

    Args:
        token: The access token.
        refresh_token: The refresh token, or None when the token is not refreshed.
        client_id: The app's OAuth 2.0 Client ID; needed with *refresh_token*.
        client_secret: The app's OAuth 2.0 Client Secret, for a confidential
            client only (a public client has none).
        expires_at: When the access token expires: a timezone-aware datetime
            or Unix seconds (stored as a UTC datetime); None when unknown.

    Raises:
        ConfigurationError: An empty or non-string value, a refresh token or
            client secret without a client id, or an *expires_at* that is naive
            or not a time.
    """

    token: str
    refresh_token: str | None
    client_id: str | None
    client_secret: str | None
    expires_at: dt.datetime | None

    def __init__(
        self,
        token: str,
        *,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_at: dt.datetime | float | None = None,
    ) -> None:
        if not isinstance(token, str) or not token:
            raise ConfigurationError(
                "BearerToken needs a non-empty OAuth 2.0 user access token."
            )
        optional = {
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        bad = [
            name
            for name, value in optional.items()
            if value is not None and (not isinstance(value, str) or not value)
        ]
        if bad:
            raise ConfigurationError(
                f"BearerToken: {', '.join(bad)} must be a non-empty string or None."
            )
        if client_id is None and (
            refresh_token is not None or client_secret is not None
        ):
            raise ConfigurationError(
                "BearerToken needs client_id= (the app's OAuth 2.0 Client ID, on its "
                "'Keys and tokens' page) with a refresh_token or a client_secret: "
                "X's token endpoint asks for it."
            )
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "refresh_token", refresh_token)
        object.__setattr__(self, "client_id", client_id)
        object.__setattr__(self, "client_secret", client_secret)
        object.__setattr__(self, "expires_at", _utc_time(expires_at))

    def __repr__(self) -> str:
        def secret(value: str | None) -> str:
            return "None" if value is None else _REDACTED

        return (
            f"BearerToken(token={_REDACTED}, "
            f"refresh_token={secret(self.refresh_token)}, "
            f"client_id={self.client_id!r}, "
            f"client_secret={secret(self.client_secret)}, "
            f"expires_at={self.expires_at!r})"
        )

    __str__ = __repr__


def _utc_time(value: object) -> dt.datetime | None:
    """
    *value* (None, an aware datetime or Unix seconds) as a UTC datetime.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise ConfigurationError(
                "BearerToken expires_at must be timezone-aware (such as "
                "datetime.now(timezone.utc) + timedelta(seconds=expires_in)) or Unix "
                "seconds: a naive datetime names no time zone."
            )
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):  # NaN, infinities, year 10000
            pass
    raise ConfigurationError(
        "BearerToken expires_at must be a timezone-aware datetime or Unix seconds, "
        f"not {value!r}."
    )


Credentials = OAuth1Credentials | BearerToken
