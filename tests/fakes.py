"""
A fake wall clock and sleep, so pacing and backoff run without real waiting.
"""

from __future__ import annotations

import anyio


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
