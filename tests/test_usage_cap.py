"""
Usage caps: X's 429 UsageCapExceeded is a UsageCapError, raised at once, never retried.
"""

from __future__ import annotations

import json
import pickle

from typing import TYPE_CHECKING, Any

import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    BearerToken,
    RateLimitError,
    TwUploadError,
    UsageCapError,
)
from twupload._errors import error_from_response, is_usage_capped

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from twupload import OAuth1Credentials


UPLOAD = "https://api.x.com/2/media/upload"
# As X's "Response Codes & Errors" page names the problem type.
DOCUMENTED = {
    "title": "UsageCapExceeded",
    "type": "https://api.x.com/2/problems/usage-capped",
    "detail": "Usage cap exceeded: Monthly product cap",
    "status": 429,
}
# As recorded from the service (xdevplatform/xdk#25): on api.twitter.com, no status.
RECORDED = {
    "account_id": "1234",
    "product_name": "standard-basic",
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}
# The cap is not the rate limit: the window still has room.
HEADERS = {
    "content-type": "application/problem+json",
    "x-rate-limit-limit": "40000",
    "x-rate-limit-remaining": "39999",
    "x-rate-limit-reset": "1767226500",
    "x-transaction-id": "tx-cap",
}


def _response(
    status: int, body: Any, headers: dict[str, str] = HEADERS
) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(
        status,
        content=content.encode(),
        headers=headers,
        request=httpx.Request("POST", UPLOAD),
    )


@pytest.mark.parametrize(
    "body",
    [
        DOCUMENTED,
        RECORDED,
        {"title": "UsageCapExceeded"},
        {"type": "https://api.x.com/2/problems/usage-capped"},
        {
            "errors": [
                {"message": "x"},
                {"type": "https://api.x.com/2/problems/usage-capped"},
            ]
        },
    ],
    ids=["documented", "recorded", "title", "type", "in-errors"],
)
def test_usage_cap_problems_are_recognized(body: dict[str, Any]) -> None:
    """
    The problem is known by its type path (either host) or its title, at the top or in errors.
    """
    assert is_usage_capped(_response(429, body))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}),
        (429, {"title": "Too Many Requests", "type": "about:blank", "status": 429}),
        (429, ""),
        (429, "Usage cap exceeded"),
        (429, {"errors": "UsageCapExceeded"}),
        (429, {"errors": ["UsageCapExceeded"]}),
        (429, [DOCUMENTED]),
        (403, DOCUMENTED),
        (200, DOCUMENTED),
    ],
    ids=[
        "rate-limit",
        "rate-limit-problem",
        "empty",
        "text",
        "errors-string",
        "errors-strings",
        "list",
        "403",
        "200",
    ],
)
def test_other_responses_are_not_usage_caps(status: int, body: Any) -> None:
    """
    Rate limits, bodies that are no problem document, and other statuses are not caps.
    """
    assert not is_usage_capped(_response(status, body))


def test_usage_cap_maps_to_usage_cap_error() -> None:
    """
    The error is an APIError (not a RateLimitError) that says what happened and what to do.
    """
    error = error_from_response(_response(429, RECORDED), operation="upload")
    assert type(error) is UsageCapError
    assert isinstance(error, APIError)
    assert isinstance(error, TwUploadError)
    assert not isinstance(error, RateLimitError)
    assert str(error) == (
        "upload failed with HTTP 429: Usage cap exceeded: Monthly product cap. The app's "
        "monthly usage cap is reached: uploads will fail until the cap resets or the plan "
        "changes (see the usage and plan in the X developer console). Not retried."
    )
    assert error.status_code == 429
    assert error.request_id == "tx-cap"
    assert error.payload == RECORDED
    assert error.errors == ((None, "Usage cap exceeded: Monthly product cap"),)
    assert repr(UsageCapError) == "<class 'twupload.UsageCapError'>"


@pytest.mark.parametrize(
    ("body", "which"),
    [
        ({**RECORDED, "period": "Daily"}, "The app's daily usage cap is reached"),
        (DOCUMENTED, "The app's usage cap (monthly on pay-per-use plans) is reached"),
        ({**RECORDED, "period": ["Monthly"]}, "(monthly on pay-per-use plans)"),
        ({**RECORDED, "period": "Weekly"}, "(monthly on pay-per-use plans)"),
    ],
    ids=["daily", "no-period", "odd-period", "unknown-period"],
)
def test_message_names_the_cap_period_when_known(
    body: dict[str, Any], which: str
) -> None:
    """
    The period the service reports goes into the message; otherwise the monthly cap is named.
    """
    assert which in str(
        error_from_response(_response(429, body), operation="initialize")
    )


def test_a_bare_usage_cap_problem_still_reads_well() -> None:
    """
    A problem with a type alone (no title or detail) still gives a whole message.
    """
    body = {"type": "https://api.x.com/2/problems/usage-capped"}
    message = str(error_from_response(_response(429, body), operation="upload"))
    assert message.startswith(
        "upload failed with HTTP 429: usage cap exceeded. The app's"
    )


def test_usage_cap_error_pickles_without_the_response() -> None:
    """
    Like every APIError, it crosses process boundaries with its data and without the response.
    """
    error = error_from_response(_response(429, RECORDED), operation="upload")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is UsageCapError
    assert str(copy) == str(error)
    assert copy.payload == RECORDED
    assert copy.response is None


@pytest.mark.anyio
@pytest.mark.parametrize("bearer", [True, False], ids=["bearer", "oauth1"])
async def test_usage_cap_is_raised_at_once(
    creds: OAuth1Credentials, bearer: bool
) -> None:
    """
    No retry and no wait: one request, then UsageCapError outside async with.
    """
    time = FakeTime()
    credentials = BearerToken("t") if bearer else creds
    with respx.mock(assert_all_called=True) as router:
        route = router.post(UPLOAD).mock(return_value=_response(429, RECORDED))
        with pytest.raises(UsageCapError, match="monthly usage cap is reached") as info:
            async with AsyncMediaClient(
                credentials, api="2", max_retries=3, clock=time.clock, sleep=time.sleep
            ) as client:
                await client.upload(png())
    assert type(info.value) is UsageCapError
    assert str(info.value).startswith("upload failed with HTTP 429: ")
    assert route.call_count == 1
    assert time.sleeps == []
    assert "gave up" not in str(info.value)
