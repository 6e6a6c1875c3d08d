"""
Which credentials and which API version ``twupload upload`` uses, and what it does with new tokens.

The environment holds OAuth 1.0a credentials (four ``TWUPLOAD_*`` variables),
an OAuth 2.0 user token (``TWUPLOAD_BEARER_TOKEN``, with what refreshing it
needs), or both. ``--api auto`` (the default) picks v2 when a bearer token is
there, since that is all such a token works with, and v1.1 otherwise, as
before. A refreshed token is never printed: X retires the old refresh token
at every refresh, so the new one is written to ``--token-file`` when given,
and otherwise stderr says that it changed and how to keep the next one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .. import BearerToken, ConfigurationError, OAuth1Credentials
from ._batch import CommandError


if TYPE_CHECKING:
    from collections.abc import Mapping


#: ``--api``'s choices; ``auto`` picks by the credentials in the environment.
API_CHOICES = ("auto", "1.1", "2")
#: Where ``--api`` comes from when the option is not given.
API_ENV_VAR = "TWUPLOAD_API"
TOKEN_ENV_VAR = "TWUPLOAD_BEARER_TOKEN"  # noqa: S105 - a variable's name
REFRESH_ENV_VAR = "TWUPLOAD_REFRESH_TOKEN"
CLIENT_ID_ENV_VAR = "TWUPLOAD_CLIENT_ID"
CLIENT_SECRET_ENV_VAR = "TWUPLOAD_CLIENT_SECRET"  # noqa: S105 - a variable's name
EXPIRES_ENV_VAR = "TWUPLOAD_TOKEN_EXPIRES_AT"
#: The OAuth 2.0 variables, in the order the help lists them.
BEARER_ENV_VARS = (
    TOKEN_ENV_VAR,
    REFRESH_ENV_VAR,
    CLIENT_ID_ENV_VAR,
    CLIENT_SECRET_ENV_VAR,
    EXPIRES_ENV_VAR,
)
_NO_ACCOUNT = "To try twupload without an account, run `twupload demo`."


@dataclass(frozen=True, slots=True)
class Choice:
    """
    What to upload with: the credentials and the API version for them.

    Attributes:
        credentials: OAuth 1.0a credentials or a bearer token.
        api: ``"1.1"`` or ``"2"``.
        source: Where a bearer token came from (a variable or the token
            file), for messages; None for OAuth 1.0a.
    """

    credentials: OAuth1Credentials | BearerToken
    api: str
    source: str | None = None


def api_setting(option: str | None, environ: Mapping[str, str]) -> str:
    """
    ``--api`` if given, else ``$TWUPLOAD_API``, else ``auto``.
    """
    if option is not None:
        return option
    value = environ.get(API_ENV_VAR) or "auto"
    if value not in API_CHOICES:
        raise CommandError(
            f"{API_ENV_VAR} must be one of {', '.join(API_CHOICES)}, not {value!r}."
        )
    return value


def choose(
    api: str, environ: Mapping[str, str], token_file: Path | None = None
) -> Choice:
    """
    The credentials to upload with, and the API version, for ``--api`` *api*.

    A bearer token comes from *token_file* when that file exists, else from
    ``TWUPLOAD_BEARER_TOKEN``. With ``auto``, a bearer token means v2 and its
    absence v1.1 with OAuth 1.0a; ``2`` takes the bearer token if there is
    one, else OAuth 1.0a; ``1.1`` takes OAuth 1.0a only.

    Raises:
        CommandError: Missing or unusable credentials (status 2), naming the
            variables, never their values.
    """
    token = _bearer_token(environ, token_file)
    if token is not None and api != "1.1":
        return Choice(token[0], "2", token[1])
    try:
        credentials = OAuth1Credentials.from_env(environ)
    except ConfigurationError as exc:
        if token is not None:  # so api is "1.1"
            raise CommandError(
                f"{exc} The v1.1 API takes OAuth 1.0a only; the OAuth 2.0 token in "
                f"{token[1]} works with --api 2 (or auto)."
            ) from None
        raise CommandError(
            f"{exc} Or, for the v2 API, set {TOKEN_ENV_VAR} to an OAuth 2.0 user "
            f"access token with the media.write scope. {_NO_ACCOUNT}"
        ) from None
    return Choice(credentials, "2" if api == "2" else "1.1")


def _bearer_token(
    environ: Mapping[str, str], token_file: Path | None
) -> tuple[BearerToken, str] | None:
    """
    The bearer token, and where it came from; None when there is none.
    """
    if token_file is not None and token_file.exists():
        saved = _read_token_file(token_file)
        source = f"the token file {str(token_file)!r}"
        access, refresh, expires = (
            saved["access_token"],
            saved.get("refresh_token"),
            saved.get("expires_at"),
        )
    elif environ.get(TOKEN_ENV_VAR):
        source = TOKEN_ENV_VAR
        access = environ[TOKEN_ENV_VAR]
        refresh = environ.get(REFRESH_ENV_VAR) or None
        expires = _expiry(environ.get(EXPIRES_ENV_VAR) or None)
    else:
        return None
    client_id = environ.get(CLIENT_ID_ENV_VAR) or None
    client_secret = environ.get(CLIENT_SECRET_ENV_VAR) or None
    if client_id is None and (refresh is not None or client_secret is not None):
        raise CommandError(
            f"Refreshing the token in {source} needs {CLIENT_ID_ENV_VAR}: your app's "
            "OAuth 2.0 Client ID, on its 'Keys and tokens' page."
        )
    try:
        bearer = BearerToken(
            access,
            refresh_token=refresh,
            client_id=client_id,
            client_secret=client_secret,
            expires_at=expires,
        )
    except ConfigurationError as exc:
        raise CommandError(f"The token in {source} cannot be used: {exc}") from None
    return bearer, source


def _expiry(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CommandError(
            f"{EXPIRES_ENV_VAR} must be the access token's expiry in Unix seconds "
            "(the time of the token answer plus its expires_in)."
        )
    return value


def _read_token_file(path: Path) -> dict[str, Any]:
    """
    The JSON object of a token file: ``access_token``, ``refresh_token``, ``expires_at``.
    """
    problem = None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror or exc}"
    except ValueError:
        problem = "is not JSON"
    else:
        if not isinstance(saved, dict) or not isinstance(
            saved.get("access_token"), str
        ):
            problem = 'has no "access_token" string'
    if problem is not None:
        raise CommandError(
            f"The token file {str(path)!r} {problem}. It holds a JSON object with "
            '"access_token", "refresh_token" and "expires_at" (Unix seconds); '
            "delete it to start again from the environment."
        )
    return cast("dict[str, Any]", saved)


def token_record(token: BearerToken) -> dict[str, Any]:
    """
    What a token file holds for *token* (client credentials stay in the environment).
    """
    return {
        "access_token": token.token,
        "refresh_token": token.refresh_token,
        "expires_at": token.expires_at.timestamp() if token.expires_at else None,
    }


def write_token_file(path: Path, token: BearerToken) -> None:
    """
    Replace *path* with *token*, readable by this user only, never half-written.
    """
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as new:
            json.dump(token_record(token), new)
            new.write("\n")
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


@dataclass
class TokenKeeper:
    """
    The ``on_token_refresh`` of the command line: keeps new tokens, and says so.

    With a *token_file*, each new token is written there at once; without
    one, nothing can keep it, so `notes` tells the user how to next time.
    The tokens themselves are never printed.
    """

    source: str
    token_file: Path | None = None
    refreshes: int = 0
    failure: str | None = None

    def keep(self, token: BearerToken) -> None:
        self.refreshes += 1
        if self.token_file is None:
            return
        try:
            write_token_file(self.token_file, token)
        except OSError as exc:
            self.failure = str(exc.strerror or exc)

    def notes(self) -> list[str]:
        """
        What to tell the user on stderr after the run; nothing when no refresh happened.
        """
        if not self.refreshes:
            return []
        times = "once" if self.refreshes == 1 else f"{self.refreshes} times"
        said = (
            f"the access token was refreshed {times}, and X retired the refresh token"
        )
        if self.token_file is None:
            return [
                (
                    f"note: {said} from {self.source}. The new tokens are not shown. "
                    "To keep them, run with --token-file FILE: twupload writes each "
                    "new token there (readable by you only) and reads it next time. "
                    "Otherwise, authorize again before the next run."
                )
            ]
        if self.failure is not None:
            return [
                (
                    f"warning: {said}, but the new tokens could not be written to "
                    f"{str(self.token_file)!r}: {self.failure}. Authorize again "
                    "before the next run."
                )
            ]
        return [
            (
                f"note: {said}; the new tokens are saved in {str(self.token_file)!r}, "
                "which the next run with --token-file reads."
            )
        ]
