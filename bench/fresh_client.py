"""
One client, one run, in a fresh interpreter: ``python -m bench.fresh_client``.

`bench.fresh` starts this once per client and repetition, so every client
pays its own imports, SSL context, connection set-up and cold caches, and no
client inherits another's heap or warmed-up pools. It uploads either a batch
of images (``--files``: a text file with one path per line) or one chunked
video (``--video``), then prints one JSON line: wall and CPU time of the
uploads (CPU of the whole process, worker threads included, from the client
being built to the last response), the sizes the sink reported, and the peak
RSS growth (``VmHWM``, as `bench.memory` measures it).

``--profile FILE`` writes a cProfile of the measured part (for the CPU
breakdowns in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import time

from pathlib import Path
from typing import Any

from ._common import Target
from .clients import ALL_CLIENTS, ASYNC_CLIENTS, TweepyUploader, TwuploadUploader
from .memory import _Measurement, _reset_high_water, _status_bytes


class _Light:
    """
    Wall, CPU and VmHWM growth without `bench.memory`'s 2 ms RSS sampling thread.

    Batches are measured for CPU, so nothing else may run in the process.
    """

    def __init__(self) -> None:
        self._reset = _reset_high_water()
        self._before = _status_bytes("VmRSS")
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def finish(self, size: int, error: str | None) -> dict[str, Any]:
        return {
            "size": size,
            "error": error,
            "wall": time.perf_counter() - self._wall,
            "cpu": time.process_time() - self._cpu,
            "high_water_reset": self._reset,
            "hwm_growth": max(0, _status_bytes("VmHWM") - self._before),
        }


def _cpu_total() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _async_uploader(client: str, target: Target, args: argparse.Namespace) -> Any:
    cls = ASYNC_CLIENTS[client]
    if issubclass(cls, TwuploadUploader):
        return cls(
            target,
            max_concurrency=args.concurrency,
            segments_in_flight=args.segments_in_flight,
        )
    return cls(target)


def _upload_sync(
    target: Target, args: argparse.Namespace, paths: list[Path]
) -> list[int]:
    with TweepyUploader(target) as up:
        if args.video:
            return [up.upload_chunked(args.video, args.segment, "video/mp4")]
        return up.upload_batch(paths, args.concurrency)


async def _upload_async(
    target: Target, args: argparse.Namespace, paths: list[Path]
) -> list[int]:
    # Measured from the client being built: a fresh process pays for its SSL
    # context and its first connections, as a real script does.
    async with _async_uploader(args.client, target, args) as up:
        if args.video:
            return [await up.upload_chunked(args.video, args.segment, "video/mp4")]
        return await up.upload_batch(paths, args.concurrency)


def run(args: argparse.Namespace) -> dict[str, Any]:
    target = Target("127.0.0.1", args.port, args.scheme)
    paths = (
        [Path(line) for line in args.files.read_text().splitlines() if line]
        if args.files
        else []
    )
    profile = cProfile.Profile() if args.profile else None
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    measurement: _Measurement | _Light = _Measurement() if args.video else _Light()
    if profile is not None:
        profile.enable()
    error = None
    sizes: list[int] = []
    try:
        if args.client == "tweepy":
            sizes = _upload_sync(target, args, paths)
        else:
            sizes = asyncio.run(_upload_async(target, args, paths))
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    result = measurement.finish(sum(sizes), error)
    result["sizes"] = sizes
    result["minor_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    result["process_cpu"] = _cpu_total()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fresh_client", description=__doc__
    )
    parser.add_argument("client", choices=ALL_CLIENTS)
    parser.add_argument("port", type=int)
    parser.add_argument("--scheme", default="http", choices=("http", "https"))
    parser.add_argument("--files", type=Path, help="image paths, one per line")
    parser.add_argument("--video", type=Path, help="one chunked upload instead")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--segment", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--segments-in-flight", type=int, default=None)
    parser.add_argument("--profile", type=Path, help="write a cProfile here")
    args = parser.parse_args(argv)
    if bool(args.files) == bool(args.video):
        parser.error("give --files or --video")
    started = time.perf_counter()
    result = run(args)
    result["process_wall"] = time.perf_counter() - started
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
