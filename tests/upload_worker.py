"""
One worker process of tests/test_cross_process.py (run as a script, never collected).

``python upload_worker.py BACKEND upload COUNT INDEX [REDIS_URL]``: builds a client
(credentials and base URL from the ``TWUPLOAD_*`` environment), prints ``ready``,
waits for a line on stdin, uploads COUNT images with ``upload_many`` (paced
through Redis when REDIS_URL is given, in memory otherwise) and prints a JSON
summary.

``python upload_worker.py BACKEND hold REDIS_URL LEASE``: takes the probe of the
``upload`` window for the credentials' account, prints ``held`` and waits to be
killed.
"""

from __future__ import annotations

import json
import sys
import time

import anyio

from twupload import (
    AsyncMediaClient,
    OAuth1Credentials,
    RedisRateLimitStore,
    TwUploadError,
)
from twupload._ratelimit import scope_for

from samples import png


#: The key prefix the test reads, and skew: one machine's clock, reset headers
#: rounded up to the second, so no margin is needed beyond a little.
PREFIX = "twupload-cross-process"
SKEW = 0.2


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def upload(count: int, index: int, redis_url: str | None) -> dict[str, object]:
    creds = OAuth1Credentials.from_env()
    store = (
        None
        if redis_url is None
        else RedisRateLimitStore(redis_url, key_prefix=PREFIX, clock_skew=SKEW)
    )
    client = AsyncMediaClient(creds, max_concurrency=8, rate_limit_store=store)
    sources = [png(1 + i, 1 + index) for i in range(count)]
    _say("ready")
    await anyio.to_thread.run_sync(sys.stdin.readline)
    started = time.monotonic()
    if store is None:
        async with client:
            results = await client.upload_many(sources)
    else:
        async with store, client:
            results = await client.upload_many(sources)
    errors = [str(r) for r in results if isinstance(r, TwUploadError)]
    return {
        "uploaded": len(results) - len(errors),
        "errors": errors,
        "seconds": round(time.monotonic() - started, 2),
    }


async def hold(redis_url: str, lease: float) -> None:
    scope = scope_for(OAuth1Credentials.from_env(), "1.1")
    async with RedisRateLimitStore(redis_url, key_prefix=PREFIX, lease=lease) as store:
        permit = await store.acquire(scope, "upload", max_wait=0)
        _say("held" if permit.probe else "not the probe")
        await anyio.sleep_forever()


def main(argv: list[str]) -> None:
    backend, mode, *rest = argv
    if mode == "hold":
        anyio.run(hold, rest[0], float(rest[1]), backend=backend)
        return
    count, index = int(rest[0]), int(rest[1])
    redis_url = rest[2] if len(rest) > 2 else None
    summary = anyio.run(upload, count, index, redis_url, backend=backend)
    _say(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
