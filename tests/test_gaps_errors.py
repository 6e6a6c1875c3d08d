"""
Mapping responses to exceptions: the corners a mutation run found untested.

Each test pins down what `error_from_response` (or an exception's constructor)
hands back: the attributes a support ticket needs, the fallbacks through the
service's error shapes, and the advice picked for the status.
"""

from __future__ import annotations

import pytest

from twupload import (
    APIError,
    AuthenticationError,
    MediaProcessingError,
    RateLimitError,
)
from twupload._errors import error_from_response

from fakes import service_response


V1_UPLOAD = "https://upload.twitter.com/1.1/media/upload.json"
V2_UPLOAD = "https://api.x.com/2/media/upload"
SEE_ERRORS = "See the errors attribute for the service's reasons."


def test_a_rate_limit_error_keeps_everything_the_response_said() -> None:
    """
    A 429 mapped to RateLimitError carries the reasons, request id, body and response.
    """
    body = '{"errors":[{"code":88,"message":"Rate limit exceeded"}]}'
    response = service_response(429, body, x_transaction_id="tx-429")
    error = error_from_response(response, operation="upload")
    assert type(error) is RateLimitError
    assert error.status_code == 429
    assert error.errors == ((88, "Rate limit exceeded"),)
    assert error.request_id == "tx-429"
    assert error.payload == {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
    assert error.response is response
    assert error.reset_at is None


def test_a_media_processing_error_keeps_what_it_is_given() -> None:
    """
    MediaProcessingError stores the APIError attributes as well as its own.
    """
    response = service_response(200, '{"processing_info":{"state":"failed"}}')
    error = MediaProcessingError(
        "Processing failed.",
        status_code=200,
        errors=[(1, "InvalidMedia")],
        request_id="tx-7",
        payload={"processing_info": {"state": "failed"}},
        response=response,
        code=1,
        name="InvalidMedia",
        detail="Unsupported video codec",
        media_id=42,
    )
    assert error.errors == ((1, "InvalidMedia"),)
    assert error.request_id == "tx-7"
    assert error.payload == {"processing_info": {"state": "failed"}}
    assert error.response is response
    assert (error.code, error.name, error.message, error.media_id) == (
        1,
        "InvalidMedia",
        "Unsupported video codec",
        42,
    )
    assert str(error) == "Processing failed."


def test_a_long_text_body_is_quoted_up_to_500_characters() -> None:
    """
    A non-JSON error page becomes one reason of at most 500 characters.
    """
    page = "x" * 600
    error = error_from_response(service_response(400, page), operation="upload")
    assert error.errors == ((None, "x" * 500),)
    assert error.payload == page


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ('{"detail":"Detail only"}', "Detail only"),
        ('{"title":"Title only"}', "Title only"),
        ('{"detail":"The detail","title":"The title"}', "The detail"),
        ('{"code":7,"title":"Coded title"}', "Coded title"),
    ],
)
def test_an_error_entry_without_a_message_falls_back_to_detail_then_title(
    entry: str, reason: str
) -> None:
    """
    An ``errors`` entry with no ``message`` is read from ``detail``, else ``title``.
    """
    body = f'{{"errors":[{entry}]}}'
    error = error_from_response(service_response(400, body), operation="INIT")
    code = 7 if '"code"' in entry else None
    assert error.errors == ((code, reason),)
    shown = f"[{code}] {reason}" if code is not None else reason
    assert str(error).startswith(f"INIT failed with HTTP 400: {shown}. ")


def test_only_the_last_reason_keeps_its_full_stop_even_after_trailing_space() -> None:
    """
    A reason ending ". " (trailing blanks) loses its full stop like any other but the last.
    """
    body = '{"errors":[{"code":38,"message":"media is missing.  "},"Try again."]}'
    error = error_from_response(service_response(400, body), operation="upload")
    assert str(error) == (
        "upload failed with HTTP 400: [38] media is missing; Try again. Check the "
        "options and the media against the service's limits."
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_a_5xx_says_the_service_failed(status: int) -> None:
    """
    Any 5xx gets the same advice: the failure is the service's; try later.
    """
    error = error_from_response(service_response(status), operation="FINALIZE")
    assert str(error) == (
        f"FINALIZE failed with HTTP {status}. The service failed; try again later."
    )


@pytest.mark.parametrize("status", [300, 301, 304])
def test_a_3xx_is_a_failure_not_a_body_twupload_cannot_read(status: int) -> None:
    """
    Only a 2xx can be "a body twupload cannot understand"; a 3xx failed.
    """
    error = error_from_response(service_response(status), operation="upload")
    assert type(error) is APIError
    assert str(error) == f"upload failed with HTTP {status}. {SEE_ERRORS}"


@pytest.mark.parametrize("status", [200, 299])
def test_the_edges_of_2xx_are_bodies_twupload_cannot_read(status: int) -> None:
    """
    200 and 299 both count as answers whose body was unreadable.
    """
    error = error_from_response(service_response(status, "<html/>"), operation="upload")
    assert str(error).startswith(
        f"upload: HTTP {status} with a body twupload cannot understand."
    )


@pytest.mark.parametrize(
    "authorization",
    ["Bearer two words", "Bearer  double-space", "bearer lower-case"],
)
def test_the_bearer_scheme_is_the_first_word_of_the_authorization(
    authorization: str,
) -> None:
    """
    The request's scheme is its Authorization header's first word, whatever follows.
    """
    error = error_from_response(
        service_response(401, url=V2_UPLOAD, authorization=authorization),
        operation="upload",
    )
    assert isinstance(error, AuthenticationError)
    assert "OAuth 2.0 token" in str(error)
    assert "four OAuth credentials" not in str(error)
