"""
One chunked upload in a fresh process, measuring how much its memory grows.

The runner starts ``python -m bench.memory CLIENT PATH PORT SEGMENT`` once per
client and repetition, so no client inherits another's heap. Growth is the
RSS high-water mark after the upload minus the RSS just before it (after
imports and client setup). A sampling thread also records the highest
current RSS, as a cross-check. One JSON line goes to stdout.

The high-water mark is the kernel's ``VmHWM``, reset through
``/proc/self/clear_refs`` just before the upload. ``ru_maxrss`` cannot be
used as is: at ``exec`` Linux folds the parent's high-water mark into the
child's (``signal->maxrss``), so every child of the (large) runner starts
with the runner's RSS as its maximum, and the upload's growth disappears
under it. ``ru_maxrss`` growth is still reported, for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import threading
import time

from pathlib import Path
from typing import Any

import psutil

from ._common import Target
from .clients import ALL_CLIENTS, ASYNC_CLIENTS, TweepyUploader, TwuploadUploader


SAMPLE_SECONDS = 0.002
MAX_SAMPLE_SECONDS = 600.0


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _status_bytes(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024  # "VmHWM:   12345 kB"
    raise RuntimeError(f"no {name} in /proc/self/status")


def _reset_high_water() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Sampler:
    """
    Polls the current RSS from a thread; stops at `stop` or after a deadline.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_SAMPLE_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(SAMPLE_SECONDS)

    def start(self) -> int:
        current: int = self._process.memory_info().rss
        self.peak = current
        self._thread.start()
        return current

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


class _Measurement:
    """
    Baseline before the upload, growth after it.
    """

    def __init__(self) -> None:
        gc.collect()
        self._sampler = _Sampler()
        self._before_max = _maxrss_bytes()
        self._reset = _reset_high_water()
        self._before_hwm = _status_bytes("VmHWM")
        self._before_rss = self._sampler.start()
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def finish(self, size: int, error: str | None) -> dict[str, Any]:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        peak_rss = self._sampler.stop()
        after_max = _maxrss_bytes()
        after_hwm = _status_bytes("VmHWM")
        return {
            "size": size,
            "error": error,
            "wall": wall,
            "cpu": cpu,
            "high_water_reset": self._reset,
            "hwm_growth": max(0, after_hwm - self._before_hwm),
            "baseline_maxrss": self._before_max,
            "maxrss_growth": max(0, after_max - self._before_max),
            "baseline_rss": self._before_rss,
            "sampled_growth": max(0, peak_rss - self._before_rss),
        }


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run(
    client: str,
    path: Path,
    target: Target,
    segment: int,
    segments_in_flight: int | None = None,
) -> dict[str, Any]:
    media_type = "video/mp4"
    if client == "tweepy":
        with TweepyUploader(target) as up:
            measurement = _Measurement()
            try:
                size = up.upload_chunked(path, segment, media_type)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                return measurement.finish(0, _describe(exc))
            return measurement.finish(size, None)

    async def main() -> dict[str, Any]:
        cls = ASYNC_CLIENTS[client]
        uploader = (
            cls(target, segments_in_flight=segments_in_flight)
            if issubclass(cls, TwuploadUploader)
            else cls(target)
        )
        async with uploader as up:
            measurement = _Measurement()
            try:
                size = await up.upload_chunked(path, segment, media_type)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                return measurement.finish(0, _describe(exc))
            return measurement.finish(size, None)

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("client", choices=ALL_CLIENTS)
    parser.add_argument("path", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("segment", type=int, help="APPEND segment size, bytes")
    parser.add_argument(
        "--segments-in-flight",
        type=int,
        default=None,
        help="twupload's max_segments_in_flight (its default if not given)",
    )
    args = parser.parse_args(argv)
    result = run(
        args.client,
        args.path,
        Target("127.0.0.1", args.port),
        args.segment,
        args.segments_in_flight,
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
