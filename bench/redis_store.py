"""
What sharing pacing through Redis costs per request, next to the in-memory store.

``python -m bench --workloads redis`` (or ``python -m bench.redis_store``):

- ``store``: one task paces N requests through a store's ``acquire`` and
  ``release`` (a window with room, as in a steady batch): microseconds per
  request, and Redis round trips per request (``EVALSHA`` calls, counted by
  Redis itself), on asyncio and trio.
- ``uploads``: 100 KiB JPEGs through ``AsyncMediaClient.upload_many``
  (8 in flight) against the bench sink, with each store: wall time per upload
  and the milliseconds Redis adds to each.

Starts its own ``redis-server`` on a free loopback port (persistence off) and
stops it by its pid; skipped, with a note, where redis-server is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

import twupload

from twupload._ratelimit import RateLimiter, RateLimitScope

from ._common import CREDS, KIB, MediaFactory
from .sink import SinkProcess


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from twupload import RateLimitStore

SCOPE = RateLimitScope("0123456789abcdef", "2")
HEADERS = {
    "x-rate-limit-limit": "10000000",
    "x-rate-limit-remaining": "9999999",
    "x-rate-limit-reset": str(int(time.time()) + 3600),
}
PREFIX = "twupload-bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """
    A throwaway redis-server on 127.0.0.1; yields its URL.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise FileNotFoundError("redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="twupload-bench-redis-") as tmp:
        process = subprocess.Popen(
            [
                executable,
                *("--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.5) as sock,
                ):
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not answer PING in 10 s")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


async def _evalsha_calls(url: str) -> int:
    import coredis  # noqa: PLC0415 - the optional dependency

    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _pace(store: RateLimitStore, count: int) -> float:
    """
    Microseconds per request paced through *store* (acquire, then release).
    """
    for _ in range(20):  # warm: the scripts loaded, connections open
        permit = await store.acquire(SCOPE, "APPEND", max_wait=900)
        await store.release(SCOPE, "APPEND", permit, headers=HEADERS)
    started = time.perf_counter()
    for _ in range(count):
        permit = await store.acquire(SCOPE, "APPEND", max_wait=900)
        await store.release(SCOPE, "APPEND", permit, headers=HEADERS)
    return (time.perf_counter() - started) / count * 1e6


async def _store_case(url: str, count: int, repeats: int) -> dict[str, float]:
    memory = [await _pace(RateLimiter(), count) for _ in range(repeats)]
    before = await _evalsha_calls(url)
    async with twupload.RedisRateLimitStore(url, key_prefix=PREFIX) as store:
        redis = [await _pace(store, count) for _ in range(repeats)]
    trips = (await _evalsha_calls(url) - before) / ((count + 20) * repeats)
    return {
        "memory_us": statistics.median(memory),
        "redis_us": statistics.median(redis),
        "round_trips": trips,
    }


async def _uploads(
    target: str, paths: Sequence[Path], store: RateLimitStore | None
) -> float:
    async with twupload.AsyncMediaClient(
        twupload.OAuth1Credentials(
            consumer_key=CREDS.consumer_key,
            consumer_secret=CREDS.consumer_secret,
            access_token=CREDS.access_token,
            access_token_secret=CREDS.access_token_secret,
        ),
        base_url=target,
        rate_limit_store=store,
    ) as client:
        started = time.perf_counter()
        results = await client.upload_many(paths)
        wall = time.perf_counter() - started
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise failed[0]
    return wall


async def _upload_case(
    url: str, target: str, paths: Sequence[Path], repeats: int
) -> dict[str, float]:
    memory: list[float] = []
    redis: list[float] = []
    async with twupload.RedisRateLimitStore(url, key_prefix=PREFIX) as store:
        await _uploads(target, paths[:16], store)  # warm both paths
        await _uploads(target, paths[:16], None)
        for _ in range(repeats):
            memory.append(await _uploads(target, paths, None))
            redis.append(await _uploads(target, paths, store))
    per = len(paths)
    return {
        "memory_ms": statistics.median(memory) / per * 1e3,
        "redis_ms": statistics.median(redis) / per * 1e3,
        "added_ms": statistics.median(r - m for r, m in zip(redis, memory, strict=True))
        / per
        * 1e3,
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """
    Both scenarios; an empty result (and a note) without redis-server.
    """
    count, repeats, uploads = (500, 3, 100) if quick else (2000, 5, 300)
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(redis_server())
        except FileNotFoundError:
            log("redis-server is not installed: skipping the Redis store workload")
            return results
        for backend in ("asyncio", "trio"):
            log(f"redis store: {count} paced requests x {repeats}, {backend}")
            results[f"store_{backend}"] = anyio.run(
                _store_case, url, count, repeats, backend=backend
            )
        with (
            tempfile.TemporaryDirectory(prefix="twupload-bench-") as tmp,
            SinkProcess(cpu=None) as sink,
        ):
            paths = MediaFactory(Path(tmp)).jpegs("redis", uploads, 100 * KIB)
            log(f"redis store: {uploads} x 100 KiB uploads x {repeats}, asyncio")
            results["uploads"] = anyio.run(
                _upload_case, url, sink.target.base_url, paths, repeats
            )
            results["upload_count"] = uploads
        results["requests"] = count
    return results


def report(results: dict[str, Any]) -> list[str]:
    """
    The Markdown section for `bench.runner`'s report.
    """
    if not results:
        return []
    lines = [
        "### Shared pacing: the Redis store's cost per request",
        "",
        (
            f"One task pacing {results['requests']} requests (acquire + release, a "
            "window with room); Redis on loopback, median of repetitions."
        ),
        "",
        "| backend | in memory, µs | Redis, µs | Redis round trips |",
        "|---|---:|---:|---:|",
    ]
    for backend in ("asyncio", "trio"):
        case = results[f"store_{backend}"]
        lines.append(
            f"| {backend} | {case['memory_us']:.1f} | {case['redis_us']:.0f} "
            f"| {case['round_trips']:.2f} |"
        )
    up = results["uploads"]
    lines += [
        "",
        (
            f"{results['upload_count']} x 100 KiB JPEG through `upload_many` (8 in "
            "flight) against the sink, asyncio: ms per upload in memory "
            f"{up['memory_ms']:.2f}, with Redis {up['redis_ms']:.2f} "
            f"(+{up['added_ms']:.2f} ms per upload)."
        ),
        "",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_store")
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args(argv)
    print("\n".join(report(run(quick=args.quick))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
