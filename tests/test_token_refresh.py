"""
OAuth 2.0 token refresh: when, how the token request looks, single flight, errors, secrets.
"""

from __future__ import annotations

import base64
import json
import logging

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import respx

from twupload import (
    APIError,
    AsyncMediaClient,
    AuthenticationError,
    BearerToken,
    ConfigurationError,
    InvalidMediaError,
    RateLimitError,
    TransportError,
    UploadResult,
)
from twupload._oauth2 import TokenRefresher

from checks import multipart_fields
from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator


pytestmark = pytest.mark.anyio

API = "https://api.x.com"
UPLOAD = f"{API}/2/media/upload"
TOKEN_URL = f"{API}/2/oauth2/token"
NOW = 1_767_225_600.0
MEDIA_ID = 1880028106020515840
IMAGE = {
    "data": {
        "id": str(MEDIA_ID),
        "media_key": f"3_{MEDIA_ID}",
        "size": 73,
        "expires_after_secs": 86400,
        "image": {"image_type": "image/png", "w": 2, "h": 2},
    }
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
SECRETS = (
    "at-SECRET-old",
    "rt-SECRET-old",
    "client-SECRET",
    "at-SECRET-new",
    "rt-SECRET-new",
)


def _token(**changes: Any) -> BearerToken:
    """
    A public client's token that expires in 30 seconds (so it is refreshed first).
    """
    values: dict[str, Any] = {
        "refresh_token": "rt-SECRET-old",
        "client_id": "client-1",
        "expires_at": NOW + 30,
        **changes,
    }
    return BearerToken("at-SECRET-old", **values)


def _grant(n: int = 1, **changes: Any) -> dict[str, Any]:
    """
    X's answer to a refresh: a new access token and a new refresh token.
    """
    return {
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": f"at-SECRET-new{n}",
        "scope": "tweet.read users.read media.write offline.access",
        "refresh_token": f"rt-SECRET-new{n}",
        **changes,
    }


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def _client(token: BearerToken, time: FakeTime, **options: Any) -> AsyncMediaClient:
    return AsyncMediaClient(
        token, api="2", clock=time.clock, sleep=time.sleep, **options
    )


def _refresher(client: AsyncMediaClient) -> TokenRefresher:
    refresher = client._protocol._transport._refresher  # type: ignore[attr-defined]
    assert isinstance(refresher, TokenRefresher)
    return refresher


def _no_secret(*texts: object) -> None:
    joined = " ".join(map(str, texts))
    for secret in SECRETS:
        assert secret not in joined


@pytest.fixture
def time() -> FakeTime:
    return FakeTime(NOW)


# When the token is refreshed.


async def test_expiring_token_is_refreshed_before_the_upload(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A public client's token expiring within 60 s: one token request, then the upload with the new one.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD).respond(200, json=IMAGE)
    stored: list[BearerToken] = []

    async with _client(_token(), time, on_token_refresh=stored.append) as client:
        result = await client.upload(png())

    assert result.media_id == MEDIA_ID
    assert grant.call_count == 1
    sent = grant.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in sent.headers
    assert _form(sent) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-SECRET-old",
        "client_id": "client-1",
    }
    assert upload.calls.last.request.headers["authorization"] == "Bearer at-SECRET-new1"
    assert stored == [
        BearerToken(
            "at-SECRET-new1",
            refresh_token="rt-SECRET-new1",
            client_id="client-1",
            expires_at=NOW + 7200,
        )
    ]
    assert _refresher(client).token == stored[0]


async def test_confidential_client_uses_basic_auth_and_an_async_callback(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    With a client secret: HTTP Basic client_id:client_secret, no client_id in the form.

    The http client's own auth is never sent to the token endpoint; an async
    callback is awaited.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    mock.post(UPLOAD).respond(200, json=IMAGE)
    stored: list[BearerToken] = []

    async def store(token: BearerToken) -> None:
        await anyio.lowlevel.checkpoint()
        stored.append(token)

    async with httpx.AsyncClient(auth=("proxy-user", "proxy-pass")) as http:
        client = _client(
            _token(client_secret="client-SECRET"),
            time,
            on_token_refresh=store,
            http_client=http,
        )
        async with client:
            await client.upload(png())

    sent = grant.calls.last.request
    expected = base64.b64encode(b"client-1:client-SECRET").decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert _form(sent) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-SECRET-old",
    }
    assert [token.client_secret for token in stored] == ["client-SECRET"]
    assert stored[0].token == "at-SECRET-new1"


async def test_public_client_sends_no_auth_even_when_the_http_client_has_some(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A caller's httpx client with default auth does not leak it into a public client's refresh.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    mock.post(UPLOAD).respond(200, json=IMAGE)
    async with (
        httpx.AsyncClient(auth=("proxy-user", "proxy-pass")) as http,
        _client(_token(), time, http_client=http) as client,
    ):
        await client.upload(png())
    assert "authorization" not in grant.calls.last.request.headers


async def test_token_is_refreshed_only_within_60_seconds_of_expiry(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A token with an hour left is used as it is, and refreshed once 60 s or less remain.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD).respond(200, json=IMAGE)
    async with _client(_token(expires_at=NOW + 3600), time) as client:
        await client.upload(png())
        time.now += 3600 - 61
        await client.upload(png())
        assert grant.call_count == 0
        time.now += 1
        await client.upload(png())
    assert grant.call_count == 1
    assert [call.request.headers["authorization"] for call in upload.calls] == [
        "Bearer at-SECRET-old",
        "Bearer at-SECRET-old",
        "Bearer at-SECRET-new1",
    ]


@pytest.mark.parametrize(
    "token",
    [
        _token(expires_at=None),
        BearerToken("at-SECRET-old", expires_at=NOW - 10),
        BearerToken("at-SECRET-old"),
    ],
    ids=["no-expiry", "expired-without-refresh-token", "plain"],
)
async def test_nothing_to_refresh_sends_the_token_as_it_is(
    mock: respx.MockRouter, time: FakeTime, token: BearerToken
) -> None:
    """
    Without an expiry, or without a refresh token, no token request is made up front.
    """
    grant = mock.post(TOKEN_URL)
    upload = mock.post(UPLOAD).respond(200, json=IMAGE)
    async with _client(token, time) as client:
        await client.upload(png())
    assert not grant.called
    assert upload.calls.last.request.headers["authorization"] == "Bearer at-SECRET-old"


async def test_every_refresh_rotates_the_refresh_token_in_order(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Each refresh sends the newest refresh token, and the callback sees the tokens in order.
    """
    grant = mock.post(TOKEN_URL)
    grant.side_effect = [
        httpx.Response(200, json=_grant(1, expires_in=30)),
        httpx.Response(200, json=_grant(2)),
    ]
    mock.post(UPLOAD).respond(200, json=IMAGE)
    stored: list[BearerToken] = []
    async with _client(_token(), time, on_token_refresh=stored.append) as client:
        await client.upload(png())
        await client.upload(png())
        await client.upload(png())
    assert [_form(call.request)["refresh_token"] for call in grant.calls] == [
        "rt-SECRET-old",
        "rt-SECRET-new1",
    ]
    assert [token.refresh_token for token in stored] == [
        "rt-SECRET-new1",
        "rt-SECRET-new2",
    ]


async def test_token_url_is_under_base_url(time: FakeTime) -> None:
    """
    The token endpoint follows base_url (the emulator's, say), trailing slash or not.
    """
    base = "http://127.0.0.1:8123"
    with respx.mock(base_url=base, assert_all_called=True) as router:
        router.post("/2/oauth2/token").respond(200, json=_grant())
        router.post("/2/media/upload").respond(200, json=IMAGE)
        async with _client(_token(), time, base_url=f"{base}/") as client:
            await client.upload(png())


# After a 401.


async def test_a_401_refreshes_and_sends_once_more(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A refused token with a refresh token: one token request, then the same request again.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD)
    upload.side_effect = [
        httpx.Response(401, json=UNAUTHORIZED),
        httpx.Response(200, json=IMAGE),
    ]
    data = png()
    async with _client(_token(expires_at=None), time) as client:
        result = await client.upload(data)
    assert result.media_id == MEDIA_ID
    assert grant.call_count == 1
    assert [call.request.headers["authorization"] for call in upload.calls] == [
        "Bearer at-SECRET-old",
        "Bearer at-SECRET-new1",
    ]
    fields = [
        multipart_fields(call.request.headers["content-type"], call.request.content)
        for call in upload.calls
    ]
    assert fields[0] == fields[1]
    assert fields[1]["media"] == data


async def test_a_second_401_is_raised(mock: respx.MockRouter, time: FakeTime) -> None:
    """
    The request is sent again once only: a 401 with the new token is an AuthenticationError.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD).respond(401, json=UNAUTHORIZED)
    with pytest.raises(AuthenticationError, match="HTTP 401") as info:
        async with _client(_token(expires_at=None), time) as client:
            await client.upload(png())
    assert type(info.value) is AuthenticationError
    assert grant.call_count == 1
    assert upload.call_count == 2
    _no_secret(info.value, repr(info.value))


async def test_a_401_without_refresh_token_is_raised(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Nothing to refresh with: the 401 is raised at once, with the OAuth 2.0 advice.
    """
    grant = mock.post(TOKEN_URL)
    upload = mock.post(UPLOAD).respond(401, json=UNAUTHORIZED)
    with pytest.raises(AuthenticationError, match=r"OAuth 2\.0 token"):
        async with _client(BearerToken("at-SECRET-old"), time) as client:
            await client.upload(png())
    assert not grant.called
    assert upload.call_count == 1


async def test_a_403_is_not_a_refresh_case(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A 403 says the token lacks media.write: refreshing would not help, so nothing is retried.
    """
    grant = mock.post(TOKEN_URL)
    upload = mock.post(UPLOAD).respond(403, json={"detail": "Forbidden"})
    with pytest.raises(AuthenticationError, match=r"media\.write scope") as info:
        async with _client(_token(expires_at=None), time) as client:
            await client.upload(png())
    assert info.value.status_code == 403
    assert not grant.called
    assert upload.call_count == 1


async def test_a_401_on_a_one_shot_stream_refreshes_but_cannot_resend(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A one-shot async iterable cannot go out twice: the token is refreshed and the 401 raised.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD).respond(401, json=UNAUTHORIZED)
    data = png()

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    with pytest.raises(AuthenticationError, match="one-shot stream") as info:
        async with _client(_token(expires_at=None), time) as client:
            await client.upload(chunks(), size=len(data))
    assert grant.call_count == 1
    assert upload.call_count == 1
    assert _refresher(client).token.token == "at-SECRET-new1"
    _no_secret(info.value)


async def test_a_401_after_someone_else_refreshed_just_sends_again(
    mock: respx.MockRouter,
) -> None:
    """
    A 401 for a token that has been replaced since: send again with the current one, no refresh.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    refresher = TokenRefresher(_token(expires_at=None), base_url=API)
    old = httpx.Request(
        "POST", UPLOAD, headers={"Authorization": "Bearer at-SECRET-old"}
    )
    error = AuthenticationError(
        "401", status_code=401, response=httpx.Response(401, request=old)
    )
    async with httpx.AsyncClient() as http:
        assert await refresher.after_refusal(http, error)
        assert grant.call_count == 1
        assert await refresher.after_refusal(http, error)
    assert grant.call_count == 1


@pytest.mark.parametrize(
    "response",
    [None, httpx.Response(401)],
    ids=["unpickled", "no-request"],
)
async def test_a_401_without_its_request_refreshes(
    mock: respx.MockRouter, response: httpx.Response | None
) -> None:
    """
    When the refused request is unknown, the current token is taken to be the refused one.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())
    refresher = TokenRefresher(_token(expires_at=None), base_url=API)
    error = AuthenticationError("401", status_code=401, response=response)
    async with httpx.AsyncClient() as http:
        assert await refresher.after_refusal(http, error)
    assert grant.call_count == 1
    assert refresher.token.token == "at-SECRET-new1"


# Single flight.


async def _until_all_wait(client: AsyncMediaClient, waiters: int) -> int:
    """
    Let the other uploads run until *waiters* of them wait for the refresh.
    """
    lock = _refresher(client)._lock
    assert lock is not None
    for _ in range(10_000):
        if lock.statistics().tasks_waiting >= waiters:
            break
        await anyio.lowlevel.checkpoint()
    return lock.statistics().tasks_waiting


async def test_a_batch_with_an_expired_token_makes_one_token_request(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Eight uploads that start together with an expired token share one refresh.
    """
    seen_waiting: list[int] = []
    stored: list[BearerToken] = []
    client = _client(
        _token(expires_at=NOW - 5),
        time,
        max_concurrency=8,
        on_token_refresh=stored.append,
    )

    async def grant_when_all_wait(request: httpx.Request) -> httpx.Response:
        seen_waiting.append(await _until_all_wait(client, 7))
        return httpx.Response(200, json=_grant())

    grant = mock.post(TOKEN_URL).mock(side_effect=grant_when_all_wait)
    upload = mock.post(UPLOAD).respond(200, json=IMAGE)
    async with client:
        results = await client.upload_many([png(width=w) for w in range(1, 9)])

    assert all(isinstance(result, UploadResult) for result in results)
    assert seen_waiting == [7]
    assert grant.call_count == 1
    assert len(stored) == 1
    assert upload.call_count == 8
    assert {call.request.headers["authorization"] for call in upload.calls} == {
        "Bearer at-SECRET-new1"
    }


async def test_a_batch_shares_a_refused_refresh(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    When the shared refresh is refused, every upload fails with its own copy of the error.
    """
    client = _client(_token(expires_at=NOW - 5), time, max_concurrency=8)

    async def refuse_when_all_wait(request: httpx.Request) -> httpx.Response:
        await _until_all_wait(client, 7)
        return httpx.Response(
            400, json={"error": "invalid_request", "error_description": "Bad token."}
        )

    grant = mock.post(TOKEN_URL).mock(side_effect=refuse_when_all_wait)
    upload = mock.post(UPLOAD)
    async with client:
        results = await client.upload_many([png(width=w) for w in range(1, 9)])

    assert grant.call_count == 1
    assert not upload.called
    assert all(type(result) is AuthenticationError for result in results)
    assert len({id(result) for result in results}) == 8
    assert {str(result) for result in results} == {str(results[0])}
    assert all("refresh token was refused" in str(result) for result in results)


async def test_a_burst_of_401s_makes_one_token_request(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Eight uploads refused together: one refresh, and each sends once more with the new token.
    """
    grant = mock.post(TOKEN_URL).respond(200, json=_grant())

    async def refuse_old_token(request: httpx.Request) -> httpx.Response:
        for _ in range(20):  # answers interleave with the other uploads
            await anyio.lowlevel.checkpoint()
        if request.headers["authorization"] == "Bearer at-SECRET-new1":
            return httpx.Response(200, json=IMAGE)
        return httpx.Response(401, json=UNAUTHORIZED)

    upload = mock.post(UPLOAD).mock(side_effect=refuse_old_token)
    async with _client(_token(expires_at=None), time, max_concurrency=8) as client:
        results = await client.upload_many([png(width=w) for w in range(1, 9)])

    assert all(isinstance(result, UploadResult) for result in results)
    assert grant.call_count == 1
    new = [
        c for c in upload.calls if c.request.headers["authorization"].endswith("new1")
    ]
    assert len(new) == 8


# Input, callbacks and settings.


async def test_bad_input_is_refused_before_the_refresh(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Validation comes first: an unusable upload with an expired token sends nothing at all.
    """
    route = mock.route()
    with pytest.raises(InvalidMediaError):
        async with _client(_token(expires_at=NOW - 5), time) as client:
            await client.upload(b"plain text, not an image")
    with pytest.raises(InvalidMediaError):
        async with _client(_token(expires_at=NOW - 5), time) as client:
            await client.upload(png(), media_category="not_a_category")
    assert not route.called


async def test_callback_errors_propagate_unchanged(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    The caller's callback raising: the same exception leaves async with; the new token is kept.
    """
    mock.post(TOKEN_URL).respond(200, json=_grant())
    upload = mock.post(UPLOAD).respond(200, json=IMAGE)
    error = LookupError("disk full")

    def store(token: BearerToken) -> None:
        raise error

    with pytest.raises(LookupError) as info:
        async with _client(_token(), time, on_token_refresh=store) as client:
            await client.upload(png())
    assert info.value is error
    assert not upload.called
    assert _refresher(client).token.token == "at-SECRET-new1"


def test_on_token_refresh_must_be_callable() -> None:
    """
    A callback that cannot be called is a ConfigurationError at construction.
    """
    with pytest.raises(ConfigurationError, match="on_token_refresh must be a function"):
        AsyncMediaClient(_token(), api="2", on_token_refresh="store")  # type: ignore[arg-type]


def test_on_token_refresh_needs_a_bearer_token(creds: Any) -> None:
    """
    OAuth 1.0a tokens are never refreshed, so a refresh callback there is a mistake.
    """
    with pytest.raises(ConfigurationError, match="needs a BearerToken"):
        AsyncMediaClient(creds, on_token_refresh=print)


# A refresh that fails.

REFUSED = "Token refresh refused with HTTP"
RE_AUTHORIZE = "Re-authorize the user"


Failure = tuple[int, "dict[str, str] | str", type[APIError], list[str]]


@pytest.mark.parametrize(
    "case",
    [
        (
            400,
            {
                "error": "invalid_request",
                "error_description": "Value passed for the token was invalid.",
            },
            AuthenticationError,
            [
                (
                    f"{REFUSED} 400: invalid_request: Value passed for the token was "
                    "invalid. The refresh token was refused"
                ),
                RE_AUTHORIZE,
            ],
        ),
        (
            400,
            {"error": "invalid_grant"},
            AuthenticationError,
            ["400: invalid_grant.", RE_AUTHORIZE],
        ),
        (
            401,
            {
                "error": "unauthorized_client",
                "error_description": "Missing valid authorization header",
            },
            AuthenticationError,
            [
                "401: unauthorized_client: Missing valid authorization header.",
                "client_secret=",
            ],
        ),
        (
            403,
            {"title": "Forbidden", "detail": "Client is forbidden"},
            AuthenticationError,
            ["403: Client is forbidden.", RE_AUTHORIZE],
        ),
        (400, "Bad Request", AuthenticationError, ["400: Bad Request.", RE_AUTHORIZE]),
        (
            400,
            "",
            AuthenticationError,
            [f"{REFUSED} 400. The refresh token was refused"],
        ),
        (
            503,
            "",
            APIError,
            [
                "Token refresh failed with HTTP 503. The service failed; try again later."
            ],
        ),
        (404, {"title": "Not Found"}, APIError, ["HTTP 404", "Check base_url"]),
        (
            429,
            {"title": "Too Many Requests"},
            RateLimitError,
            ["HTTP 429: Too Many Requests.", "reset_at"],
        ),
    ],
    ids=[
        "invalid-token",
        "invalid-grant",
        "client",
        "problem",
        "text",
        "empty",
        "5xx",
        "404",
        "429",
    ],
)
async def test_failed_refresh_raises_a_fitting_error(
    mock: respx.MockRouter, time: FakeTime, case: Failure
) -> None:
    """
    Refused refreshes are AuthenticationErrors that say what to do; others fit their status.
    """
    status, body, kind, fragments = case
    headers = {"x-transaction-id": "tx-1"}
    if isinstance(body, dict):
        mock.post(TOKEN_URL).respond(status, json=body, headers=headers)
    else:
        mock.post(TOKEN_URL).respond(status, text=body, headers=headers)
    upload = mock.post(UPLOAD)
    with pytest.raises(APIError) as info:
        async with _client(_token(), time) as client:
            await client.upload(png())
    error = info.value
    assert type(error) is kind
    for fragment in fragments:
        assert fragment in str(error)
    assert error.status_code == status
    assert error.request_id == "tx-1"
    assert error.response is None
    assert error.payload == (body or None)
    assert not upload.called
    _no_secret(error, repr(error), error.payload)


async def test_a_refused_refresh_names_no_secret_the_service_quoted(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    Should the service quote a token back, it is masked in the message, errors and payload.
    """
    description = "Token rt-SECRET-old for client-SECRET is invalid"
    mock.post(TOKEN_URL).respond(
        400, json={"error": "invalid_request", "error_description": description}
    )
    with pytest.raises(AuthenticationError) as info:
        async with _client(_token(client_secret="client-SECRET"), time) as client:
            await client.upload(png())
    assert "Token *** for *** is invalid" in str(info.value)
    _no_secret(info.value, info.value.errors, info.value.payload)


async def test_rate_limited_refresh_says_when_to_return(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A 429 from the token endpoint carries its reset time.
    """
    reset = int(NOW) + 600
    mock.post(TOKEN_URL).respond(
        429,
        json={"title": "Too Many Requests"},
        headers={
            "x-rate-limit-limit": "75",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    with pytest.raises(RateLimitError) as info:
        async with _client(_token(), time) as client:
            await client.upload(png())
    assert info.value.reset_at is not None
    assert info.value.reset_at.timestamp() == reset


async def test_network_failure_during_refresh(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    A token request that never gets an answer is a TransportError with the httpx cause.
    """
    mock.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
    upload = mock.post(UPLOAD)
    with pytest.raises(TransportError, match="Token refresh: network failure") as info:
        async with _client(_token(), time) as client:
            await client.upload(png())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not upload.called
    _no_secret(info.value)


@pytest.mark.parametrize(
    "body",
    [
        "<html>Gateway</html>",
        "[]",
        '{"token_type": "bearer", "refresh_token": "rt-SECRET-new1"}',
        '{"token_type": "mac", "access_token": "at-SECRET-new1"}',
        '{"access_token": ""}',
    ],
    ids=["html", "list", "no-access-token", "not-bearer", "empty-access-token"],
)
async def test_unreadable_grant_is_an_api_error_without_the_body(
    mock: respx.MockRouter, time: FakeTime, body: str
) -> None:
    """
    A 2xx without a bearer access token is an APIError; the body (it may hold tokens) is not kept.
    """
    mock.post(TOKEN_URL).respond(200, text=body)
    with pytest.raises(APIError, match="without a bearer access token") as info:
        async with _client(_token(), time) as client:
            await client.upload(png())
    assert type(info.value) is APIError
    assert info.value.payload is None
    _no_secret(info.value, repr(info.value))


@pytest.mark.parametrize(
    ("changes", "expires_at"),
    [
        ({}, NOW + 7200),
        ({"expires_in": "3600"}, NOW + 3600),
        ({"expires_in": 90.5}, NOW + 90.5),
        ({"expires_in": None}, None),
        ({"expires_in": -1}, None),
        ({"expires_in": True}, None),
        ({"expires_in": 1e12}, None),
        ({"expires_in": float("inf")}, None),
        ({"expires_in": "soon"}, None),
    ],
    ids=[
        "int",
        "digits",
        "float",
        "missing",
        "negative",
        "bool",
        "huge",
        "inf",
        "word",
    ],
)
async def test_expiry_of_the_new_token(
    mock: respx.MockRouter,
    time: FakeTime,
    changes: dict[str, Any],
    expires_at: float | None,
) -> None:
    """
    expires_in becomes expires_at by the client's clock; an unusable value means unknown.
    """
    grant = _grant(**changes)
    if grant["expires_in"] is None:
        del grant["expires_in"]
    # Python's json writes inf as Infinity, which it also reads.
    mock.post(TOKEN_URL).respond(200, text=json.dumps(grant))
    mock.post(UPLOAD).respond(200, json=IMAGE)
    stored: list[BearerToken] = []
    async with _client(_token(), time, on_token_refresh=stored.append) as client:
        await client.upload(png())
    [token] = stored
    assert token.expires_at == (
        None
        if expires_at is None
        else BearerToken("t", expires_at=expires_at).expires_at
    )


async def test_grant_without_refresh_token_or_type_keeps_the_old_refresh_token(
    mock: respx.MockRouter, time: FakeTime
) -> None:
    """
    No new refresh token in the answer: the old one stays; a missing token_type means bearer.
    """
    mock.post(TOKEN_URL).respond(200, json={"access_token": "at-SECRET-new1"})
    mock.post(UPLOAD).respond(200, json=IMAGE)
    stored: list[BearerToken] = []
    async with _client(_token(), time, on_token_refresh=stored.append) as client:
        await client.upload(png())
    assert stored == [
        BearerToken(
            "at-SECRET-new1", refresh_token="rt-SECRET-old", client_id="client-1"
        )
    ]


async def test_logs_never_hold_a_secret(
    mock: respx.MockRouter, time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    """
    Refreshes, retries and a refused refresh log at INFO and DEBUG without any secret.
    """
    caplog.set_level(logging.DEBUG)
    grant = mock.post(TOKEN_URL)
    grant.side_effect = [
        httpx.Response(200, json=_grant(1)),
        httpx.Response(400, json={"error": "invalid_request"}),
    ]
    upload = mock.post(UPLOAD)
    upload.side_effect = [
        httpx.Response(200, json=IMAGE),
        httpx.Response(401, json=UNAUTHORIZED),
    ]
    with pytest.raises(AuthenticationError):
        async with _client(_token(client_secret="client-SECRET"), time) as client:
            await client.upload(png())
            await client.upload(png())
    assert "OAuth 2.0 token refreshed; it expires at" in caplog.text
    assert "token refresh: POST /2/oauth2/token" in caplog.text
    _no_secret(caplog.text)
