"""
Mapping responses to exceptions: every known error shape, pickling, no secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle

from typing import TYPE_CHECKING

import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    AuthenticationError,
    BearerToken,
    InvalidMediaError,
    MediaProcessingError,
    RateLimitError,
    ResumeState,
    TwUploadError,
    UploadTimeoutError,
)
from twupload._errors import end_sentence, error_from_response

from fakes import service_response
from samples import SECRETS, png


if TYPE_CHECKING:
    from twupload import OAuth1Credentials


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
    response = service_response(status, body)
    error = error_from_response(response, operation="upload")
    assert type(error) is APIError
    assert error.status_code == status
    assert error.errors == errors
    assert type(error.errors) is tuple
    assert f"HTTP {status}" in str(error)
    if not body:
        expected: object = None
    elif body.startswith(("{", "[")):
        expected = json.loads(body)
    else:
        expected = body
    assert error.payload == expected
    assert error.response is response
    assert error.request_id is None
    assert ".." not in str(error)


def test_empty_413_says_what_to_do() -> None:
    """
    The empty-bodied 413 still explains the problem.
    """
    error = error_from_response(service_response(413), operation="upload")
    assert error.payload is None
    assert "larger than the service accepts" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_map_to_authentication_error(status: int) -> None:
    """
    401 and 403 become AuthenticationError, with advice and no secrets.
    """
    error = error_from_response(
        service_response(
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
        service_response(
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
    error = error_from_response(service_response(429), operation="upload")
    assert isinstance(error, RateLimitError)
    assert error.reset_at is None


def test_request_id_falls_back_to_x_transaction() -> None:
    """
    x-transaction is used when x-transaction-id is absent.
    """
    error = error_from_response(
        service_response(500, "", x_transaction="t-9"), operation="upload"
    )
    assert error.request_id == "t-9"
    assert "try again later" in str(error)


def test_unreadable_2xx_body_is_an_api_error() -> None:
    """
    A 2xx with a body we cannot read is an APIError that points at base_url.
    """
    error = error_from_response(
        service_response(200, "<html>proxy</html>"), operation="upload"
    )
    assert error.status_code == 200
    assert "base_url" in str(error)


def test_errors_pickle_without_theservice_response() -> None:
    """
    API errors survive pickling with their data; the live response is dropped.
    """
    error = error_from_response(
        service_response(
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


# Messages: the service's text once, one full stop, advice that fits the request.

V2_UPLOAD = "https://api.x.com/2/media/upload"
BEARER = "Bearer SECRET-bearer-token"
OAUTH1_401 = (
    "Check the four OAuth credentials and the system clock (timestamps must be "
    "within minutes of the service's)."
)
BEARER_401 = (
    "Check the OAuth 2.0 token: it may be expired or revoked, or lack scopes such "
    "as media.write."
)
NO_MEDIA_ID_404 = (
    "Check base_url: it must be the service's root, such as "
    'https://upload.twitter.com (api="1.1") or https://api.x.com (api="2").'
)
MEDIA_ID_404 = "Check base_url and the media id (media expire after a while)."


@pytest.mark.parametrize(
    ("response", "operation", "message"),
    [
        (
            service_response(
                401, '{"errors":[{"code":32,"message":"Could not authenticate you."}]}'
            ),
            "INIT",
            f"INIT failed with HTTP 401: [32] Could not authenticate you. {OAUTH1_401}",
        ),
        (
            service_response(
                401,
                '{"title":"Unauthorized","type":"about:blank","status":401,'
                '"detail":"Unauthorized"}',
                url=V2_UPLOAD,
                authorization=BEARER,
            ),
            "upload",
            f"upload failed with HTTP 401: Unauthorized. {BEARER_401}",
        ),
        (
            service_response(
                401,
                '{"errors":[{"code":32,"message":"Could not authenticate you."}]}',
                url=V2_UPLOAD,
                authorization=BEARER,
            ),
            "upload",
            f"upload failed with HTTP 401: [32] Could not authenticate you. {BEARER_401}",
        ),
        (
            service_response(
                403, '{"detail":"Not permitted"}', url=V2_UPLOAD, authorization=BEARER
            ),
            "initialize",
            (
                "initialize failed with HTTP 403: Not permitted. The OAuth 2.0 token lacks "
                "access to media upload: it needs the media.write scope, and the app needs "
                "access to the v2 media endpoints."
            ),
        ),
        (
            service_response(
                403, '{"errors":[{"code":87,"message":"Client is not permitted"}]}'
            ),
            "upload",
            (
                "upload failed with HTTP 403: [87] Client is not permitted. The app or token "
                "lacks access to media upload (check the app's access level and the "
                "token's permissions)."
            ),
        ),
        (
            service_response(
                403,
                '{"errors":[{"code":453,"message":"You currently have access to a '
                'subset of X API V2 endpoints only."}]}',
            ),
            "upload",
            (
                "upload failed with HTTP 403: [453] You currently have access to a subset "
                "of X API V2 endpoints only. The app's access level does not include v1.1 "
                'media upload; use api="2" (the X API v2 media endpoints).'
            ),
        ),
        (
            service_response(
                403,
                '{"errors":[{"code":453,"message":"No access"}]}',
                url=V2_UPLOAD,
            ),
            "upload",
            (
                "upload failed with HTTP 403: [453] No access. The app's access level does "
                "not include this endpoint."
            ),
        ),
        (
            service_response(
                404,
                '{"errors":[{"code":34,"message":"Sorry, that page does not exist."}]}',
            ),
            "upload",
            "upload failed with HTTP 404: [34] Sorry, that page does not exist. "
            + NO_MEDIA_ID_404,
        ),
        (
            service_response(
                404,
                '{"errors":[{"code":34,"message":"Sorry, that page does not exist."}]}',
            ),
            "STATUS",
            "STATUS failed with HTTP 404: [34] Sorry, that page does not exist. "
            + MEDIA_ID_404,
        ),
        (
            service_response(
                400, '{"request":"/1.1/media/upload.json","error":"Try again!"}'
            ),
            "upload",
            (
                "upload failed with HTTP 400: Try again! Check the options and the media "
                "against the service's limits."
            ),
        ),
        (
            service_response(400, '{"errors":["media type unrecognized  "]}'),
            "upload",
            (
                "upload failed with HTTP 400: media type unrecognized. Check the options "
                "and the media against the service's limits."
            ),
        ),
        (
            service_response(
                400,
                '{"errors":[{"code":38,"message":"media parameter is missing."},'
                '{"code":44,"message":"x"}]}',
            ),
            "APPEND segment 2",
            (
                "APPEND segment 2 failed with HTTP 400: [38] media parameter is missing; "
                "[44] x. Check the options and the media against the service's limits."
            ),
        ),
        (
            service_response(400, '{"errors":[{"message":""}, " "]}'),
            "INIT",
            (
                "INIT failed with HTTP 400. Check the options and the media against "
                "the service's limits."
            ),
        ),
        (
            service_response(400, '{"errors":[{"code":44}]}'),
            "INIT",
            (
                "INIT failed with HTTP 400: [44]. Check the options and the media "
                "against the service's limits."
            ),
        ),
        (
            service_response(418, ""),
            "FINALIZE",
            (
                "FINALIZE failed with HTTP 418. See the errors attribute for the "
                "service's reasons."
            ),
        ),
        (
            service_response(413, ""),
            "upload",
            (
                "upload failed with HTTP 413. The media is larger than the service "
                "accepts for its category."
            ),
        ),
    ],
    ids=[
        "oauth1-401",
        "bearer-401",
        "bearer-code-32",
        "bearer-403",
        "oauth1-403",
        "v1-453",
        "v2-453",
        "404-simple-upload",
        "404-status",
        "exclamation",
        "no-full-stop",
        "two-errors",
        "blank-reasons",
        "code-only",
        "empty-418",
        "empty-413",
    ],
)
def test_messages(response: httpx.Response, operation: str, message: str) -> None:
    """
    Each message quotes the service once, ends each sentence once, and advises to fit.
    """
    error = error_from_response(response, operation=operation)
    assert str(error) == message
    assert "SECRET" not in str(error) + repr(error)


@pytest.mark.parametrize("operation", ["upload", "INIT", "initialize"])
def test_404_without_a_media_id_points_at_base_url_only(operation: str) -> None:
    """
    A simple upload or INIT names no media id, so a 404 is about base_url alone.
    """
    error = error_from_response(service_response(404), operation=operation)
    assert str(error) == f"{operation} failed with HTTP 404. {NO_MEDIA_ID_404}"
    assert "media id" not in str(error)


@pytest.mark.parametrize(
    "operation",
    [
        "APPEND segment 0",
        "append segment 7",
        "FINALIZE",
        "finalize",
        "STATUS",
        "metadata/create",
        "metadata",
    ],
)
def test_404_with_a_media_id_mentions_it(operation: str) -> None:
    """
    Requests that name a media id may 404 because the media expired.
    """
    error = error_from_response(service_response(404), operation=operation)
    assert str(error) == f"{operation} failed with HTTP 404. {MEDIA_ID_404}"


@pytest.mark.parametrize("status", [401, 403])
def test_oauth1_advice_never_goes_to_bearer_users(status: int) -> None:
    """
    A bearer-token request gets OAuth 2.0 advice; an OAuth 1.0a one never does.
    """
    bearer = error_from_response(
        service_response(status, url=V2_UPLOAD, authorization=BEARER),
        operation="upload",
    )
    oauth1 = error_from_response(
        service_response(status, url=V2_UPLOAD), operation="upload"
    )
    assert isinstance(bearer, AuthenticationError)
    assert isinstance(oauth1, AuthenticationError)
    assert "media.write" in str(bearer)
    assert "OAuth 2.0" in str(bearer)
    assert "media.write" not in str(oauth1)
    assert "OAuth 2.0" not in str(oauth1)
    assert "four OAuth credentials" not in str(bearer)
    assert "SECRET" not in str(bearer) + repr(bearer)


def test_a_response_without_its_request_gets_the_default_advice() -> None:
    """
    A hand-built response (no request attached) is mapped as an OAuth 1.0a request.
    """
    response = httpx.Response(401, json={"errors": [{"code": 32, "message": "No."}]})
    error = error_from_response(response, operation="upload")
    assert str(error) == f"upload failed with HTTP 401: [32] No. {OAUTH1_401}"
    assert error.response is response


# A 2xx body: the service's errors when it carries some, else "cannot understand".


@pytest.mark.parametrize(
    ("body", "errors", "message"),
    [
        (
            '{"errors":[{"code":324,"message":"Invalid media category."}]}',
            ((324, "Invalid media category."),),
            (
                "upload failed: HTTP 200 came with errors and no media: [324] Invalid "
                "media category. The media category does not fit this media or this "
                "endpoint (tweet_* for posts, dm_* for direct messages)."
            ),
        ),
        (
            '{"errors":[{"code":131,"message":"Internal error"}],"data":{}}',
            ((131, "Internal error"),),
            (
                "upload failed: HTTP 200 came with errors and no media: [131] Internal "
                "error."
            ),
        ),
        (
            '{"errors":[{"message":"Processing failed","title":"x"}]}',
            ((None, "Processing failed"),),
            "upload failed: HTTP 200 came with errors and no media: Processing failed.",
        ),
    ],
)
def test_2xx_with_errors_reports_them(
    body: str, errors: tuple[object, ...], message: str
) -> None:
    """
    A 2xx whose body holds errors (and no media) raises those errors, not base_url advice.
    """
    response = service_response(200, body, x_transaction_id="tx-1")
    error = error_from_response(response, operation="upload")
    assert type(error) is APIError
    assert str(error) == message
    assert error.errors == errors
    assert (error.status_code, error.request_id) == (200, "tx-1")
    assert error.payload == json.loads(body)
    assert error.response is response
    assert "base_url" not in str(error)


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        ('{"x": 1}', {"x": 1}),
        ('{"errors": [{"message": ""}]}', {"errors": [{"message": ""}]}),
        ('"oops"', "oops"),
        ("[]", []),
        ("<html>proxy</html>", "<html>proxy</html>"),
    ],
)
def test_2xx_without_errors_points_at_base_url(body: str, payload: object) -> None:
    """
    A 2xx with neither media nor errors says to check base_url, and keeps the body.
    """
    error = error_from_response(service_response(201, body), operation="FINALIZE")
    assert type(error) is APIError
    assert str(error) == (
        "FINALIZE: HTTP 201 with a body twupload cannot understand. Check base_url "
        "points at the media upload service."
    )
    assert error.payload == payload


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Done", "Done."),
        ("Done.", "Done."),
        ("Done!", "Done!"),
        ("Done?", "Done?"),
        ("Wait…", "Wait…"),
        ("Done.  \n", "Done."),
        ("(see docs)", "(see docs)."),
    ],
)
def test_end_sentence(text: str, expected: str) -> None:
    """
    A full stop is added only where the text does not already end a sentence.
    """
    assert end_sentence(text) == expected


# The attributes every APIError carries.


def test_api_error_defaults_and_attributes() -> None:
    """
    The constructors keep what they are given (errors as a tuple) and default the rest.
    """
    plain = APIError("m")
    assert (plain.status_code, plain.errors, plain.request_id) == (0, (), None)
    assert (plain.payload, plain.response, plain.resume) == (None, None, None)
    response = service_response(400)
    given = APIError(
        "m",
        status_code=400,
        errors=[(38, "x")],
        request_id="r",
        payload={"a": 1},
        response=response,
    )
    assert given.errors == ((38, "x"),)
    assert type(given.errors) is tuple
    assert (given.status_code, given.request_id, given.payload) == (400, "r", {"a": 1})
    assert given.response is response

    limited = RateLimitError("m")
    assert (limited.status_code, limited.reset_at, limited.errors) == (429, None, ())
    processing = MediaProcessingError("m")
    assert (processing.status_code, processing.code, processing.name) == (
        200,
        None,
        None,
    )
    assert (processing.message, processing.media_id, processing.payload) == (
        None,
        None,
        None,
    )
    assert UploadTimeoutError("m").media_id is None


def test_pickling_keeps_payload_and_request_id() -> None:
    """
    The data a support ticket needs survives pickling; the response does not.
    """
    error = error_from_response(
        service_response(
            400, '{"errors":[{"code":38,"message":"m"}]}', x_transaction_id="t"
        ),
        operation="upload",
    )
    again = pickle.loads(pickle.dumps(error))
    assert again.payload == {"errors": [{"code": 38, "message": "m"}]}
    assert (again.request_id, again.errors) == ("t", ((38, "m"),))
    assert error.response is not None
    assert again.response is None


# Through the client: the request the transport really sent decides the advice.


@pytest.mark.anyio
async def test_bearer_client_gets_oauth2_advice() -> None:
    """
    A v2 client with a BearerToken that is refused is told about the token and its scopes.
    """
    with respx.mock() as mock:
        mock.post(V2_UPLOAD).respond(401, json={"title": "Unauthorized"})
        async with AsyncMediaClient(BearerToken("SECRET-tok"), api="2") as client:
            with pytest.raises(AuthenticationError) as info:
                await client.upload(png())
    assert str(info.value) == f"upload failed with HTTP 401: Unauthorized. {BEARER_401}"
    assert info.value.payload == {"title": "Unauthorized"}


@pytest.mark.anyio
async def test_oauth1_simple_upload_404_and_2xx_errors(
    creds: OAuth1Credentials,
) -> None:
    """
    v1.1 through the client: a 404 upload says only base_url; a 200 with errors raises them.
    """
    url = "https://upload.twitter.com/1.1/media/upload.json"
    page = {"errors": [{"code": 34, "message": "Sorry, that page does not exist."}]}
    refused = {"errors": [{"code": 324, "message": "Invalid media."}]}
    with respx.mock() as mock:
        mock.post(url).mock(
            side_effect=[
                httpx.Response(404, json=page),
                httpx.Response(200, json=refused),
            ]
        )
        async with AsyncMediaClient(creds) as client:
            with pytest.raises(APIError) as missing:
                await client.upload(png())
            with pytest.raises(APIError) as in_200:
                await client.upload(png())
    assert str(missing.value) == (
        "upload failed with HTTP 404: [34] Sorry, that page does not exist. "
        + NO_MEDIA_ID_404
    )
    assert in_200.value.status_code == 200
    assert in_200.value.errors == ((324, "Invalid media."),)
    assert in_200.value.payload == refused
    assert "base_url" not in str(in_200.value)
    for error in (missing.value, in_200.value):
        assert not any(secret in str(error) for secret in SECRETS)
