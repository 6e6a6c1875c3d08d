"""
`RedisRateLimitStore`: one account's pacing shared by every process and machine, in Redis.

Each window (account, API version, command) is two keys, updated only by the
two Lua scripts below, so every decision is atomic however many workers ask
at once:

- ``<prefix>:{<api>:<account>:<command>}:state``, a hash: per bucket (``m``
  the 15-minute window, ``u`` and ``a`` the 24-hour user and app windows) its
  ``reset`` (Unix seconds) and ``avail`` (requests that may still go before
  it); ``names``, the buckets the command's answers report; the ``probe``
  token and ``probe_until``, while one request goes alone to learn the
  window; ``unlimited`` when a probe's answer carried no limits.
- ``<prefix>:{...}:held``, a sorted set of the requests in flight, each scored
  by the end of its lease: a worker that dies mid-request holds its place
  only until then.

Both keys expire after the last reset (plus the skew margin), or after a
lease when no limit is known; the braces keep both in one cluster slot.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time

from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import ConfigurationError, RateLimitStoreError
from ._ratelimit import (
    BUCKET_NAMES,
    BUCKETS,
    account_id,
    read_limits,
    too_long_a_wait,
)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import TracebackType

    from ._ratelimit import RateLimitScope
    from ._results import RateLimit


logger = logging.getLogger("twupload")

_SCHEMES = ("redis", "rediss", "unix")
_STREAMS = (MemoryObjectReceiveStream, MemoryObjectSendStream)
#: The scripts' name of each bucket ("m" the 15-minute window), in `BUCKETS` order.
_CODES = "mua"
_SUFFIXES = {code: suffix for (suffix, _, _), code in zip(BUCKETS, _CODES, strict=True)}
_SLOTS = {suffix: 2 * index for index, (suffix, _, _) in enumerate(BUCKETS)}

# Acquire: KEYS state, held; ARGV now, token, lease, skew.
# Returns {0} go, {1} go as the probe, {2, reset, bucket} wait for that reset,
# {3} another request is probing: ask again soon.
_ACQUIRE = """
local state, held = KEYS[1], KEYS[2]
local now, token = tonumber(ARGV[1]), ARGV[2]
local lease, skew = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
local f = redis.call('HMGET', state, 'names', 'unlimited', 'probe', 'probe_until',
  'm:reset', 'm:avail', 'u:reset', 'u:avail', 'a:reset', 'a:avail')
local codes = {'m', 'u', 'a'}
local known, present = {}, {}
local horizon = now + lease
local blocked, blocked_code = nil, nil
for i = 1, 3 do
  local code, reset = codes[i], tonumber(f[3 + 2 * i])
  if reset then
    if now >= reset + skew then
      redis.call('HDEL', state, code .. ':reset', code .. ':avail')
    else
      known[#known + 1] = code
      present[code] = true
      horizon = math.max(horizon, reset + skew)
      if tonumber(f[4 + 2 * i]) <= 0 and (blocked == nil or reset > blocked) then
        blocked, blocked_code = reset, code
      end
    end
  end
end
local probe = f[3]
if probe and now >= tonumber(f[4]) then
  redis.call('HDEL', state, 'probe', 'probe_until')
  probe = false
end
local function take()
  for _, code in ipairs(known) do
    redis.call('HINCRBY', state, code .. ':avail', -1)
  end
  redis.call('ZADD', held, now + lease, token)
  local ttl = math.ceil((horizon - now) * 1000) + 1000
  redis.call('PEXPIRE', state, ttl)
  redis.call('PEXPIRE', held, ttl)
end
if f[2] == '1' then
  take()
  return {0}
end
if blocked then
  return {2, tostring(blocked), blocked_code}
end
local names = f[1] or ''
local complete = names ~= ''
for code in string.gmatch(names, '%a') do
  if not present[code] then complete = false end
end
if complete then
  take()
  return {0}
end
if not probe then
  redis.call('HSET', state, 'probe', token, 'probe_until', now + lease)
  take()
  return {1}
end
return {3}
"""

# Release: KEYS state, held; ARGV now, token, probe ('1' or '0'), lease, skew,
# answer ('none', 'unlimited' or 'limits'), then remaining and reset of the
# m, u and a buckets ('' where the answer had none).
_RELEASE = """
local state, held = KEYS[1], KEYS[2]
local now, token, probe = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local lease, skew, answer = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local codes = {'m', 'u', 'a'}
redis.call('ZREM', held, token)
redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
if probe and redis.call('HGET', state, 'probe') == token then
  redis.call('HDEL', state, 'probe', 'probe_until')
end
if answer == 'limits' then
  local others = redis.call('ZCARD', held)
  local seen = ''
  for i = 1, 3 do
    local code = codes[i]
    local remaining, reset = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
    if remaining then
      seen = seen .. code
      local fresh = math.max(0, remaining - others)
      local old = tonumber(redis.call('HGET', state, code .. ':reset'))
      if old == nil or reset > old then
        redis.call('HSET', state, code .. ':reset', ARGV[6 + 2 * i], code .. ':avail', fresh)
      elseif reset == old then
        local avail = tonumber(redis.call('HGET', state, code .. ':avail'))
        if fresh < avail then
          redis.call('HSET', state, code .. ':avail', fresh)
        end
      end
    end
  end
  local names = seen
  local old = redis.call('HGET', state, 'names') or ''
  for i = 1, 3 do
    local code = codes[i]
    if not string.find(seen, code, 1, true) then
      if probe then
        redis.call('HDEL', state, code .. ':reset', code .. ':avail')
      elseif string.find(old, code, 1, true) then
        names = names .. code
      end
    end
  end
  redis.call('HSET', state, 'names', names)
  redis.call('HDEL', state, 'unlimited')
elseif answer == 'unlimited' and probe then
  redis.call('HDEL', state, 'names', 'm:reset', 'm:avail', 'u:reset', 'u:avail',
    'a:reset', 'a:avail')
  redis.call('HSET', state, 'unlimited', '1')
end
local horizon = now + lease
for i = 1, 3 do
  local reset = tonumber(redis.call('HGET', state, codes[i] .. ':reset'))
  if reset then horizon = math.max(horizon, reset + skew) end
end
local ttl = math.ceil((horizon - now) * 1000) + 1000
redis.call('PEXPIRE', state, ttl)
redis.call('PEXPIRE', held, ttl)
return 1
"""


class _Permit(NamedTuple):
    token: str
    probe: bool


def _closing(connection_class: type[Any]) -> type[Any]:
    """
    *connection_class*, closing its memory streams when it ends, connected or not.

    A coredis connection that never connects (Redis down) leaves them open,
    and each warns (ResourceWarning) whenever the garbage collector finds it.
    """

    class Closing(connection_class):  # type: ignore[misc]
        async def run(self, **options: Any) -> None:
            try:
                await super().run(**options)
            finally:
                for value in vars(self).values():
                    if isinstance(value, _STREAMS):
                        value.close()

    Closing.__name__ = Closing.__qualname__ = f"Closing{connection_class.__name__}"
    return Closing


def redact(url: str) -> str:
    """
    *url* with its password (in the user info or a ``password=`` query) shown as ``***``.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in query):
        hidden = [(n, "***" if n == "password" else v) for n, v in query]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(hidden)))
    return urlunsplit(parts._replace(netloc=netloc))


def _secrets_of(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password or ""]
    found += [v for n, v in parse_qsl(parts.query) if n == "password"]
    return [secret for secret in found if secret]


class RedisRateLimitStore:
    """
    A `RateLimitStore` in Redis: every client of an account, in any process, shares its windows.

    Clients in different processes or machines that point at the same Redis
    with the same account share each command's 15-minute and 24-hour windows:
    one request probes, the headers say how many more may go, and only that
    many go, whichever worker sends them; the rest wait for the reset. Open it
    with ``async with`` around the clients that use it (it holds the Redis
    connections); a client never closes it::

        async with (
            RedisRateLimitStore("redis://127.0.0.1:6379/0") as store,
            AsyncMediaClient(creds, rate_limit_store=store) as client,
        ):
            await client.upload("cat.png")

    When Redis cannot be reached or fails, the request it was pacing raises
    `RateLimitStoreError` (within *timeout*) and is not sent: without the
    shared windows, sending would overrun the account's limits. Needs
    ``twupload[redis]`` (the coredis client, on asyncio and trio).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for
            TLS, or ``unix://[[user]:password@]/path/to/socket?db=N``. Shown
            without its password in messages and `repr`.
        account: A name for the account, used instead of the one derived from
            each client's credentials. Needed for an OAuth 2.0 `BearerToken`
            shared by several workers: each refresh changes the access token.
        timeout: Longest wait for Redis per call (connecting included), seconds.
        lease: Seconds a request holds its place (and a probe its turn) when
            its worker dies before releasing it; keep it above your longest
            request.
        clock_skew: Seconds added to each reset time, for clock differences
            (between the workers, and with X).
        poll_interval: Seconds between asks while another worker's probe is out.
        key_prefix: The start of every key.
        clock: Wall-clock Unix time (tests inject one); workers' clocks must
            agree within *clock_skew*.
        sleep: Async sleep (tests inject one).

    Raises:
        ConfigurationError: A bad URL or setting, or coredis is not installed.
    """

    def __init__(
        self,
        url: str,
        *,
        account: str | None = None,
        timeout: float = 5.0,
        lease: float = 60.0,
        clock_skew: float = 1.0,
        poll_interval: float = 0.05,
        key_prefix: str = "twupload",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in _SCHEMES:
            shown = redact(url) if isinstance(url, str) else repr(url)
            raise ConfigurationError(
                "RedisRateLimitStore needs a redis://, rediss:// or unix:// URL, "
                f"not {shown}."
            )
        self.url = redact(url)
        try:
            urlsplit(url).port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ConfigurationError(
                f"RedisRateLimitStore: the port of {self.url} is not a number."
            ) from None
        for name, value in (
            ("timeout", timeout),
            ("lease", lease),
            ("poll_interval", poll_interval),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value > 0
            ):
                raise ConfigurationError(
                    f"RedisRateLimitStore {name} must be positive seconds, not {value!r}."
                )
        if not (isinstance(clock_skew, (int, float)) and clock_skew >= 0):
            raise ConfigurationError(
                f"RedisRateLimitStore clock_skew must be seconds >= 0, not {clock_skew!r}."
            )
        if not (isinstance(key_prefix, str) and key_prefix) or "{" in key_prefix:
            raise ConfigurationError(
                "RedisRateLimitStore key_prefix must be a non-empty string without "
                f"braces, not {key_prefix!r}."
            )
        if account is not None and not (isinstance(account, str) and account):
            raise ConfigurationError(
                f"RedisRateLimitStore account must be a non-empty string, not {account!r}."
            )
        try:
            import coredis  # noqa: PLC0415 - an optional dependency
        except ImportError as exc:
            raise ConfigurationError(
                "RedisRateLimitStore needs the coredis client: "
                "pip install 'twupload[redis]'."
            ) from exc
        self._coredis: Any = coredis
        self._url = url
        self._secrets = _secrets_of(url)
        self._account = None if account is None else account_id("named", account)
        self._timeout = float(timeout)
        self._lease = float(lease)
        self._skew = float(clock_skew)
        self._poll = float(poll_interval)
        self._prefix = key_prefix
        self._clock = clock
        self._sleep = sleep
        self._tag = secrets.token_hex(6)
        self._count = itertools.count()
        self._client: Any = None
        self._scripts: tuple[Any, Any] | None = None
        self._keys: dict[tuple[RateLimitScope, str], list[str]] = {}
        self._changed: dict[tuple[RateLimitScope, str], anyio.Event] = {}
        self._seen: dict[RateLimitScope, dict[str, RateLimit]] = {}

    def __repr__(self) -> str:
        state = "open" if self._client is not None else "closed"
        return f"<RedisRateLimitStore {self.url} {state}>"

    # Lifecycle

    async def __aenter__(self) -> RedisRateLimitStore:  # noqa: PYI034 - 3.10 has no Self
        """
        Open the connection pool (connections are made at the first request).
        """
        if self._client is not None:
            raise RuntimeError("This RedisRateLimitStore is already open.")
        coredis = self._coredis
        pool = coredis.ConnectionPool.from_url(
            self._url,
            decode_responses=True,
            stream_timeout=self._timeout,
            connect_timeout=self._timeout,
            client_name="twupload",
        )
        pool.connection_class = _closing(pool.connection_class)
        client = coredis.Redis(connection_pool=pool)
        await client.__aenter__()
        self._client = client
        self._scripts = (
            client.register_script(_ACQUIRE),
            client.register_script(_RELEASE),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """
        Close the connections; the store can be opened again with ``async with``.
        """
        client, self._client = self._client, None
        self._scripts = None
        if client is not None:
            # Not shielded: this exits the task group __aenter__ entered, which
            # must be the innermost cancel scope.
            await client.__aexit__(None, None, None)

    # The RateLimitStore protocol

    def snapshot(self, scope: RateLimitScope) -> dict[str, RateLimit]:
        """
        The last limits this process saw for *scope* (other workers' answers are not shown).
        """
        return dict(self._seen.get(scope, ()))

    async def acquire(
        self, scope: RateLimitScope, key: str, *, max_wait: float
    ) -> object:
        """
        Reserve a place in the shared window, waiting for its reset or a probe's answer.

        Returns the permit `release` takes: its ``probe`` attribute says whether
        this request goes alone to learn the window.
        """
        keys = self._window_keys(scope, key)
        while True:
            now = self._clock()
            token = f"{self._tag}:{next(self._count)}"
            reply = await self._run(
                0, keys, [repr(now), token, self._lease, self._skew]
            )
            status = int(reply[0])
            if status < 2:  # noqa: PLR2004 - 0 go, 1 go as the probe
                return _Permit(token, status == 1)
            if status == 2:  # noqa: PLR2004 - exhausted until a reset
                reset, suffix = float(reply[1]), _SUFFIXES[reply[2]]
                wait = reset + self._skew - now
                if wait > max_wait:
                    raise too_long_a_wait(key, suffix, reset, wait, max_wait)
                logger.info(
                    "%s: shared %s rate-limit window exhausted, waiting %.1f s for "
                    "its reset",
                    key,
                    BUCKET_NAMES[suffix],
                    wait,
                )
                await self._sleep(wait)
                continue
            # Another request is probing: its release here wakes us, one elsewhere
            # is seen at the next ask.
            changed = self._changed.get((scope, key))
            if changed is None:
                changed = self._changed[scope, key] = anyio.Event()
            with anyio.move_on_after(self._poll):
                await changed.wait()

    async def release(
        self,
        scope: RateLimitScope,
        key: str,
        permit: object,
        *,
        headers: Mapping[str, str] | None,
    ) -> None:
        """
        Give the place back with what the answer said; a Redis failure is logged, not raised.

        The place then expires with its lease, and the next `acquire` reports
        the failure.
        """
        assert isinstance(permit, _Permit)  # noqa: S101 - from our acquire
        limits = read_limits(headers) if headers is not None else None
        buckets: list[object] = [""] * 6
        if limits:
            answer = "limits"
            seen = self._seen.get(scope)
            if seen is None:
                seen = self._seen[scope] = {}
            for suffix, limit in limits.items():
                seen[key + suffix] = limit
                at = _SLOTS[suffix]
                buckets[at] = limit.remaining
                buckets[at + 1] = int(limit.reset_at.timestamp())
        else:
            answer = "none" if headers is None else "unlimited"
        args = [
            repr(self._clock()),
            permit.token,
            "1" if permit.probe else "0",
            self._lease,
            self._skew,
            answer,
            *buckets,
        ]
        try:
            await self._run(1, self._window_keys(scope, key), args)
        except RateLimitStoreError as exc:
            # The text, not the exception: a log record must not keep its traceback.
            logger.warning(
                "%s: %s The place expires in %.0f s.", key, str(exc), self._lease
            )
        finally:
            changed = self._changed.pop((scope, key), None)
            if changed is not None:
                changed.set()

    # Redis

    def _window_keys(self, scope: RateLimitScope, key: str) -> list[str]:
        keys = self._keys.get((scope, key))
        if keys is None:
            account = self._account or scope.account
            base = f"{self._prefix}:{{{scope.api}:{account}:{key}}}"
            keys = self._keys[scope, key] = [f"{base}:state", f"{base}:held"]
        return keys

    async def _run(self, which: int, keys: list[str], args: list[object]) -> list[Any]:
        """
        Run a script, atomically, within the timeout; a cancellation waits for its answer.

        Shielded so that a reservation Redis made is always known (and so
        released): a cancelled caller never leaves a probe taken for a lease.
        """
        scripts = self._scripts
        if scripts is None:
            raise RuntimeError(
                "This RedisRateLimitStore is not open: use `async with "
                "RedisRateLimitStore(url) as store:` around the clients that use it."
            )
        try:
            with anyio.CancelScope(shield=True), anyio.fail_after(self._timeout):
                reply: list[Any] = await scripts[which](keys, args)
        except (self._coredis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise self._failure(exc) from exc
        return reply

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _failure(self, exc: BaseException) -> RateLimitStoreError:
        detail = self._scrub(str(exc))
        what = type(exc).__name__ + (f": {detail}" if detail else "")
        return RateLimitStoreError(
            f"The shared rate-limit store failed: Redis at {self.url} is unreachable "
            f"or failing ({what}). The request was not sent, since sending it "
            "unpaced could overrun the account's limits. Check that Redis runs and "
            f"that the URL and password are right (timeout={self._timeout:g} s)."
        )
