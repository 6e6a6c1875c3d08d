"""
The bodies the service answers errors with: v1.1 error lists, v2 problem documents.

v1.1 answers ``{"errors": [{"code", "message"}]}``. v2 answers RFC 7807
problem documents (``application/problem+json``): ``about:blank`` ones with
``title``, ``type``, ``status`` and ``detail`` for HTTP-level refusals (401,
403, 429, 5xx), and ``invalid-request`` ones with an ``errors`` list for bad
parameters. Sources: X API v2 OpenAPI spec 2.167 (2026-08-07; ``Problem``,
``InvalidRequestProblem``), the "Response codes & errors" docs page, and
responses recorded from the live service in public issue trackers (cited in
docs/how-to/emulator-testing.md).
"""

from __future__ import annotations

import json

from typing import Any


JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
#: Where problem ``type`` URIs live. Spec 2.167 and the docs write them on
#: api.x.com; responses recorded up to 2026-02 carried api.twitter.com. Clients
#: should compare the path (``/2/problems/...``), never the host.
PROBLEM_TYPE_BASE = "https://api.x.com/2/problems/"

#: The reason phrases ``about:blank`` problems use as title and detail.
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: v1.1's error bodies for injected failures without a body of their own.
V1_ERRORS = {
    401: (32, "Could not authenticate you."),
    429: (88, "Rate limit exceeded"),
    500: (131, "Internal error"),
    503: (130, "Over capacity"),
}

#: The message of v1.1's error 453 (HTTP 403), as recorded from the service
#: (gregkh/bti#57, 2024-12; socioboard/Socioboard-5.0#440, 2025-08).
ACCESS_LEVEL_MESSAGE = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 "
    "endpoints (e.g. media post, oauth) only. If you need access to this endpoint, "
    "you may need a different access level. You can learn more here: "
    "https://developer.x.com/en/portal/product"
)

INVALID_REQUEST_DETAIL = "One or more parameters to your request was invalid."

#: Usage-cap periods and scopes (``UsageCapExceededProblem`` in spec 2.137-2.166).
CAP_PERIODS = ("Daily", "Monthly")
CAP_SCOPES = ("Account", "Product")


def v1_error(code: int, message: str) -> dict[str, Any]:
    """
    v1.1's usual error body.
    """
    return {"errors": [{"code": code, "message": message}]}


def v1_default(status: int) -> dict[str, Any]:
    """
    The v1.1 body for an error *status* (code 131 for anything unlisted).
    """
    code, message = V1_ERRORS.get(status, (131, "Internal error"))
    return v1_error(code, message)


def blank_problem(status: int, detail: str | None = None) -> dict[str, Any]:
    """
    An ``about:blank`` problem, as v2 sends for 401, 429 and server errors.
    """
    reason = REASONS.get(status, "Error")
    return {
        "title": reason,
        "type": "about:blank",
        "status": status,
        "detail": detail or reason,
    }


def invalid_request(
    message: str, parameter: str | None = None, value: object = None
) -> dict[str, Any]:
    """
    v2's invalid-request problem: one ``errors`` entry naming the parameter and its value.
    """
    error: dict[str, Any] = {}
    if parameter is not None:
        shown = value if isinstance(value, str) else json.dumps(value)
        error["parameters"] = {parameter: [shown]}
    error["message"] = message
    return {
        "errors": [error],
        "title": "Invalid Request",
        "detail": INVALID_REQUEST_DETAIL,
        "type": f"{PROBLEM_TYPE_BASE}invalid-request",
    }


def usage_capped(*, period: str, scope: str, account_id: str) -> dict[str, Any]:
    """
    The 429 body of a request past a usage cap.

    Its fields are those of a response recorded from the service
    (xdevplatform/xdk#25, 2026-02): no ``status``, and account and product names.
    """
    return {
        "account_id": account_id,
        "product_name": "standard-basic",
        "title": "UsageCapExceeded",
        "period": period,
        "scope": scope,
        "detail": f"Usage cap exceeded: {period} {scope.lower()} cap",
        "type": f"{PROBLEM_TYPE_BASE}usage-capped",
    }


def access_level() -> dict[str, Any]:
    """
    v1.1's 403 error 453: the account's access level has no v1.1 endpoint left.
    """
    return {"errors": [{"message": ACCESS_LEVEL_MESSAGE, "code": 453}]}


def encode(body: dict[str, Any]) -> bytes:
    """
    Compact JSON, as the service sends it.
    """
    return json.dumps(body, separators=(",", ":")).encode()
