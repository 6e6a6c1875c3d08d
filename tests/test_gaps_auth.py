"""
Signing: the corners a mutation run found untested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from twupload import BearerToken
from twupload._auth import BearerAuth, OAuth1Signer

from checks import oauthlib_verifies


if TYPE_CHECKING:
    from twupload import OAuth1Credentials


def test_a_form_content_type_with_several_parameters_still_signs_the_body(
    creds: OAuth1Credentials,
) -> None:
    """
    However many ``;`` parameters follow the media type, a form body is signed.
    """
    request = httpx.Request(
        "POST",
        "https://upload.twitter.com/1.1/media/upload.json",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8; x=y"
        },
        content=b"command=FINALIZE&media_id=1",
    )
    OAuth1Signer(creds).sign(request)
    assert oauthlib_verifies(request, creds)

    tampered = httpx.Request(
        "POST",
        request.url,
        headers={
            "Authorization": request.headers["authorization"],
            "Content-Type": request.headers["content-type"],
        },
        content=b"command=FINALIZE&media_id=2",
    )
    assert not oauthlib_verifies(tampered, creds)


def test_bearer_auth_repr_is_fixed_and_secret_free() -> None:
    """
    The repr names the class and masks the token, whatever the token is.
    """
    assert repr(BearerAuth(BearerToken("tok-SECRET"))) == "BearerAuth(token='***')"
