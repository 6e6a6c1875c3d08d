"""
Fakes: a wall clock and sleep, so pacing and backoff run without real waiting, and a
service response as the error mapping receives it.
"""

from __future__ import annotations

import anyio
import httpx


class FakeTime:
    """
    Time that moves only when someone sleeps; every sleep is recorded.
    """

    def __init__(self, now: float = 1_767_225_600.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def service_response(
    status: int,
    body: bytes | str = b"",
    *,
    url: str = "https://upload.twitter.com/1.1/media/upload.json",
    authorization: str = 'OAuth oauth_token="SECRET-token"',
    **headers: str,
) -> httpx.Response:
    """
    A response to a signed POST; ``x_rate_limit_reset=...`` becomes ``x-rate-limit-reset``.
    """
    request = httpx.Request("POST", url, headers={"Authorization": authorization})
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(
        status,
        content=content,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        request=request,
    )
