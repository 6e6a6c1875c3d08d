"""
The public API as a user writes it; type-checked by mypy --strict, never executed.
"""

from __future__ import annotations

import datetime as dt

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx

import twupload

from twupload import (
    APIError,
    AsyncMediaClient,
    BatchItem,
    BearerToken,
    InvalidMediaError,
    MediaCategory,
    OAuth1Credentials,
    ProcessingInfo,
    RateLimit,
    RateLimitError,
    ResumeState,
    TwUploadError,
    UploadResult,
)


async def simple(creds: OAuth1Credentials) -> str:
    async with AsyncMediaClient(
        creds, max_concurrency=4, timeout=httpx.Timeout(30.0)
    ) as client:
        result: UploadResult = await client.upload(
            Path("cat.jpg"),
            media_category=MediaCategory.TWEET_IMAGE,
            additional_owners=[12, "34"],
            alt_text="A cat",
            on_progress=lambda sent, total: print(sent / total),
        )
        expires: dt.datetime | None = result.expires_at
        _: bool = result.is_expired()
        limits: Mapping[str, RateLimit] = client.rate_limits
        print(expires, limits.get("upload"))
        return result.media_id_string


async def chunks() -> AsyncIterator[bytes]:
    yield b"..."


async def video(creds: OAuth1Credentials, saved: str | None) -> int:
    async with AsyncMediaClient(creds, processing_timeout=120.0) as client:

        def show(info: ProcessingInfo) -> None:
            print(info.state, info.progress_percent)

        try:
            result = await client.upload(
                chunks(),
                size=3,
                media_category="tweet_video",
                on_processing=show,
                resume=ResumeState.from_json(saved) if saved else None,
            )
        except TwUploadError as exc:
            if exc.resume is not None:
                Path("resume.json").write_text(exc.resume.to_json())
            raise
        status = await client.status(result.media_id)
        await client.set_alt_text(status.media_id_string, "text")
        return result.media_id


async def batch(token: BearerToken, paths: list[Path]) -> list[str]:
    async with AsyncMediaClient(token, api="2", base_url="https://api.x.com") as client:
        results = await client.upload_many(paths, media_category="tweet_image")
        ids = [r.media_id_string for r in results if isinstance(r, UploadResult)]
        async for item in client.iter_upload(iter(paths)):
            typed: BatchItem[Path] = item
            if typed.error is not None:
                print(typed.source, typed.error)
        return ids


def errors(exc: Exception) -> str | None:
    if isinstance(exc, RateLimitError) and exc.reset_at is not None:
        return exc.reset_at.isoformat()
    if isinstance(exc, APIError):
        return f"{exc.status_code} {exc.errors} {exc.request_id}"
    if isinstance(exc, InvalidMediaError):
        return str(exc)
    return twupload.__version__
