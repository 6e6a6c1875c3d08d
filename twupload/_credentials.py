"""
Credentials, kept out of every repr, log line and message.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class BearerToken:
    """
    An OAuth 2.0 user-context access token (scope ``media.write``), for the v2 API only.

    Attributes:
        token: The access token; shown as ``'***'`` by `repr` and `str`.
    """

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise ConfigurationError(
                "BearerToken needs a non-empty OAuth 2.0 user access token."
            )

    def __repr__(self) -> str:
        return f"BearerToken(token={_REDACTED})"

    __str__ = __repr__


Credentials = OAuth1Credentials | BearerToken
