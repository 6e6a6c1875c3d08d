"""
The exception family, and the one function that turns a failed response into one of them.
"""

from __future__ import annotations

import json

from typing import TYPE_CHECKING, Any

from ._results import RateLimit


if TYPE_CHECKING:
    import datetime as dt

    from collections.abc import Sequence

    import httpx

    from ._results import ResumeState


ErrorPair = tuple[int | None, str]


class TwUploadError(Exception):
    """
    Base class of every exception twupload raises on purpose.

    Attributes:
        resume:
            Set when a chunked upload ends after INIT: pass it to
            ``upload(source, resume=...)`` to continue where it stopped.
    """

    resume: ResumeState | None = None


class ConfigurationError(TwUploadError):
    """
    The client's settings or credentials are unusable; fix the configuration.
    """


class InvalidMediaError(TwUploadError, ValueError):
    """
    The input was rejected before any byte went over the network.
    """


class UploadTimeoutError(TwUploadError):
    """
    The service did not finish processing within ``processing_timeout``.

    Attributes:
        media_id: The media that was still processing.
    """

    def __init__(self, message: str, *, media_id: int | None = None) -> None:
        super().__init__(message)
        self.media_id = media_id


class TransportError(TwUploadError):
    """
    The network failed (connect, read, write or timeout), and retries are spent.

    The httpx exception is the ``__cause__``.
    """


class ResumeExpiredError(TwUploadError):
    """
    A `ResumeState` whose media id the service has already discarded; start over.
    """


class APIError(TwUploadError):
    """
    The service answered, and the answer was an error (or a 2xx body we cannot read).

    Attributes:
        status_code: HTTP status of the response.
        errors:
            ``(code, message)`` pairs from the body, in the server's order;
            *code* is None where the service gave none.
        request_id:
            The service's transaction id (``x-transaction-id``, else
            ``x-transaction``): quote it in support requests.
        payload: The parsed JSON body, or its raw text when it is not JSON.
        response:
            The failed response (None after unpickling). Never formatted into
            the message: its request carries the ``Authorization`` header.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        errors: Sequence[ErrorPair] = (),
        request_id: str | None = None,
        payload: Any = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = tuple(errors)
        self.request_id = request_id
        self.payload = payload
        self.response = response

    def __reduce__(self) -> tuple[Any, ...]:
        # An httpx.Response holds a live stream and the signed request: pickle
        # the plain data only, so errors can cross process boundaries.
        state = {
            key: value for key, value in self.__dict__.items() if key != "response"
        }
        return (self.__class__, self.args, state)


class AuthenticationError(APIError):
    """
    HTTP 401 or 403: the credentials were refused or lack the needed access.
    """


class RateLimitError(APIError):
    """
    HTTP 429, and waiting for the reset would exceed the budget or retries are spent.

    Attributes:
        reset_at: When the window resets (UTC), None if the service did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        errors: Sequence[ErrorPair] = (),
        request_id: str | None = None,
        payload: Any = None,
        response: httpx.Response | None = None,
        reset_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            errors=errors,
            request_id=request_id,
            payload=payload,
            response=response,
        )
        self.reset_at = reset_at


class MediaProcessingError(APIError):
    """
    The service accepted the bytes but could not process them.

    Attributes:
        code: The processing error's numeric code (1 InvalidMedia, 3 UnsupportedMedia, ...).
        name: Its name, such as ``"InvalidMedia"``.
        message: Its human-readable explanation.
        media_id: The media that failed.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 200,
        errors: Sequence[ErrorPair] = (),
        request_id: str | None = None,
        payload: Any = None,
        response: httpx.Response | None = None,
        code: int | None = None,
        name: str | None = None,
        detail: str | None = None,
        media_id: int | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            errors=errors,
            request_id=request_id,
            payload=payload,
            response=response,
        )
        self.code = code
        self.name = name
        self.message = detail
        self.media_id = media_id


_ADVICE = {
    400: "Check the options and the media against the service's limits.",
    401: "Check the four OAuth credentials and the system clock (timestamps must be "
    "within minutes of the service's).",
    403: "The app or token lacks access to media upload (check the app's access level "
    "and the token's permissions).",
    404: "Check base_url and the media id (media expire after a while).",
    413: "The media is larger than the service accepts for its category.",
    429: "The rate limit is exhausted; wait for reset_at or lower the request rate.",
}
_CODE_ADVICE = {
    32: _ADVICE[401],
    88: _ADVICE[429],
    324: "The media category does not fit this media or this endpoint "
    "(tweet_* for posts, dm_* for direct messages).",
    325: "The media id is unknown or expired; upload the media again.",
    453: "The app's access level does not include this endpoint.",
}


def request_id_of(headers: httpx.Headers) -> str | None:
    """
    Find the transaction id the service attaches for support requests.
    """
    found: str | None = headers.get("x-transaction-id") or headers.get("x-transaction")
    return found


def parse_payload(response: httpx.Response) -> Any:
    """
    Decode the body as JSON when it is JSON, else return its text (None when empty).
    """
    body = response.content
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return response.text


def _error_pairs(payload: Any) -> list[ErrorPair]:
    if isinstance(payload, str):
        return [(None, payload.strip()[:500])]
    if not isinstance(payload, dict):
        return []

    pairs: list[ErrorPair] = []
    for entry in payload.get("errors") or ():
        if isinstance(entry, str):
            pairs.append((None, entry))
        elif isinstance(entry, dict):
            code = entry.get("code")
            text = entry.get("message") or entry.get("detail") or entry.get("title")
            pairs.append((code if isinstance(code, int) else None, str(text or "")))
    if isinstance(error := payload.get("error"), str):
        pairs.append((None, error))
    if not pairs and (text := payload.get("detail") or payload.get("title")):
        pairs.append((None, str(text)))
    return pairs


def _advice(status_code: int, pairs: Sequence[ErrorPair]) -> str:
    for code, _ in pairs:
        if code in _CODE_ADVICE:
            return _CODE_ADVICE[code]
    if status_code >= 500:  # noqa: PLR2004
        return "The service failed; try again later."
    return _ADVICE.get(
        status_code, "See the errors attribute for the service's reasons."
    )


def error_from_response(response: httpx.Response, *, operation: str) -> APIError:
    """
    Map a failed (or unreadable) response to the matching `APIError` subclass.

    Copes with every error shape the service is known to send: an ``errors``
    list of objects or of strings, an ``error`` string, RFC 7807 problem
    documents, empty bodies (413) and non-JSON text.
    """
    payload = parse_payload(response)
    pairs = _error_pairs(payload)
    status = response.status_code
    reasons = "; ".join(
        f"[{code}] {text}" if code is not None else text for code, text in pairs
    )
    if 200 <= status < 300:  # noqa: PLR2004
        message = (
            f"{operation}: HTTP {status} with a body twupload cannot understand. "
            "Check base_url points at the media upload service."
        )
    else:
        message = (
            f"{operation} failed with HTTP {status}"
            f"{': ' + reasons if reasons else ''}. {_advice(status, pairs)}"
        )
    common: dict[str, Any] = {
        "status_code": status,
        "errors": pairs,
        "request_id": request_id_of(response.headers),
        "payload": payload,
        "response": response,
    }
    if status in {401, 403}:
        return AuthenticationError(message, **common)
    if status == 429:  # noqa: PLR2004
        limit = RateLimit.from_headers(response.headers)
        return RateLimitError(
            message, reset_at=limit.reset_at if limit else None, **common
        )
    return APIError(message, **common)
