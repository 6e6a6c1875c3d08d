"""
Mapping responses to exceptions: every known error shape, pickling, no secrets.
"""

from __future__ import annotations

import datetime as dt
import pickle

import httpx
import pytest

from twupload import (
    APIError,
    AuthenticationError,
    InvalidMediaError,
    MediaProcessingError,
    RateLimitError,
    ResumeState,
    TwUploadError,
    UploadTimeoutError,
)
from twupload._errors import error_from_response


def _response(status: int, body: bytes | str = b"", **headers: str) -> httpx.Response:
    request = httpx.Request(
        "POST",
        "https://upload.twitter.com/1.1/media/upload.json",
        headers={"Authorization": 'OAuth oauth_token="SECRET-token"'},
    )
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(
        status,
        content=content,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        request=request,
    )


@pytest.mark.parametrize(
    ("status", "body", "errors"),
    [
        (
            400,
            '{"errors":[{"code":324,"message":"Unsupported category"}]}',
            ((324, "Unsupported category"),),
        ),
        (
            400,
            '{"request":"/1.1/media/upload.json","error":"media type unrecognized."}',
            ((None, "media type unrecognized."),),
        ),
        (413, "", ()),
        (502, "<html>Bad gateway</html>", ((None, "<html>Bad gateway</html>"),)),
        (
            500,
            '{"errors":["Internal error","again"]}',
            ((None, "Internal error"), (None, "again")),
        ),
        (
            400,
            '{"title":"Invalid Request","type":"about:blank","status":400,"detail":"One or more parameters are invalid."}',
            ((None, "One or more parameters are invalid."),),
        ),
        (
            400,
            '{"title":"Invalid Request","detail":"x","errors":[{"message":"media_category is required"}]}',
            ((None, "media_category is required"),),
        ),
        (400, "[1, 2]", ()),
        (500, '{"errors":[5, {"code":"x","message":"m"}]}', ((None, "m"),)),
    ],
)
def test_every_known_error_shape(
    status: int, body: str, errors: tuple[object, ...]
) -> None:
    """
    Each body shape the service sends yields the right (code, message) pairs and payload.
    """
    error = error_from_response(_response(status, body), operation="upload")
    assert type(error) is APIError
    assert error.status_code == status
    assert error.errors == errors
    assert f"HTTP {status}" in str(error)
    assert error.payload == (None if not body else error.payload)


def test_empty_413_says_what_to_do() -> None:
    """
    The empty-bodied 413 still explains the problem.
    """
    error = error_from_response(_response(413), operation="upload")
    assert error.payload is None
    assert "larger than the service accepts" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_map_to_authentication_error(status: int) -> None:
    """
    401 and 403 become AuthenticationError, with advice and no secrets.
    """
    error = error_from_response(
        _response(
            status, '{"errors":[{"code":32,"message":"Could not authenticate you."}]}'
        ),
        operation="INIT",
    )
    assert isinstance(error, AuthenticationError)
    assert error.errors == ((32, "Could not authenticate you."),)
    assert "credentials" in str(error)
    assert "SECRET" not in str(error) + repr(error)


def test_429_maps_to_rate_limit_error_with_reset() -> None:
    """
    429 becomes RateLimitError carrying reset_at from the headers.
    """
    error = error_from_response(
        _response(
            429,
            '{"errors":[{"code":88,"message":"Rate limit exceeded"}]}',
            x_rate_limit_limit="415",
            x_rate_limit_remaining="0",
            x_rate_limit_reset="1767225600",
            x_transaction_id="abc123",
        ),
        operation="upload",
    )
    assert isinstance(error, RateLimitError)
    assert error.reset_at == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert error.request_id == "abc123"
    assert "rate limit" in str(error).lower()


def test_429_without_headers_has_no_reset() -> None:
    """
    Without rate-limit headers reset_at is None.
    """
    error = error_from_response(_response(429), operation="upload")
    assert isinstance(error, RateLimitError)
    assert error.reset_at is None


def test_request_id_falls_back_to_x_transaction() -> None:
    """
    x-transaction is used when x-transaction-id is absent.
    """
    error = error_from_response(
        _response(500, "", x_transaction="t-9"), operation="upload"
    )
    assert error.request_id == "t-9"
    assert "try again later" in str(error)


def test_unreadable_2xx_body_is_an_api_error() -> None:
    """
    A 2xx with a body we cannot read is an APIError that points at base_url.
    """
    error = error_from_response(
        _response(200, "<html>proxy</html>"), operation="upload"
    )
    assert error.status_code == 200
    assert "base_url" in str(error)


def test_errors_pickle_without_the_response() -> None:
    """
    API errors survive pickling with their data; the live response is dropped.
    """
    error = error_from_response(
        _response(
            429,
            '{"errors":[{"code":88,"message":"Rate limit exceeded"}]}',
            x_rate_limit_limit="1",
            x_rate_limit_remaining="0",
            x_rate_limit_reset="1767225600",
        ),
        operation="upload",
    )
    error.resume = ResumeState(1, "1.1", 10, (0,), 100, None, "video/mp4")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RateLimitError
    assert str(again) == str(error)
    assert (again.status_code, again.errors, again.reset_at) == (
        429,
        error.errors,
        error.reset_at,
    )
    assert again.response is None
    assert again.resume == error.resume

    processing = MediaProcessingError(
        "failed", code=1, name="InvalidMedia", detail="bad", media_id=5
    )
    again_p = pickle.loads(pickle.dumps(processing))
    assert (again_p.code, again_p.name, again_p.message, again_p.media_id) == (
        1,
        "InvalidMedia",
        "bad",
        5,
    )
    timeout = pickle.loads(pickle.dumps(UploadTimeoutError("slow", media_id=7)))
    assert timeout.media_id == 7


def test_hierarchy() -> None:
    """
    Every error is a TwUploadError; InvalidMediaError is also a ValueError.
    """
    assert issubclass(InvalidMediaError, ValueError)
    for cls in (AuthenticationError, RateLimitError, MediaProcessingError):
        assert issubclass(cls, APIError)
    assert issubclass(APIError, TwUploadError)
    assert TwUploadError().resume is None
