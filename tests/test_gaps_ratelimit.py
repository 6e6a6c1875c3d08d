"""
Pacing: the corners of the in-memory store a mutation run found untested.
"""

from __future__ import annotations

import re

import anyio
import httpx
import pytest

from twupload import BearerToken, MemoryRateLimitStore, RateLimitError, RateLimitScope
from twupload._ratelimit import read_limits, scope_for

from fakes import FakeTime


pytestmark = pytest.mark.anyio

SCOPE = RateLimitScope("0123456789abcdef", "2")
NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def _limits(
    prefix: str = "x-rate-limit-", *, remaining: int, reset: float
) -> dict[str, str]:
    return {
        f"{prefix}limit": "5",
        f"{prefix}remaining": str(remaining),
        f"{prefix}reset": str(int(reset)),
    }


@pytest.mark.parametrize(
    ("prefix", "bucket", "until"),
    [
        ("x-rate-limit-", "15-minute", "00:10:00"),
        ("x-user-limit-24hour-", "24-hour user", "2026-01-01 00:10:00"),
        ("x-app-limit-24hour-", "24-hour app", "2026-01-01 00:10:00"),
    ],
)
async def test_a_window_closed_too_long_says_until_when(
    prefix: str, bucket: str, until: str
) -> None:
    """
    A 15-minute window names the time of its reset; a 24-hour one the date too.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    probe = await store.acquire(SCOPE, "INIT", max_wait=60)
    headers = _limits(prefix, remaining=0, reset=NOW + 600)
    await store.release(SCOPE, "INIT", probe, headers=headers)
    with pytest.raises(RateLimitError) as info:
        await store.acquire(SCOPE, "INIT", max_wait=60)
    assert str(info.value) == (
        f"INIT: the {bucket} rate-limit window is exhausted until {until} UTC (601 s), "
        "longer than max_rate_limit_wait=60 s. Try again later or raise "
        "max_rate_limit_wait."
    )
    assert info.value.reset_at is not None
    assert info.value.reset_at.timestamp() == NOW + 600
    assert fake.sleeps == []


async def test_of_two_windows_closed_until_the_same_time_the_first_is_named() -> None:
    """
    When the 15-minute and a 24-hour window reset together, the message names the first.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    probe = await store.acquire(SCOPE, "APPEND", max_wait=60)
    headers = _limits(remaining=0, reset=NOW + 600) | _limits(
        "x-user-limit-24hour-", remaining=0, reset=NOW + 600
    )
    await store.release(SCOPE, "APPEND", probe, headers=headers)
    with pytest.raises(
        RateLimitError, match=r"^APPEND: the 15-minute rate-limit window"
    ):
        await store.acquire(SCOPE, "APPEND", max_wait=60)


async def test_a_wait_of_exactly_max_wait_is_waited() -> None:
    """
    max_wait is the longest wait allowed, not the first one refused.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    probe = await store.acquire(SCOPE, "INIT", max_wait=60)
    await store.release(
        SCOPE, "INIT", probe, headers=_limits(remaining=0, reset=NOW + 59)
    )
    await store.acquire(SCOPE, "INIT", max_wait=60)
    assert fake.sleeps == [60.0]  # to the reset, plus one second of clock skew


async def test_a_command_answered_without_limits_paces_by_those_it_reports_later() -> (
    None
):
    """
    Requests sent while a command looked unlimited do not eat into limits it reports later.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    probe = await store.acquire(SCOPE, "STATUS", max_wait=60)
    await store.release(SCOPE, "STATUS", probe, headers={})  # no rate-limit headers
    for _ in range(3):
        permit = await store.acquire(SCOPE, "STATUS", max_wait=60)
        await store.release(SCOPE, "STATUS", permit, headers=None)
    permit = await store.acquire(SCOPE, "STATUS", max_wait=60)
    await store.release(
        SCOPE, "STATUS", permit, headers=_limits(remaining=2, reset=NOW + 600)
    )
    for _ in range(2):
        permit = await store.acquire(SCOPE, "STATUS", max_wait=60)
        await store.release(SCOPE, "STATUS", permit, headers=None)
    assert fake.sleeps == []
    with pytest.raises(RateLimitError, match=r"^STATUS: the 15-minute"):
        await store.acquire(SCOPE, "STATUS", max_wait=60)


async def test_the_snapshot_keeps_every_command_it_has_seen() -> None:
    """
    Each command's limits stay in the snapshot when another command reports its own.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    for key, remaining in [("INIT", 4), ("APPEND", 3)]:
        probe = await store.acquire(SCOPE, key, max_wait=60)
        headers = _limits(remaining=remaining, reset=NOW + 600)
        await store.release(SCOPE, key, probe, headers=headers)
    snapshot = store.snapshot(SCOPE)
    assert sorted(snapshot) == ["APPEND", "INIT"]
    assert (snapshot["INIT"].remaining, snapshot["APPEND"].remaining) == (4, 3)
    assert store.snapshot(RateLimitScope("fedcba9876543210", "2")) == {}


async def test_an_unreadable_window_does_not_hide_the_next_one() -> None:
    """
    A 15-minute window with a malformed header is skipped; the 24-hour one still counts.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    probe = await store.acquire(SCOPE, "FINALIZE", max_wait=60)
    headers = {
        "x-rate-limit-limit": "5",
        "x-rate-limit-remaining": "soon",
        "x-rate-limit-reset": str(int(NOW) + 600),
    } | _limits("x-user-limit-24hour-", remaining=3, reset=NOW + 3600)
    await store.release(SCOPE, "FINALIZE", probe, headers=headers)
    snapshot = store.snapshot(SCOPE)
    assert sorted(snapshot) == ["FINALIZE:24h-user"]
    assert snapshot["FINALIZE:24h-user"].remaining == 3


def test_every_bearer_token_is_an_account_of_its_own() -> None:
    """
    Two OAuth 2.0 tokens never share windows; one token always has the same account.
    """
    first = scope_for(BearerToken("first-SECRET"), "2")
    second = scope_for(BearerToken("second-SECRET"), "2")
    assert first.account != second.account
    assert first == scope_for(BearerToken("first-SECRET"), "2")
    for scope in (first, second):
        assert re.fullmatch(r"[0-9a-f]{16}", scope.account)


async def test_a_window_a_command_reported_stays_required_until_a_probe() -> None:
    """
    An answer without the 24-hour headers does not drop that window: requests wait for the probe.
    """
    fake = FakeTime(NOW)
    store = MemoryRateLimitStore(clock=fake.clock, sleep=fake.sleep)
    both = _limits(remaining=5, reset=NOW + 600) | _limits(
        "x-user-limit-24hour-", remaining=5, reset=NOW + 100
    )
    probe = await store.acquire(SCOPE, "APPEND", max_wait=60)
    await store.release(SCOPE, "APPEND", probe, headers=both)
    sent_before = await store.acquire(SCOPE, "APPEND", max_wait=60)
    assert sent_before is False  # every window known: no probe
    fake.now += 102  # the 24-hour window resets (plus the clock skew)
    assert await store.acquire(SCOPE, "APPEND", max_wait=60) is True  # a new probe
    # The earlier request's answer carries the 15-minute window only.
    only_15 = _limits(remaining=4, reset=NOW + 600)
    await store.release(SCOPE, "APPEND", sent_before, headers=only_15)

    let_through: list[bool] = []

    async def next_request() -> None:
        let_through.append(await store.acquire(SCOPE, "APPEND", max_wait=60))

    async with anyio.create_task_group() as group:
        group.start_soon(next_request)
        await anyio.wait_all_tasks_blocked()
        assert let_through == []  # it waits for the probe's answer
        next_day = _limits(remaining=4, reset=NOW + 600) | _limits(
            "x-user-limit-24hour-", remaining=5, reset=NOW + 86_500
        )
        await store.release(SCOPE, "APPEND", True, headers=next_day)
    assert let_through == [False]


def test_a_repeated_header_counts_with_its_last_value() -> None:
    """
    A proxy that repeats a rate-limit header leaves the window readable: the last one wins.
    """
    reset = int(NOW) + 600
    headers = httpx.Headers(
        [
            ("x-rate-limit-limit", "10"),
            ("x-rate-limit-remaining", "5"),
            ("x-rate-limit-remaining", "4"),
            ("x-rate-limit-reset", str(reset)),
        ]
    )
    window = read_limits(headers)[""]
    assert (window.limit, window.remaining) == (10, 4)
    assert window.reset_at is not None
    assert window.reset_at.timestamp() == reset
