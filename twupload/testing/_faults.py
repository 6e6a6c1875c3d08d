"""
Planned misbehaviour: injected error responses, dropped connections, latency, and processing.
"""

from __future__ import annotations

import json
import math

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from . import _problems as problems
from ._records import API_VERSIONS, RATE_LIMIT_KEYS, ProcessingMode


if TYPE_CHECKING:
    from collections.abc import Mapping


JSON_TYPE = problems.JSON_TYPE
#: What a fault can be planned for: a command, or ``"token"`` (``POST /2/oauth2/token``).
FAULT_COMMANDS = (*RATE_LIMIT_KEYS, "token")
#: Slack, in seconds, before a STATUS counts as early or processing moves a
#: step: a client that waited exactly ``check_after_secs`` on a clock a hair
#: off the emulator's is on time.
CLOCK_SLACK = 0.01


def _check_command(command: str | None) -> str | None:
    if command is not None and command not in FAULT_COMMANDS:
        raise ValueError(
            f"Unknown command {command!r}; use None or one of {', '.join(FAULT_COMMANDS)}."
        )
    return command


def check_api(api: str | None) -> str | None:
    """
    Return *api* if it is None or an API version the emulator serves, else raise.
    """
    if api is not None and api not in API_VERSIONS:
        raise ValueError(
            f"Unknown api {api!r}; use None, {' or '.join(map(repr, API_VERSIONS))}."
        )
    return api


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, not {count!r}.")
    return count


def _check_count_or_none(count: int | None) -> int | None:
    return None if count is None else _check_count(count)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


@dataclass
class Failure:
    """
    Answer the next *remaining* matching requests (None: all of them) with this response.

    Attributes:
        body: The body; None picks, per request, the service's usual error
            for *status* in that request's API version.
        media_only: Match media commands only, never token requests.
        rate_limit_headers: Send the window's ``x-rate-limit-*`` headers too,
            as they stand (the request is not counted).
    """

    remaining: int | None
    status: int
    body: bytes | None
    headers: dict[str, str]
    command: str | None
    api: str | None = None
    media_only: bool = False
    rate_limit_headers: bool = False

    def matches(self, command: str | None, api: str) -> bool:
        """
        Whether a request for *command* over *api* gets this failure.
        """
        if self.api not in {None, api}:
            return False
        if self.media_only and command not in RATE_LIMIT_KEYS:
            return False
        return self.command in {None, command}

    def response(self, api: str) -> tuple[bytes, dict[str, str]]:
        """
        The body and headers to answer a request over *api* with.
        """
        if self.body is not None:
            return self.body, dict(self.headers)
        body, content_type = default_failure(self.status, api)
        headers = dict(self.headers)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        return body, headers


@dataclass
class Drop:
    """
    Close the connection of the next *remaining* matching requests.
    """

    remaining: int
    after_bytes: int
    command: str | None
    api: str | None = None


def default_failure(status: int, api: str) -> tuple[bytes, str]:
    """
    The service's usual error body for *status*: v1.1's error list, v2's problem.
    """
    if api == "2":
        return problems.encode(problems.blank_problem(status)), problems.PROBLEM_TYPE
    return problems.encode(problems.v1_default(status)), JSON_TYPE


def failure_body(
    body: bytes | str | Mapping[str, Any] | None,
) -> tuple[bytes | None, str]:
    """
    Encode an injected body, with its Content-Type; None stays None (chosen per request).
    """
    if body is None:
        return None, JSON_TYPE
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":")).encode(), JSON_TYPE


@dataclass
class Faults:
    """
    The queue of planned failures; not thread-safe, used under the emulator's lock.
    """

    failures: list[Failure] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    latency: dict[str | None, float] = field(default_factory=dict)

    def add_failure(
        self,
        count: int,
        *,
        status: int,
        body: bytes | str | Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        command: str | None,
        api: str | None = None,
    ) -> None:
        """
        Plan *count* injected responses (see `Emulator.fail_next`).
        """
        if not 100 <= status <= 599:  # noqa: PLR2004
            raise ValueError(f"status must be an HTTP status code, not {status!r}.")
        content, content_type = failure_body(body)
        extra = dict(headers or {})
        if content and not any(name.lower() == "content-type" for name in extra):
            extra["Content-Type"] = content_type
        self.failures.append(
            Failure(
                _check_count(count),
                status,
                content,
                extra,
                _check_command(command),
                check_api(api),
            )
        )

    def add_usage_cap(
        self,
        count: int | None,
        *,
        period: str,
        scope: str,
        account_id: str,
        command: str | None,
        api: str | None,
    ) -> None:
        """
        Plan 429 usage-cap answers (see `Emulator.cap_usage`).
        """
        body = problems.usage_capped(
            period=_check_choice("period", period, problems.CAP_PERIODS),
            scope=_check_choice("scope", scope, problems.CAP_SCOPES),
            account_id=account_id,
        )
        self.failures.append(
            Failure(
                _check_count_or_none(count),
                429,
                problems.encode(body),
                {"Content-Type": problems.PROBLEM_TYPE},
                _check_command(command),
                check_api(api),
                media_only=True,
                rate_limit_headers=True,
            )
        )

    def add_access_refusal(self, count: int | None, *, command: str | None) -> None:
        """
        Plan v1.1's 403 error 453 answers (see `Emulator.refuse_v1_1`).
        """
        self.failures.append(
            Failure(
                _check_count_or_none(count),
                403,
                problems.encode(problems.access_level()),
                {"Content-Type": JSON_TYPE},
                _check_command(command),
                "1.1",
                media_only=True,
            )
        )

    def add_drop(
        self,
        count: int,
        *,
        after_bytes: int,
        command: str | None,
        api: str | None = None,
    ) -> None:
        """
        Plan *count* dropped connections (see `Emulator.drop_next`).
        """
        if (
            isinstance(after_bytes, bool)
            or not isinstance(after_bytes, int)
            or after_bytes < 0
        ):
            raise ValueError(f"after_bytes must be an int >= 0, not {after_bytes!r}.")
        self.drops.append(
            Drop(
                _check_count(count),
                after_bytes,
                _check_command(command),
                check_api(api),
            )
        )

    def set_latency(self, seconds: float, command: str | None) -> None:
        """
        Delay every answer (or those to *command*) by *seconds*; 0 removes the delay.
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, not {seconds!r}.")
        key = _check_command(command)
        if seconds:
            self.latency[key] = float(seconds)
        else:
            self.latency.pop(key, None)

    def latency_for(self, command: str | None) -> float:
        """
        The delay for a request to *command*: its own setting, else the global one.
        """
        return self.latency.get(command, self.latency.get(None, 0.0))

    def take_failure(self, command: str | None, api: str = "1.1") -> Failure | None:
        """
        Use up one planned failure that matches *command* over *api*, if any.
        """
        for failure in self.failures:
            if failure.matches(command, api):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if not failure.remaining:
                        self.failures.remove(failure)
                return failure
        return None

    def take_drop(self, command: str | None, api: str = "1.1") -> int | None:
        """
        Use up one planned drop that matches *command* over *api*; return its *after_bytes*.
        """
        for drop in self.drops:
            if drop.api in {None, api} and drop.command in {None, command}:
                drop.remaining -= 1
                if not drop.remaining:
                    self.drops.remove(drop)
                return drop.after_bytes
        return None

    def clear(self) -> None:
        """
        Forget every planned failure, drop and delay.
        """
        self.failures.clear()
        self.drops.clear()
        self.latency.clear()


@dataclass(frozen=True, slots=True)
class ProcessingPlan:
    """
    How the background processing of a GIF or video unfolds, with the emulator's clock.

    Processing starts when the media is finalized and moves one step every
    *check_after_secs* seconds: ``pending``, then *steps* ``in_progress``
    steps, then the outcome. With ``check_after_secs=0`` there is no time to
    measure, and each STATUS request moves it one step instead.

    Attributes:
        mode: See `ProcessingMode`.
        steps: Steps (of *check_after_secs* each) that say ``in_progress``
            before the outcome.
        check_after_secs: The wait the emulator asks for between STATUS
            requests, and the length of each step.
        error_code: The processing error's code, for failing modes.
        error_name: Its name.
        error_message: Its message.
    """

    mode: ProcessingMode = "succeed"
    steps: int = 1
    check_after_secs: int = 1
    error_code: int = 1
    error_name: str = "InvalidMedia"
    error_message: str = "Unsupported video format"

    def __post_init__(self) -> None:
        if self.mode not in get_args(ProcessingMode):
            raise ValueError(
                f"mode must be one of {', '.join(get_args(ProcessingMode))}, "
                f"not {self.mode!r}."
            )
        for name in ("steps", "check_after_secs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}.")

    def step(self, elapsed: float, status_calls: int) -> int:
        """
        The step processing has reached, *elapsed* seconds after it started.

        Args:
            elapsed: Seconds since the media was finalized, by the emulator's clock.
            status_calls: STATUS requests answered since; they count only
                when *check_after_secs* is 0.
        """
        if not self.check_after_secs:
            return status_calls
        return max(0, math.floor((elapsed + CLOCK_SLACK) / self.check_after_secs))

    def info(self, step: int) -> dict[str, Any]:
        """
        The ``processing_info`` at *step* (0: just finalized).
        """
        wait = {"check_after_secs": self.check_after_secs}
        if self.mode == "pending_forever" or step == 0:
            return {"state": "pending", **wait}
        if step <= self.steps:
            progress = step * 100 // (self.steps + 1)
            return {"state": "in_progress", "progress_percent": progress, **wait}
        error = {
            "code": self.error_code,
            "name": self.error_name,
            "message": self.error_message,
        }
        if self.mode == "succeed":
            return {"state": "succeeded", "progress_percent": 100}
        if self.mode == "fail":
            return {"state": "failed", "progress_percent": 100, "error": error}
        return {"state": "in_progress", "progress_percent": 99, **wait, "error": error}
