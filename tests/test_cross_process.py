"""
Four OS processes, one account, one emulator: pacing shared through a real Redis.

These run in real time. The emulator's upload window allows 10 requests per
half second; its reset header rounds up to the next whole second, which the
clients wait for, so each window takes a second and 100 uploads about ten; the
control run without Redis about as long.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from redis_server import RedisServer, redis_server
from twupload import RedisRateLimitStore
from twupload._ratelimit import scope_for
from twupload.testing import Emulator


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


WORKER = Path(__file__).with_name("upload_worker.py")
WORKERS = 4
EACH = 25
LIMIT, WINDOW = 10, 0.5
#: Longest a whole run of the four workers may take.
RUN_DEADLINE = 50.0


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _environment(emu: Emulator) -> dict[str, str]:
    creds = emu.credentials
    values = (
        creds.consumer_key,
        creds.consumer_secret,
        creds.access_token,
        creds.access_token_secret,
    )
    return (
        os.environ
        | dict(zip(creds.ENV_VARS, values, strict=True))
        | {
            "TWUPLOAD_BASE_URL": emu.url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(WORKER.parent), os.environ.get("PYTHONPATH")])
            ),
        }
    )


def _read_line(process: subprocess.Popen[str], deadline: float) -> str:
    """
    The next line the worker prints, failing (with its stderr) past *deadline*.
    """
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"worker {process.pid} said nothing in time; stderr:\n{err}")
    return line.strip()


def _stop(processes: Sequence[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate()


def _run(emu: Emulator, redis_url: str | None) -> list[dict[str, Any]]:
    """
    Start the four workers, let them go at once, and return their summaries.
    """
    env = _environment(emu)
    backends = ["asyncio", "trio"] * (WORKERS // 2)
    processes = [
        subprocess.Popen(  # noqa: S603 - our own script
            [
                sys.executable,
                str(WORKER),
                backend,
                "upload",
                str(EACH),
                str(index),
                *([redis_url] if redis_url else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for index, backend in enumerate(backends)
    ]
    try:
        deadline = time.monotonic() + RUN_DEADLINE
        for process in processes:
            assert _read_line(process, deadline) == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return [json.loads(_read_line(process, deadline)) for process in processes]
    finally:
        _stop(processes)


def test_four_processes_share_one_window_through_redis(
    emu: Emulator, redis: RedisServer
) -> None:
    """
    100 uploads from four processes at 10 per window: all succeed, none arrives in a
    spent window. Without the shared store the same run is refused with 429s.
    """
    emu.set_rate_limit("upload", limit=LIMIT, window=WINDOW)
    started = time.monotonic()
    shared = _run(emu, redis.url)
    shared_seconds = time.monotonic() - started
    stats = emu.stats
    assert [s["errors"] for s in shared] == [[]] * WORKERS
    assert sum(s["uploaded"] for s in shared) == WORKERS * EACH
    assert stats.rejected_429 == 0
    assert stats.by_status == {200: WORKERS * EACH}
    assert len(emu.media) == WORKERS * EACH
    # Ten windows at least: the pace is the service's, not faster.
    assert shared_seconds >= (WORKERS * EACH / LIMIT - 1) * WINDOW

    # The control: each process paces itself alone, and together they overrun.
    emu.reset()
    control = _run(emu, None)
    assert emu.stats.rejected_429 > 0, control
    sys.stderr.write(
        f"shared: {shared_seconds:.1f} s with start-up, uploads "
        f"{max(s['seconds'] for s in shared):.1f} s, 0 x 429; control: uploads "
        f"{max(s['seconds'] for s in control):.1f} s, {emu.stats.rejected_429} x 429, "
        f"{sum(len(s['errors']) for s in control)} uploads failed\n"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_killed_workers_probe_expires_with_its_lease(
    emu: Emulator, redis: RedisServer
) -> None:
    """
    A worker killed while its request is out holds the window only for its lease.
    """
    # Started and killed before the first await: blocking calls are fine here.
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own script
        [sys.executable, str(WORKER), "asyncio", "hold", redis.url, "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(emu),
        text=True,
    )
    try:
        assert _read_line(process, time.monotonic() + 20) == "held"
    finally:
        _stop([process])  # SIGKILL: no release, no cleanup
    scope = scope_for(emu.credentials, "1.1")
    async with RedisRateLimitStore(
        redis.url, key_prefix="twupload-cross-process"
    ) as store:
        started = time.monotonic()
        with anyio.fail_after(10):
            permit = await store.acquire(scope, "upload", max_wait=0)
        waited = time.monotonic() - started
        await store.release(scope, "upload", permit, headers=None)
    assert permit.probe is True
    assert 1 < waited < 5  # the rest of the 3 s lease


def test_the_workers_fail_loudly_without_redis(emu: Emulator) -> None:
    """
    A worker pointed at a Redis that is not there uploads nothing and says why.
    """
    emu.set_rate_limit("upload", limit=LIMIT, window=WINDOW)
    dead = "redis://:pw-SECRET-9@127.0.0.1:9/0"
    summaries = _run(emu, dead)
    assert emu.stats.requests == 0
    for summary in summaries:
        assert summary["uploaded"] == 0
        assert all(
            "Redis at redis://:***@127.0.0.1:9/0" in e for e in summary["errors"]
        )
        assert not any("pw-SECRET-9" in e for e in summary["errors"])
