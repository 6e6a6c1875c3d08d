"""
The exception family, and the one function that turns a failed response into one of them.
"""

from __future__ import annotations

import json

from dataclasses import dataclass
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


class RateLimitStoreError(TwUploadError):
    """
    The shared rate-limit store (Redis) failed or could not be reached.

    Raised before the request it was pacing is sent: nothing goes out unpaced.
    The message names the store and its URL without the password; the
    underlying exception is the ``__cause__``.
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


class UsageCapError(APIError):
    """
    HTTP 429 ``UsageCapExceeded``: the plan's usage cap is reached (on pay-per-use, a monthly cap).

    Raised at once, never retried: no rate-limit window will reopen it, so
    uploads fail until the cap resets or the plan changes.
    ``x-rate-limit-remaining`` may still be high. `payload` holds the
    service's problem document; its ``period`` and ``scope``, when present,
    say which cap.
    """


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
    # An APPEND carries one segment, not the media: its 413 is about segment size.
    -413: "Segment too large: lower the segment size with "
    "AsyncMediaClient(max_segment_bytes=...).",
}
_APPEND_413_KEY = -413
# What changes when the request carried an OAuth 2.0 bearer token (API v2 only).
_BEARER_ADVICE = {
    401: "Check the OAuth 2.0 token: it may be expired or revoked, or lack scopes "
    "such as media.write.",
    403: "The OAuth 2.0 token lacks access to media upload: it needs the media.write "
    "scope, and the app needs access to the v2 media endpoints.",
}
# A simple upload or INIT names no media id yet: a 404 can only mean a wrong URL.
_NO_MEDIA_ID_404 = (
    "Check base_url: it must be the service's root, such as "
    'https://upload.twitter.com (api="1.1") or https://api.x.com (api="2").'
)
_CODE_ADVICE = {
    88: _ADVICE[429],
    324: "The media category does not fit this media or this endpoint "
    "(tweet_* for posts, dm_* for direct messages).",
    325: "The media id is unknown or expired; upload the media again.",
    453: "The app's access level does not include this endpoint.",
}
_V1_453 = (
    'The app\'s access level does not include v1.1 media upload; use api="2" '
    "(the X API v2 media endpoints)."
)
#: The ``operation`` names (from the protocol modules) of requests that carry no
#: media id: the simple upload and the start of a chunked one.
OPERATIONS_WITHOUT_MEDIA_ID = frozenset({"upload", "INIT", "initialize"})
_SEE_ERRORS = "See the errors attribute for the service's reasons."
_SENTENCE_ENDS = (".", "!", "?", "…")


def end_sentence(text: str) -> str:
    """
    End *text* with a full stop unless it already ends a sentence.

    For quoting the service's messages, which mostly end with one already,
    without writing ``"..".``
    """
    text = text.rstrip()
    return text if text.endswith(_SENTENCE_ENDS) else f"{text}."


@dataclass(frozen=True, slots=True)
class _Sent:
    """
    What the mapper needs to know about the request that failed.

    Read from the request the response carries: the scheme word of its
    ``Authorization`` header (never the credentials) and its URL path.
    """

    bearer: bool = False
    v1: bool = False

    @classmethod
    def of(cls, response: httpx.Response) -> _Sent:
        try:
            request = response.request
        except RuntimeError:  # a response built by hand, with no request
            return cls()
        scheme = request.headers.get("authorization", "").split(" ", 1)[0]
        return cls(
            bearer=scheme.lower() == "bearer",
            v1="/1.1/" in request.url.path,
        )


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


def _reasons(pairs: Sequence[ErrorPair]) -> str:
    """
    The service's reasons as one sentence, ``[code] text; [code] text.``, or "".
    """
    texts = [
        f"[{code}] {text}" if code is not None else text
        for code, text in pairs
        if code is not None or text.strip()
    ]
    if not texts:
        return ""
    # "a.; b." reads badly: only the last reason keeps (or gets) its full stop.
    heads = [text.rstrip().removesuffix(".") for text in texts[:-1]]
    return end_sentence("; ".join([*heads, texts[-1]]))


def _advice(
    status_code: int, pairs: Sequence[ErrorPair], *, sent: _Sent, operation: str
) -> str | None:
    """
    What to do about the failure, fitted to the request; None when nothing specific.
    """
    codes = {code for code, _ in pairs}
    if 32 in codes:  # noqa: PLR2004 - "Could not authenticate you."
        status_code = 401
    elif 453 in codes and sent.v1:  # noqa: PLR2004
        return _V1_453
    for code, _ in pairs:
        if code in _CODE_ADVICE:
            return _CODE_ADVICE[code]
    if status_code >= 500:  # noqa: PLR2004
        return "The service failed; try again later."
    if sent.bearer and status_code in _BEARER_ADVICE:
        return _BEARER_ADVICE[status_code]
    if status_code == 404 and operation in OPERATIONS_WITHOUT_MEDIA_ID:  # noqa: PLR2004
        return _NO_MEDIA_ID_404
    if status_code == 413 and operation.lower().startswith("append"):  # noqa: PLR2004
        status_code = _APPEND_413_KEY
    return _ADVICE.get(status_code)


# X's RFC 7807 problem for a usage cap. The docs write its type on api.x.com,
# the service has been seen sending it on api.twitter.com: match the path.
_USAGE_CAPPED_TYPE_PATH = "/2/problems/usage-capped"
_USAGE_CAPPED_TITLE = "UsageCapExceeded"
_CAP_PERIODS = {"Daily": "daily ", "Monthly": "monthly "}


def _usage_capped(payload: Any) -> bool:
    """
    Whether a parsed body is X's usage-cap problem, at the top or in ``errors``.
    """
    if not isinstance(payload, dict):
        return False
    errors = payload.get("errors")
    problems = [payload, *(errors if isinstance(errors, list) else ())]
    return any(
        isinstance(problem, dict)
        and (
            str(problem.get("type", "")).endswith(_USAGE_CAPPED_TYPE_PATH)
            or problem.get("title") == _USAGE_CAPPED_TITLE
        )
        for problem in problems
    )


def is_usage_capped(response: httpx.Response) -> bool:
    """
    Whether *response* is a usage-cap 429, which no wait or retry can help.

    X answers a request past the plan's usage cap (pay-per-use plans have a
    monthly one) with 429 and a ``UsageCapExceeded`` problem, while
    ``x-rate-limit-remaining`` may still be high. The transport asks this
    before treating a 429 as retryable, and raises `UsageCapError` at once.
    """
    if response.status_code != 429:  # noqa: PLR2004
        return False
    return _usage_capped(parse_payload(response))


def _usage_cap_message(operation: str, reasons: str, problem: dict[str, Any]) -> str:
    named = problem.get("period")
    period = _CAP_PERIODS.get(named, "") if isinstance(named, str) else ""
    which = (
        f"The app's {period}usage cap"
        if period
        else "The app's usage cap (monthly on pay-per-use plans)"
    )
    return (
        f"{operation} failed with HTTP 429: {reasons or 'usage cap exceeded.'} "
        f"{which} is reached: uploads will fail until the cap resets or the plan "
        "changes (see the usage and plan in the X developer console). Not retried."
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
    sent = _Sent.of(response)
    reasons = _reasons(pairs)
    advice = _advice(status, pairs, sent=sent, operation=operation)
    if not 200 <= status < 300:  # noqa: PLR2004
        message = (
            f"{operation} failed with HTTP {status}"
            f"{': ' + reasons if reasons else '.'} {advice or _SEE_ERRORS}"
        )
    elif reasons and isinstance(payload, dict):
        # A 2xx that carries the service's errors instead of a media.
        message = (
            f"{operation} failed: HTTP {status} came with errors and no media: "
            f"{reasons}{' ' + advice if advice else ''}"
        )
    else:
        message = (
            f"{operation}: HTTP {status} with a body twupload cannot understand. "
            "Check base_url points at the media upload service."
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
    if status == 429 and _usage_capped(payload):  # noqa: PLR2004
        return UsageCapError(_usage_cap_message(operation, reasons, payload), **common)
    if status == 429:  # noqa: PLR2004
        limit = RateLimit.from_headers(response.headers)
        return RateLimitError(
            message, reset_at=limit.reset_at if limit else None, **common
        )
    return APIError(message, **common)
