"""
RedisRateLimitStore against a real redis-server: shared windows, atomicity, expiry, failures.

Pacing runs on fake time (the store's clock and sleep are injected); Redis, its
Lua scripts and its key expiry are real.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import sys
import time
import uuid

from typing import TYPE_CHECKING, Any

import anyio
import coredis
import pytest

from redis_server import RedisServer, redis_server
from twupload import (
    AsyncMediaClient,
    ConfigurationError,
    RateLimit,
    RateLimitError,
    RateLimitScope,
    RateLimitStore,
    RateLimitStoreError,
    RedisRateLimitStore,
)
from twupload._redis_store import redact
from twupload.testing import Emulator

from fakes import FakeTime
from samples import png


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


pytestmark = pytest.mark.anyio

NOW = 1_767_225_600.0
SCOPE = RateLimitScope("0123456789abcdef", "1.1")
PASSWORD = "pw-SECRET-9"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """
    A key prefix of its own per test, so tests never see each other's windows.
    """
    return f"twupload-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(NOW)


def _store(
    redis: RedisServer, prefix: str, fake: FakeTime, **options: Any
) -> RedisRateLimitStore:
    options = {
        "poll_interval": 0.01,
        "clock": fake.clock,
        "sleep": fake.sleep,
    } | options
    return RedisRateLimitStore(redis.url, key_prefix=prefix, **options)


@pytest.fixture
async def stores(
    redis: RedisServer, prefix: str, fake: FakeTime
) -> AsyncIterator[tuple[RedisRateLimitStore, RedisRateLimitStore]]:
    """
    Two stores on the same Redis: two workers, each with its own connections.
    """
    async with _store(redis, prefix, fake) as one, _store(redis, prefix, fake) as two:
        yield one, two


@pytest.fixture
async def raw(redis: RedisServer) -> AsyncIterator[Any]:
    """
    A plain Redis client, to look at the keys.
    """
    async with coredis.Redis.from_url(redis.url, decode_responses=True) as client:
        yield client


def _headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
    }


def _day(
    limit: int, remaining: int, reset: float, kind: str = "user"
) -> dict[str, str]:
    prefix = f"x-{kind}-limit-24hour-"
    return {
        f"{prefix}limit": str(limit),
        f"{prefix}remaining": str(remaining),
        f"{prefix}reset": str(int(reset)),
    }


async def _acquire(
    store: RedisRateLimitStore,
    key: str = "upload",
    *,
    scope: RateLimitScope = SCOPE,
    max_wait: float = 900.0,
) -> Any:
    with anyio.fail_after(10):
        return await store.acquire(scope, key, max_wait=max_wait)


async def _release(
    store: RedisRateLimitStore,
    permit: Any,
    headers: dict[str, str] | None,
    key: str = "upload",
    *,
    scope: RateLimitScope = SCOPE,
) -> None:
    await store.release(scope, key, permit, headers=headers)


def test_it_is_a_rate_limit_store(redis: RedisServer) -> None:
    assert isinstance(RedisRateLimitStore(redis.url), RateLimitStore)


# Sharing one window


async def test_a_probe_elsewhere_holds_every_worker_until_its_answer(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    One request probes; the other worker waits for its headers, then only as many go.
    """
    one, two = stores
    probe = await _acquire(one)
    assert probe.probe is True
    got: list[Any] = []

    async def second() -> None:
        got.append(await _acquire(two))

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await anyio.sleep(0.1)  # the second worker asks, and asks again
        assert got == []
        await _release(one, probe, _headers(3, 2, NOW + 10))
    assert got[0].probe is False
    assert (await _acquire(one)).probe is False  # the window's last request
    assert fake.sleeps == []
    # Spent, whoever asks: the next request waits for the reset plus skew, then probes.
    assert (await _acquire(two)).probe is True
    assert fake.sleeps == [11.0]
    assert one.snapshot(SCOPE) == {
        "upload": RateLimit(3, 2, dt.datetime.fromtimestamp(NOW + 10, dt.timezone.utc))
    }
    assert two.snapshot(SCOPE) == {}  # only what this worker saw


async def test_a_local_release_wakes_a_local_waiter_at_once(
    redis: RedisServer, prefix: str, fake: FakeTime
) -> None:
    """
    Waiters in the prober's own process do not wait for the next poll.
    """
    async with _store(redis, prefix, fake, poll_interval=30) as store:
        probe = await _acquire(store)
        got: list[Any] = []

        async def second() -> None:
            got.append(await _acquire(store))

        async with anyio.create_task_group() as group:
            group.start_soon(second)
            await anyio.sleep(0.05)
            await _release(store, probe, _headers(5, 4, NOW + 60))
    assert got[0].probe is False


async def test_requests_in_flight_elsewhere_are_subtracted(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    An answer's remaining count is lowered by every worker's requests still in flight.
    """
    one, two = stores
    probe = await _acquire(one)
    await _release(one, probe, _headers(10, 9, NOW + 60))
    held = [await _acquire(store) for store in (one, two, one, two, one)]
    # One answers: 7 remain at the server, 4 are still in flight: 3 may go.
    await _release(two, held.pop(), _headers(10, 7, NOW + 60))
    # A late answer of the same window with a higher count changes nothing,
    # and an older window's answer is ignored.
    await _release(one, held.pop(), _headers(10, 8, NOW + 60))
    await _release(one, held.pop(), _headers(10, 9, NOW - 60))
    assert [(await _acquire(two)).probe for _ in range(3)] == [False] * 3
    assert fake.sleeps == []
    assert (await _acquire(one)).probe is True
    assert fake.sleeps == [61.0]


async def test_a_newer_windows_answer_refills_it(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    one, two = stores
    probe = await _acquire(one)
    await _release(one, probe, _headers(3, 1, NOW + 10))
    last = await _acquire(two)
    await _release(two, last, _headers(3, 2, NOW + 25))
    assert [(await _acquire(one)).probe for _ in range(2)] == [False, False]
    assert (await _acquire(two)).probe is True
    assert fake.sleeps == [26.0]


async def test_no_headers_means_no_pacing_until_they_reappear(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    one, two = stores
    probe = await _acquire(one, "STATUS")
    await _release(one, probe, {}, "STATUS")
    held = [await _acquire(two, "STATUS") for _ in range(3)]
    assert [permit.probe for permit in held] == [False] * 3
    # A header-less answer to a request that was not the probe changes nothing.
    await _release(two, held.pop(), {}, "STATUS")
    assert (await _acquire(one, "STATUS")).probe is False
    # Limits are back: 2 remain and our 3 in flight will spend them.
    await _release(two, held.pop(), _headers(10, 2, NOW + 60), "STATUS")
    assert (await _acquire(one, "STATUS")).probe is True
    assert fake.sleeps == [61.0]


async def test_a_failed_probe_hands_the_probe_to_the_next_request(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore],
) -> None:
    one, two = stores
    probe = await _acquire(one, "FINALIZE")
    await _release(one, probe, None, "FINALIZE")
    assert (await _acquire(two, "FINALIZE")).probe is True


async def test_too_long_a_wait_raises_with_the_reset(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    one, two = stores
    await _release(one, await _acquire(one), _headers(1, 0, NOW + 3600))
    with pytest.raises(RateLimitError, match="15-minute") as info:
        await _acquire(two, max_wait=60)
    assert info.value.reset_at == dt.datetime.fromtimestamp(NOW + 3600, dt.timezone.utc)
    assert fake.sleeps == []


# 24-hour windows


async def test_an_exhausted_24_hour_window_stops_every_worker(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    The 15-minute window has room, the 24-hour user window does not: RateLimitError.
    """
    one, two = stores
    tomorrow = NOW + 80_000
    answer = _headers(100, 90, NOW + 600) | _day(3, 0, tomorrow)
    await _release(one, await _acquire(one), answer)
    with pytest.raises(RateLimitError, match="24-hour user") as info:
        await _acquire(two)
    assert info.value.reset_at == dt.datetime.fromtimestamp(tomorrow, dt.timezone.utc)
    assert fake.sleeps == []
    assert set(one.snapshot(SCOPE)) == {"upload", "upload:24h-user"}


async def test_24_hour_windows_pace_like_the_15_minute_one(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    The app window allows two more: two go, then the request waits for its reset.
    """
    one, two = stores
    answer = _headers(100, 99, NOW + 600) | _day(50, 2, NOW + 700, "app")
    await _release(one, await _acquire(one), answer)
    assert [(await _acquire(two)).probe for _ in range(2)] == [False, False]
    assert (await _acquire(one)).probe is True
    assert fake.sleeps == [701.0]  # the app window resets last


async def test_a_probe_answer_without_a_24_hour_window_drops_it(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    When the 15-minute window resets, a probe goes; its answer says which windows remain.
    """
    one, two = stores
    first = _headers(2, 0, NOW + 10) | _day(100, 50, NOW + 80_000)
    await _release(one, await _acquire(one), first)
    probe = await _acquire(two)  # after the reset: the 24-hour window had room
    assert probe.probe is True
    assert fake.sleeps == [11.0]
    await _release(two, probe, _headers(2, 1, NOW + 30))
    # Only the 15-minute window is left; a later answer reporting the day again adds it.
    other = await _acquire(one)
    await _release(one, other, _headers(2, 1, NOW + 30) | _day(100, 0, NOW + 80_000))
    with pytest.raises(RateLimitError, match="24-hour user"):
        await _acquire(two)


# Atomicity, expiry, keys


async def test_reservations_are_atomic_across_workers(
    redis: RedisServer, prefix: str, fake: FakeTime
) -> None:
    """
    Forty requests from four workers at once against five places: exactly five go.
    """
    async with (
        _store(redis, prefix, fake) as a,
        _store(redis, prefix, fake) as b,
        _store(redis, prefix, fake) as c,
        _store(redis, prefix, fake) as d,
    ):
        await _release(a, await _acquire(a), _headers(10, 5, NOW + 60))
        went: list[Any] = []
        refused: list[RateLimitError] = []

        async def ask(store: RedisRateLimitStore) -> None:
            try:
                went.append(await _acquire(store, max_wait=0))
            except RateLimitError as exc:
                refused.append(exc)

        async with anyio.create_task_group() as group:
            for store in [a, b, c, d] * 10:
                group.start_soon(ask, store)
    assert len(went) == 5
    assert len(refused) == 35
    assert not any(permit.probe for permit in went)


async def test_a_dead_workers_reservations_expire(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], fake: FakeTime
) -> None:
    """
    A worker that dies holding the probe (or places in flight) holds them for a lease only.
    """
    dead, alive = stores
    held = await _acquire(dead)  # the probe; its worker never answers
    assert held.probe is True
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            await alive.acquire(SCOPE, "upload", max_wait=900)
    fake.now += 61  # past the lease (60 s)
    probe = await _acquire(alive)
    assert probe.probe is True
    # In flight: the dead worker's three places are no longer subtracted once expired.
    await _release(alive, probe, _headers(10, 9, NOW + 600))
    for _ in range(3):
        await _acquire(dead)
    fake.now += 61
    mine = await _acquire(alive)
    await _release(alive, mine, _headers(10, 5, NOW + 600))
    assert [(await _acquire(alive)).probe for _ in range(5)] == [False] * 5


async def test_keys_are_per_account_and_api_and_expire_after_the_reset(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore],
    redis: RedisServer,
    raw: Any,
    prefix: str,
) -> None:
    one, _ = stores
    reset = NOW + 30
    await _release(one, await _acquire(one, "APPEND"), _headers(5, 4, reset), "APPEND")
    base = f"{prefix}:{{1.1:{SCOPE.account}:APPEND}}"
    assert sorted(await raw.keys(f"{prefix}:*")) == [f"{base}:state"]
    state = await raw.hgetall(f"{base}:state")
    assert state == {"names": "m", "m:reset": str(int(reset)), "m:avail": "4"}
    ttl = await raw.pttl(f"{base}:state")
    # Until the reset plus skew (31 s), or the lease (60 s), plus a second.
    assert 60_000 < ttl <= 61_000
    held = await _acquire(one, "APPEND")
    assert await raw.zcard(f"{base}:held") == 1
    assert 60_000 < await raw.pttl(f"{base}:held") <= 61_000
    # A 24-hour window keeps the keys until it resets.
    day = NOW + 80_000
    await _release(one, held, _headers(5, 3, reset) | _day(10, 9, day), "APPEND")
    assert 80_000_000 < await raw.pttl(f"{base}:state") <= 80_002_000
    assert await raw.exists([f"{base}:held"]) == 0
    # Redis drops them itself: with a short lease and reset, they are gone soon.
    async with RedisRateLimitStore(
        redis.url, key_prefix=prefix, lease=0.2, clock_skew=0
    ) as quick:
        now = time.time()
        permit = await quick.acquire(SCOPE, "INIT", max_wait=1)
        await quick.release(SCOPE, "INIT", permit, headers=_headers(1, 0, now))
        state = f"{prefix}:{{1.1:{SCOPE.account}:INIT}}:state"
        assert await raw.exists([state]) == 1
        for _ in range(50):
            if not await raw.exists([state]):
                break
            await anyio.sleep(0.1)
        else:
            pytest.fail("Redis kept the key 5 s after its reset and lease.")


async def test_accounts_and_api_versions_never_share_a_window(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore],
) -> None:
    one, two = stores
    await _release(one, await _acquire(one), _headers(1, 0, NOW + 3600))
    with pytest.raises(RateLimitError):
        await _acquire(two, max_wait=0)
    for other in (
        RateLimitScope(SCOPE.account, "2"),
        RateLimitScope("fedcba9876543210", SCOPE.api),
    ):
        assert (await _acquire(two, scope=other, max_wait=0)).probe is True


async def test_a_named_account_is_shared_whatever_the_credentials(
    redis: RedisServer, prefix: str, fake: FakeTime
) -> None:
    """
    account= makes every scope of the same API one account (a refreshed bearer token).
    """
    async with (
        _store(redis, prefix, fake, account="my-bot") as one,
        _store(redis, prefix, fake, account="my-bot") as two,
    ):
        await _release(one, await _acquire(one), _headers(1, 0, NOW + 3600))
        with pytest.raises(RateLimitError):
            await _acquire(two, scope=RateLimitScope("another-token-id", "1.1"))


# Failures


@pytest.fixture
def protected() -> Iterator[RedisServer]:
    """
    A redis-server of this test's own, with a password, which the test may stop.
    """
    with redis_server(password=PASSWORD) as server:
        yield server


def _no_secret(exc: BaseException) -> None:
    """
    Neither the message nor any exception it was raised from shows the password.
    """
    seen: BaseException | None = exc
    while seen is not None:
        assert PASSWORD not in str(seen)
        assert PASSWORD not in repr(seen)
        seen = seen.__cause__ or seen.__context__


async def test_redis_stopped_before_an_upload_fails_it_unsent(
    protected: RedisServer, prefix: str
) -> None:
    """
    The upload fails within seconds, naming Redis and its URL without the password.
    """
    started = 0.0
    with Emulator() as emu:
        store = RedisRateLimitStore(protected.url, key_prefix=prefix)
        with pytest.raises(RateLimitStoreError) as info:
            async with (
                store,
                AsyncMediaClient(
                    emu.credentials, base_url=emu.url, rate_limit_store=store
                ) as client,
            ):
                await client.upload(png())  # connected, paced, uploaded
                protected.stop()
                emu.reset_stats()
                started = time.monotonic()
                await client.upload(png())
        elapsed = time.monotonic() - started
        assert emu.stats.requests == 0
    message = str(info.value)
    assert "Redis" in message
    assert f"redis://:***@127.0.0.1:{protected.port}/0" in message
    assert "was not sent" in message
    _no_secret(info.value)
    assert elapsed < 3
    # The connections that never connected closed their streams: nothing warns.
    gc.collect()


async def test_a_hung_redis_fails_the_upload_within_the_timeout(
    protected: RedisServer, prefix: str
) -> None:
    started = 0.0
    with Emulator() as emu:
        store = RedisRateLimitStore(protected.url, key_prefix=prefix, timeout=0.5)
        try:
            with pytest.raises(RateLimitStoreError, match="TimeoutError") as info:
                async with (
                    store,
                    AsyncMediaClient(
                        emu.credentials, base_url=emu.url, rate_limit_store=store
                    ) as client,
                ):
                    await client.upload(png())
                    protected.pause()
                    emu.reset_stats()
                    started = time.monotonic()
                    await client.upload(png())
        finally:
            protected.resume()
        elapsed = time.monotonic() - started
        assert emu.stats.requests == 0
    assert 0.4 < elapsed < 3
    assert "timeout=0.5 s" in str(info.value)
    _no_secret(info.value)


async def test_a_wrong_password_fails_without_showing_it(
    protected: RedisServer, prefix: str, fake: FakeTime
) -> None:
    url = protected.url.replace(PASSWORD, "not-the-" + PASSWORD)
    store = RedisRateLimitStore(url, key_prefix=prefix)
    assert "not-the" not in repr(store)
    with pytest.raises(RateLimitStoreError, match=r"redis://:\*\*\*@") as info:
        async with store:
            await _acquire(store)
    _no_secret(info.value)
    assert "not-the" not in str(info.value)


async def test_a_release_that_fails_is_logged_and_expires(
    protected: RedisServer,
    prefix: str,
    fake: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    The request was answered: its release must not raise; the place expires instead.
    """
    async with _store(protected, prefix, fake) as store:
        permit = await _acquire(store)
        protected.stop()
        with caplog.at_level(logging.WARNING, logger="twupload"):
            await _release(store, permit, _headers(5, 4, NOW + 60))
    assert "The place expires in 60 s" in caplog.text
    assert PASSWORD not in caplog.text
    assert store.snapshot(SCOPE)["upload"].remaining == 4


async def test_a_cancelled_request_still_releases_its_place(
    stores: tuple[RedisRateLimitStore, RedisRateLimitStore], raw: Any, prefix: str
) -> None:
    """
    Cancelled while Redis answers the acquire: the reservation is known and released.
    """
    one, two = stores

    async def send() -> None:
        permit = await one.acquire(SCOPE, "upload", max_wait=900)
        try:
            await anyio.sleep_forever()
        finally:
            await one.release(SCOPE, "upload", permit, headers=None)

    async with anyio.create_task_group() as group:
        group.start_soon(send)
        await anyio.lowlevel.checkpoint()
        group.cancel_scope.cancel()  # lands while the script runs, shielded
    # The probe went back: the next request probes at once.
    assert (await _acquire(two)).probe is True
    base = f"{prefix}:{{1.1:{SCOPE.account}:upload}}"
    assert await raw.zcard(f"{base}:held") == 1  # only the new one


# Misuse and settings


async def test_a_store_must_be_open(redis: RedisServer) -> None:
    store = RedisRateLimitStore(redis.url)
    with pytest.raises(RuntimeError, match="async with RedisRateLimitStore"):
        await store.acquire(SCOPE, "upload", max_wait=1)
    async with store:
        assert "open" in repr(store)
        with pytest.raises(RuntimeError, match="already open"):
            await store.__aenter__()
    assert "closed" in repr(store)
    await store.aclose()  # twice is fine


async def test_an_exception_leaves_the_store_block_as_itself(
    redis: RedisServer, prefix: str
) -> None:
    error = ValueError("mine")
    with pytest.raises(ValueError, match="mine") as info:
        async with RedisRateLimitStore(redis.url, key_prefix=prefix) as store:
            await _release(store, await _acquire(store, max_wait=1), None)
            raise error
    assert info.value is error


@pytest.mark.parametrize(
    ("url", "options", "match"),
    [
        ("http://127.0.0.1:6379", {}, "redis://, rediss:// or unix://"),
        (b"redis://127.0.0.1", {}, "not b'redis"),
        ("redis://:pw-SECRET-9@127.0.0.1:port/0", {}, "port of redis://:\\*\\*\\*@"),
        ("redis://127.0.0.1", {"timeout": 0}, "timeout must be positive"),
        ("redis://127.0.0.1", {"lease": True}, "lease must be positive"),
        ("redis://127.0.0.1", {"poll_interval": "1"}, "poll_interval must be"),
        ("redis://127.0.0.1", {"clock_skew": -1}, "clock_skew must be"),
        ("redis://127.0.0.1", {"key_prefix": ""}, "key_prefix must be"),
        ("redis://127.0.0.1", {"key_prefix": "a{b}"}, "key_prefix must be"),
        ("redis://127.0.0.1", {"account": ""}, "account must be"),
    ],
)
def test_bad_settings_are_configuration_errors(
    url: Any, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        RedisRateLimitStore(url, **options)
    _no_secret(info.value)


def test_without_coredis_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "coredis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'twupload\[redis\]'"):
        RedisRateLimitStore("redis://127.0.0.1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://bot:s3cret@redis.example/1", "rediss://bot:***@redis.example/1"),
        ("redis://bot@127.0.0.1", "redis://bot@127.0.0.1"),
        (
            "unix://:s3cret@/run/redis.sock?db=2&password=s3cret",
            "unix://:***@/run/redis.sock?db=2&password=%2A%2A%2A",
        ),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact(url) == shown
    store = RedisRateLimitStore(url)
    assert store.url == shown
    assert "s3cret" not in repr(store)


# Through the client, against the emulator


@pytest.fixture
def emu(fake: FakeTime) -> Iterator[Emulator]:
    fake.now = time.time()
    with Emulator(clock=fake.clock) as emulator:
        yield emulator


def _client(
    emu: Emulator, fake: FakeTime, store: RedisRateLimitStore, **options: Any
) -> AsyncMediaClient:
    return AsyncMediaClient(
        emu.credentials,
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
        rate_limit_store=store,
        **options,
    )


async def test_two_clients_share_the_windows_through_redis(
    emu: Emulator, fake: FakeTime, redis: RedisServer, prefix: str
) -> None:
    """
    Two clients, two stores, one account: 30 images against 10 per 3 s see no 429.
    """
    emu.set_rate_limit("upload", limit=10, window=3.0)
    results: list[object] = []
    async with (
        _store(redis, prefix, fake) as one,
        _store(redis, prefix, fake) as two,
        _client(emu, fake, one, max_concurrency=4) as first,
        _client(emu, fake, two, max_concurrency=4) as second,
        anyio.create_task_group() as group,
    ):

        async def batch(client: AsyncMediaClient, start: int) -> None:
            results.extend(
                await client.upload_many([png(i) for i in range(start, start + 15)])
            )

        group.start_soon(batch, first, 1)
        group.start_soon(batch, second, 16)
    assert all(not isinstance(r, Exception) for r in results)
    assert emu.stats.rejected_429 == 0
    assert emu.stats.by_status == {200: 30}
    assert first.rate_limits["upload"].limit == 10


@pytest.mark.parametrize("case", ["memory/1.1", "memory/2", "redis/1.1", "redis/2"])
async def test_a_spent_24_hour_window_raises_before_sending(
    emu: Emulator, fake: FakeTime, redis: RedisServer, prefix: str, case: str
) -> None:
    """
    Three uploads a day: the fourth raises RateLimitError with the 24-hour reset, unsent.
    """
    kind, api = case.split("/")
    shared = kind == "redis"
    emu.set_rate_limit("upload", limit=100, window=900, day_limit=3)
    start = fake.now
    store = _store(redis, prefix, fake)
    client = (
        _client(emu, fake, store, api=api)
        if shared
        else _client_memory(emu, fake, api=api)
    )
    with pytest.raises(RateLimitError, match="24-hour user") as info:
        async with store, client:
            for i in range(3):
                await client.upload(png(i + 1))
            limits = client.rate_limits
            await client.upload(png(4))
    assert emu.stats.by_status == {200: 3}
    assert limits["upload:24h-user"].remaining == 0
    assert limits["upload"].remaining == 97
    reset_at = info.value.reset_at
    assert reset_at is not None
    assert start + 86_400 <= reset_at.timestamp() <= start + 86_402


def _client_memory(emu: Emulator, fake: FakeTime, **options: Any) -> AsyncMediaClient:
    return AsyncMediaClient(
        emu.credentials,
        base_url=emu.url,
        clock=fake.clock,
        sleep=fake.sleep,
        **options,
    )


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "redis"])
async def test_a_short_24_hour_window_is_waited_out_without_429(
    emu: Emulator, fake: FakeTime, redis: RedisServer, prefix: str, shared: bool
) -> None:
    """
    Seven uploads, three a "day" of 20 s: the client waits out two days, and none is refused.
    """
    emu.set_rate_limit(
        "upload", limit=100, window=900, day_limit=3, app_day_limit=5, day_window=20
    )
    # Fake time moves only when a task sleeps, and every waiting worker adds its
    # whole wait: four workers waiting 21 s for one reset move the clock 84 s,
    # while the requests already let through are still on the wire. The
    # emulator then counts them in a later window (as it would a slow request),
    # and the OAuth timestamp check would see a stale request: this test is
    # about pacing, not signing.
    emu._verifier._max_skew = float("inf")
    # For the same reason a request can stay in flight for minutes of fake
    # time. With the default 60 s lease the store rightly takes it for a dead
    # worker's, stops counting it against the window, and lets one request too
    # many go: a 429 whenever the answers come back in that order. Real
    # requests end within their lease; here they must too.
    store = _store(redis, prefix, fake, lease=86_400)
    client = _client(emu, fake, store) if shared else _client_memory(emu, fake)
    async with store, client:
        results = await client.upload_many([png(i) for i in range(1, 8)])
    assert all(not isinstance(r, Exception) for r in results)
    assert emu.stats.rejected_429 == 0
    assert emu.stats.by_status == {200: 7}
    assert sum(fake.sleeps) >= 2 * 20  # two 24-hour "days" were waited out


def test_the_emulator_reports_its_24_hour_windows(fake: FakeTime) -> None:
    fake.now = 1000.0
    with Emulator(clock=fake.clock) as emu:
        emu.set_rate_limit("INIT", limit=5, window=60, day_limit=7, app_day_limit=9)
        assert emu.rate_limit("INIT") == {
            "limit": 5,
            "remaining": 5,
            "reset": 1060,
            "user_24hour_limit": 7,
            "user_24hour_remaining": 7,
            "user_24hour_reset": 87_400,
            "app_24hour_limit": 9,
            "app_24hour_remaining": 9,
            "app_24hour_reset": 87_400,
        }
        for bad, match in [
            ({"day_limit": -1}, "day_limit must be"),
            ({"app_day_limit": 1.5}, "app_day_limit must be"),
            ({"day_limit": 1, "day_window": 0}, "day_window must be"),
            ({"window": True}, "window must be"),
        ]:
            with pytest.raises(ValueError, match=match):
                emu.set_rate_limit("INIT", limit=5, **bad)
