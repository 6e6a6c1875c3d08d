"""
Planned misbehaviour: injected error responses, dropped connections, latency, and processing.
"""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from ._records import RATE_LIMIT_KEYS, ProcessingMode


if TYPE_CHECKING:
    from collections.abc import Mapping


JSON_TYPE = "application/json; charset=utf-8"
_DEFAULT_ERRORS = {
    401: (32, "Could not authenticate you."),
    429: (88, "Rate limit exceeded"),
    500: (131, "Internal error"),
    503: (130, "Over capacity"),
}


def _check_command(command: str | None) -> str | None:
    if command is not None and command not in RATE_LIMIT_KEYS:
        raise ValueError(
            f"Unknown command {command!r}; use None or one of {', '.join(RATE_LIMIT_KEYS)}."
        )
    return command


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, not {count!r}.")
    return count


@dataclass
class Failure:
    """
    Answer the next *remaining* matching requests with this response instead.
    """

    remaining: int
    status: int
    body: bytes
    headers: dict[str, str]
    command: str | None


@dataclass
class Drop:
    """
    Close the connection of the next *remaining* matching requests.
    """

    remaining: int
    after_bytes: int
    command: str | None


def failure_body(
    status: int, body: bytes | str | Mapping[str, Any] | None
) -> tuple[bytes, str]:
    """
    Encode an injected body, with its Content-Type; None picks the usual error for *status*.
    """
    if body is None:
        code, message = _DEFAULT_ERRORS.get(status, (131, "Internal error"))
        body = {"errors": [{"code": code, "message": message}]}
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
    ) -> None:
        """
        Plan *count* injected responses (see `Emulator.fail_next`).
        """
        if not 100 <= status <= 599:  # noqa: PLR2004
            raise ValueError(f"status must be an HTTP status code, not {status!r}.")
        content, content_type = failure_body(status, body)
        extra = dict(headers or {})
        if content and not any(name.lower() == "content-type" for name in extra):
            extra["Content-Type"] = content_type
        self.failures.append(
            Failure(
                _check_count(count), status, content, extra, _check_command(command)
            )
        )

    def add_drop(self, count: int, *, after_bytes: int, command: str | None) -> None:
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
            Drop(_check_count(count), after_bytes, _check_command(command))
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

    def take_failure(self, command: str | None) -> Failure | None:
        """
        Use up one planned failure that matches *command*, if any.
        """
        for failure in self.failures:
            if failure.command in {None, command}:
                failure.remaining -= 1
                if not failure.remaining:
                    self.failures.remove(failure)
                return failure
        return None

    def take_drop(self, command: str | None) -> int | None:
        """
        Use up one planned drop that matches *command*; return its *after_bytes*.
        """
        for drop in self.drops:
            if drop.command in {None, command}:
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
    How the background processing of a GIF or video unfolds, one STATUS request at a time.

    Attributes:
        mode: See `ProcessingMode`.
        steps: STATUS answers that say ``in_progress`` before the outcome.
        check_after_secs: The wait the emulator asks for between STATUS requests.
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

    def info(self, calls: int) -> dict[str, Any]:
        """
        The ``processing_info`` after *calls* STATUS requests (0: the FINALIZE answer).
        """
        wait = {"check_after_secs": self.check_after_secs}
        if self.mode == "pending_forever" or calls == 0:
            return {"state": "pending", **wait}
        if calls <= self.steps:
            progress = calls * 100 // (self.steps + 1)
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

    def succeeded(self, calls: int) -> bool:
        """
        Whether the state after *calls* STATUS requests is ``succeeded``.
        """
        return self.mode == "succeed" and calls > self.steps
