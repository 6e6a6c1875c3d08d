"""
The benchmark runner: ``python -m bench [--quick] [options]``.

Workloads (all against the sink, a separate process on its own core):

- ``sign``: microseconds per OAuth 1.0a header (see `bench.signing`).
- ``a``: many 100 KiB JPEGs, 8 in flight.
- ``b``: the same images one after another (1 in flight).
- ``c``: 4.5 MiB JPEGs, 8 in flight.
- ``d``: one large MP4 through INIT/APPEND/FINALIZE; memory is the metric,
  each client in a fresh process.
- ``e``: event-loop stall: a 1 ms ticker beside a batch of ``a``'s images.
- ``fresh``, ``tls``, ``far``: each client in its own fresh process per
  repetition: loopback, HTTPS, and a far, narrow link (see `bench.fresh`).
- ``redis``: what the Redis rate-limit store costs per request next to the
  in-memory one (see `bench.redis_store`; needs redis-server).

Within a workload, each repetition runs every client back to back (the order
rotates per repetition), so ratios are taken pair by pair within a
repetition, then their median is reported. Client CPU is the runner's own
``time.process_time`` (the sink's CPU is in its own process and not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fresh, redis_store, signing
from ._common import KIB, MIB, MediaFactory
from .clients import (
    ALL_CLIENTS,
    ASYNC_CLIENTS,
    TweepyUploader,
    aiohttp_transport_available,
)
from .sink import SinkProcess


if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._common import Target


CONTENDER = "twupload"
FRESH = ("fresh", "tls", "far")
WORKLOADS = ("sign", "a", "b", "c", "d", "e", *FRESH, "redis")
# Workloads that run their own sinks and files; the rest share one sink.
SELF_CONTAINED = {"sign", *FRESH, "redis"}
TICK = 0.001
RETRY_PAUSE = 1.0
MAX_RETRIES = 60
HZ = os.sysconf("SC_CLK_TCK")
MAX_TICKS = 10_000_000
MEMORY_TIMEOUT = 900
LIBRARIES = (
    "twupload",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "authlib",
    "aiohttp",
    "oauthlib",
    "requests",
    "requests-oauthlib",
    "urllib3",
    "tweepy",
    "httpx-aiohttp",
    "psutil",
)

FULL: dict[str, float] = {
    "reps": 7,
    "small_count": 1000,
    "small_kib": 100,
    "seq_count": 200,
    "big_count": 100,
    "big_mib": 4.5,
    "video_mib": 200,
    "segment_mib": 4,
    "mem_reps": 3,
    "stall_reps": 5,
    "sign_iterations": 5000,
}
QUICK: dict[str, float] = {
    "reps": 2,
    "small_count": 300,
    "small_kib": 100,
    "seq_count": 100,
    "big_count": 24,
    "big_mib": 4.5,
    "video_mib": 50,
    "segment_mib": 4,
    "mem_reps": 1,
    "stall_reps": 1,
    "sign_iterations": 1000,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# One measured run


@dataclass
class Run:
    """
    One client, one workload, one repetition.
    """

    workload: str
    client: str
    rep: int
    uploads: int
    bytes: int
    wall: float = 0.0
    cpu: float = 0.0
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    sink_cpu: float = 0.0
    interference: float = 0.0
    attempts: int = 1
    longest_gap: float | None = None
    p99_gap: float | None = None
    peak_growth: int | None = None
    maxrss_growth: int | None = None
    sampled_growth: int | None = None


@dataclass
class _Timed:
    sizes: list[int]
    wall: float
    cpu: float
    gaps: list[float]


def _core_busy(core: int) -> float:
    """
    Seconds core *core* spent busy (any task), from /proc/stat.
    """
    prefix = f"cpu{core} "
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(prefix):
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                    int, line.split()[1:9]
                )
                return (user + nice + system + irq + softirq + steal) / HZ
    return 0.0


class Interference:
    """
    How much of a run's wall time other work took on the client's and sink's cores.

    The machine may be shared (other sessions run tests on it): with the
    client pinned to one core and the sink to another, each core's busy time
    minus what our process used there is someone else's load. A run above
    the threshold is measured again.
    """

    def __init__(self, cores: tuple[int, int] | None) -> None:
        self._cores = cores
        self._start = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> None:
        if self._cores is None:
            return
        client, sink = self._cores
        self._start = (
            time.perf_counter(),
            time.process_time(),
            _core_busy(client),
            _core_busy(sink),
        )

    def stop(self, sink_cpu: float) -> float:
        """
        The larger of the two cores' foreign load, as a fraction of wall time.
        """
        if self._cores is None:
            return 0.0
        client, sink = self._cores
        wall0, cpu0, busy0, sink0 = self._start
        wall = max(time.perf_counter() - wall0, 1e-9)
        ours = time.process_time() - cpu0
        # /proc/stat counts in ticks: allow two of them for rounding.
        slop = 2 / HZ
        client_other = _core_busy(client) - busy0 - ours - slop
        sink_other = _core_busy(sink) - sink0 - sink_cpu - slop
        return max(0.0, client_other, sink_other) / wall


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    for _ in range(MAX_TICKS):
        if stop.is_set():
            return
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def _async_batch(
    client: str,
    target: Target,
    paths: Sequence[Path],
    concurrency: int,
    *,
    stall: bool,
) -> _Timed:
    async with ASYNC_CLIENTS[client](target) as up:
        gaps: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(stop, gaps)) if stall else None
        try:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            sizes = await up.upload_batch(paths, concurrency)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            stop.set()
            if ticker is not None:
                await ticker
    return _Timed(sizes, wall, cpu, gaps)


def _sync_batch(target: Target, paths: Sequence[Path], concurrency: int) -> _Timed:
    with TweepyUploader(target) as up:
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        sizes = up.upload_batch(paths, concurrency)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return _Timed(sizes, wall, cpu, [])


def _check_sink(stats: dict[str, Any], run: Run, **expected: int) -> None:
    for key, value in expected.items():
        if stats.get(key) != value:
            run.problems.append(f"sink {key}={stats.get(key)}, expected {value}")
    for key in ("errors", "signature_failures", "chunked_refused"):
        if stats.get(key):
            run.problems.append(f"sink {key}={stats[key]}")
    run.problems.extend(f"sink: {sample}" for sample in stats.get("error_samples", []))


def measure_batch(
    *,
    workload: str,
    client: str,
    rep: int,
    sink: SinkProcess,
    paths: Sequence[Path],
    concurrency: int,
    guard: Interference,
    stall: bool = False,
) -> Run:
    expected = [path.stat().st_size for path in paths]
    run = Run(workload, client, rep, len(paths), sum(expected))
    sink.reset()
    guard.start()
    try:
        if client == "tweepy":
            timed = _sync_batch(sink.target, paths, concurrency)
        else:
            timed = asyncio.run(
                _async_batch(client, sink.target, paths, concurrency, stall=stall)
            )
    except Exception as exc:  # noqa: BLE001 - a failed client is a result
        run.problems.append(f"{type(exc).__name__}: {exc}")
        return run
    stats = sink.stats()
    run.interference = guard.stop(stats["cpu_seconds"])
    run.wall, run.cpu, run.sink_cpu = timed.wall, timed.cpu, stats["cpu_seconds"]
    if timed.sizes != expected:
        wrong = sum(a != b for a, b in zip(timed.sizes, expected, strict=False))
        run.problems.append(
            f"{wrong} sizes wrong, {len(timed.sizes)} of {len(expected)} returned"
        )
    _check_sink(stats, run, simple_uploads=len(paths), simple_bytes=sum(expected))
    if timed.gaps:
        gaps = sorted(timed.gaps)
        run.longest_gap = gaps[-1]
        run.p99_gap = gaps[int(0.99 * (len(gaps) - 1))]
    run.ok = not run.problems
    return run


def measure_memory(
    client: str, rep: int, sink: SinkProcess, path: Path, segment: int
) -> Run:
    size = path.stat().st_size
    run = Run("d", client, rep, 1, size)
    sink.reset()
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "bench.memory",
        client,
        str(path),
        str(sink.target.port),
        str(segment),
        "--segments-in-flight",
        "1",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=MEMORY_TIMEOUT,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        run.problems.append(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")
        return run
    result = json.loads(lines[-1])
    stats = sink.stats()
    run.wall, run.cpu, run.sink_cpu = (
        result["wall"],
        result["cpu"],
        stats["cpu_seconds"],
    )
    run.peak_growth = result["hwm_growth"]
    run.maxrss_growth = result["maxrss_growth"]
    run.sampled_growth = result["sampled_growth"]
    if not result["high_water_reset"]:
        run.problems.append("could not reset VmHWM (/proc/self/clear_refs)")
    if result["error"]:
        run.problems.append(result["error"])
    if result["size"] != size:
        run.problems.append(f"size {result['size']} reported, {size} sent")
    _check_sink(stats, run, inits=1, finalized=1, finalized_bytes=size)
    run.ok = not run.problems
    return run


# The whole run


@dataclass
class Settings:
    reps: int
    small_count: int
    small_kib: int
    seq_count: int
    big_count: int
    big_mib: float
    video_mib: int
    segment_mib: int
    mem_reps: int
    stall_reps: int
    sign_iterations: int
    concurrency: int
    clients: list[str]
    workloads: list[str]
    max_interference: float = 0.10
    attempts: int = 3
    quick: bool = False


@dataclass
class Results:
    settings: Settings
    machine: dict[str, Any]
    command: str
    guard: Interference
    signing: dict[str, float] = field(default_factory=dict)
    redis: dict[str, Any] = field(default_factory=dict)
    fresh: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0


def _rotated(items: Sequence[str], by: int) -> list[str]:
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def _batch_workload(
    results: Results,
    sink: SinkProcess,
    *,
    workload: str,
    paths: Sequence[Path],
    concurrency: int,
    reps: int,
    clients: Sequence[str],
    stall: bool = False,
) -> None:
    settings, guard = results.settings, results.guard
    warm = paths[: min(len(paths), 2 * concurrency + 8)]
    for client in clients:
        measure_batch(
            workload=workload,
            client=client,
            rep=-1,
            sink=sink,
            paths=warm,
            concurrency=concurrency,
            guard=guard,
            stall=stall,
        )
    for rep in range(reps):
        for client in _rotated(clients, rep):
            best: Run | None = None
            for attempt in range(1, settings.attempts + 1):
                run = measure_batch(
                    workload=workload,
                    client=client,
                    rep=rep,
                    sink=sink,
                    paths=paths,
                    concurrency=concurrency,
                    guard=guard,
                    stall=stall,
                )
                run.attempts = attempt
                if best is None or run.interference < best.interference:
                    best = run
                if (
                    run.interference <= settings.max_interference
                    or results.retries >= MAX_RETRIES
                    or attempt == settings.attempts
                ):
                    break
                results.retries += 1
                log(
                    f"  {workload} rep {rep} {client}: other load took "
                    f"{run.interference:.0%} of a core, measuring again in "
                    f"{RETRY_PAUSE:.0f} s"
                )
                time.sleep(RETRY_PAUSE)
            assert best is not None
            results.runs.append(best)
            _log_run(best)


def _log_run(run: Run) -> None:
    rate = run.uploads / run.wall if run.wall else 0.0
    gap = (
        f", longest gap {run.longest_gap * 1e3:.1f} ms"
        if run.longest_gap is not None
        else ""
    )
    failed = "" if run.ok else "  FAILED: " + "; ".join(run.problems[:3])
    log(
        f"  {run.workload} rep {run.rep} {run.client:28s} {rate:8.1f}/s"
        f"  cpu {run.cpu / run.uploads * 1e3:6.2f} ms/upload"
        f"  other load {run.interference:4.0%}{gap}{failed}"
    )


def _memory_workload(
    results: Results, sink: SinkProcess, video: Path, settings: Settings
) -> None:
    segment = settings.segment_mib * MIB
    for rep in range(settings.mem_reps):
        for client in _rotated(settings.clients, rep):
            run = measure_memory(client, rep, sink, video, segment)
            results.runs.append(run)
            growth = (run.peak_growth or 0) / MIB
            log(
                f"  d rep {rep} {client:28s} peak RSS +{growth:7.1f} MiB"
                f"  {run.bytes / MIB / run.wall if run.wall else 0:7.1f} MiB/s"
                f"{'' if run.ok else '  FAILED: ' + '; '.join(run.problems[:3])}"
            )


@dataclass
class _Files:
    small: list[Path]
    big: list[Path]
    video: Path | None


def _write_files(directory: Path, settings: Settings) -> _Files:
    wanted = set(settings.workloads)
    factory = MediaFactory(directory)
    files = _Files([], [], None)
    if wanted & {"a", "b", "e"}:
        count = max(settings.small_count, settings.seq_count)
        files.small = factory.jpegs("small", count, settings.small_kib * KIB)
    if "c" in wanted:
        size = int(settings.big_mib * MIB)
        files.big = factory.jpegs("big", settings.big_count, size)
    if "d" in wanted:
        files.video = factory.mp4("video.mp4", settings.video_mib * MIB)
    return files


def _run_workloads(results: Results, sink: SinkProcess, files: _Files) -> None:
    settings = results.settings
    wanted = set(settings.workloads)
    clients, conc, reps = settings.clients, settings.concurrency, settings.reps
    small = files.small[: settings.small_count]
    if "a" in wanted:
        log(f"a: {len(small)} x {settings.small_kib} KiB, {conc} in flight")
        _batch_workload(
            results,
            sink,
            workload="a",
            paths=small,
            concurrency=conc,
            reps=reps,
            clients=clients,
        )
    if "b" in wanted:
        sequential = files.small[: settings.seq_count]
        log(f"b: {len(sequential)} x {settings.small_kib} KiB, sequential")
        _batch_workload(
            results,
            sink,
            workload="b",
            paths=sequential,
            concurrency=1,
            reps=reps,
            clients=clients,
        )
    if "c" in wanted:
        log(f"c: {len(files.big)} x {settings.big_mib} MiB, {conc} in flight")
        _batch_workload(
            results,
            sink,
            workload="c",
            paths=files.big,
            concurrency=conc,
            reps=reps,
            clients=clients,
        )
    if files.video is not None:
        log(f"d: one {settings.video_mib} MiB MP4, chunked, fresh process each")
        _memory_workload(results, sink, files.video, settings)
    if "e" in wanted:
        log(f"e: 1 ms ticker beside {len(small)} images, {conc} in flight")
        _batch_workload(
            results,
            sink,
            workload="e",
            paths=small,
            concurrency=conc,
            reps=settings.stall_reps,
            clients=[c for c in clients if c in ASYNC_CLIENTS],
            stall=True,
        )


def run_all(settings: Settings, *, tmpdir: str | None, pin: bool) -> Results:
    """
    Run the chosen workloads; the sink and the generated files live only inside.
    """
    cores = sorted(os.sched_getaffinity(0))
    pinned = pin and len(cores) >= 2
    if pinned:
        os.sched_setaffinity(0, {cores[0]})
    elif pin:
        log("only one CPU core available: client and sink share it")
    guard = Interference((cores[0], cores[1]) if pinned else None)
    command = " ".join(["python -m bench", *sys.argv[1:]])
    results = Results(
        settings, machine_info(pinned=pinned, cores=cores), command, guard
    )
    started = time.perf_counter()
    if "sign" in settings.workloads:
        log("signing microbenchmark")
        results.signing = signing.run(iterations=settings.sign_iterations, repeats=7)
        for name, micros in results.signing.items():
            log(f"  {micros:7.1f} us  {name}")
    if set(settings.workloads) & set(FRESH):
        results.fresh = fresh.run(
            quick=settings.quick,
            clients=settings.clients,
            scenarios=settings.workloads,
            cores=(cores[0], cores[1]) if pinned else None,
            tmpdir=tmpdir,
            concurrency=settings.concurrency,
        )
    if "redis" in settings.workloads:
        results.redis = redis_store.run(quick=settings.reps < FULL["reps"])
    if set(settings.workloads) - SELF_CONTAINED:
        with (
            tempfile.TemporaryDirectory(prefix="twupload-bench-", dir=tmpdir) as tmp,
            SinkProcess(cpu=cores[1] if pinned else None) as sink,
        ):
            log(f"sink pid {sink.pid} on {sink.target.base_url}; files in {tmp}")
            files = _write_files(Path(tmp), settings)
            _run_workloads(results, sink, files)
    results.seconds = time.perf_counter() - started
    return results


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _twupload_commit() -> str:
    """
    The git commit of the twupload being measured, and whether its tree has changes.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "twupload"],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' with uncommitted changes in twupload/' if dirty else ''}"


def machine_info(*, pinned: bool, cores: list[int]) -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {name: _version(name) for name in LIBRARIES}
    return {
        "nproc": os.cpu_count(),
        "cores_available": len(cores),
        "cpu_model": model,
        "pinned": pinned,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "versions": versions,
        "twupload_commit": _twupload_commit(),
    }


# Report


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _pairs(
    runs: Sequence[Run], workload: str, client: str, metric: str
) -> float | None:
    """
    Median over repetitions of ``client / twupload`` for *metric* (wall or cpu).
    """
    mine = {r.rep: r for r in runs if r.workload == workload and r.client == client}
    ours = {r.rep: r for r in runs if r.workload == workload and r.client == CONTENDER}
    ratios = [
        getattr(mine[rep], metric) / getattr(ours[rep], metric)
        for rep in mine
        if rep in ours
        and mine[rep].ok
        and ours[rep].ok
        and getattr(ours[rep], metric) > 0
    ]
    return _median(ratios)


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _ok(runs: Sequence[Run], limit: float = 1.0) -> str:
    bad = [r for r in runs if not r.ok]
    noisy = sum(r.interference > limit for r in runs)
    note = f", {noisy} under other load" if noisy else ""
    if not bad:
        return f"{len(runs)}/{len(runs)} ok{note}"
    return f"{len(runs) - len(bad)}/{len(runs)} ok ({bad[0].problems[0][:60]}){note}"


def _batch_table(results: Results, workload: str, title: str) -> list[str]:
    runs = [r for r in results.runs if r.workload == workload]
    if not runs:
        return []
    lines = [
        f"### {title}",
        "",
        (
            "| client | uploads/s | MiB/s | client CPU per upload | sink busy "
            "| twupload speed-up (this wall / twupload wall) "
            "| twupload CPU saving (this CPU / twupload CPU) | checks |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for client in dict.fromkeys(r.client for r in runs):
        mine = [r for r in runs if r.client == client]
        good = [r for r in mine if r.ok]
        rate = _median([r.uploads / r.wall for r in good])
        mib = _median([r.bytes / MIB / r.wall for r in good])
        cpu = _median([r.cpu / r.uploads * 1e3 for r in good])
        busy = _median([r.sink_cpu / r.wall * 100 for r in good])
        speed = _pairs(runs, workload, client, "wall")
        saving = _pairs(runs, workload, client, "cpu")
        lines.append(
            f"| {client} | {_fmt(rate, '.0f')} | {_fmt(mib, '.0f')} "
            f"| {_fmt(cpu, '.2f', ' ms')} | {_fmt(busy, '.0f', ' %')} "
            f"| {_fmt(speed, '.2f', 'x')} | {_fmt(saving, '.2f', 'x')} "
            f"| {_ok(mine, results.settings.max_interference)} |"
        )
    return [*lines, ""]


def _memory_table(results: Results) -> list[str]:
    runs = [r for r in results.runs if r.workload == "d"]
    if not runs:
        return []
    lines = [
        (
            f"### d. One {results.settings.video_mib} MiB MP4, chunked "
            f"({results.settings.segment_mib} MiB segments), "
            "each client in a fresh process"
        ),
        "",
        (
            "| client | peak RSS growth (VmHWM) | peak RSS growth (sampled every 2 ms) "
            "| MiB/s | client CPU | checks |"
        ),
        "|---|---:|---:|---:|---:|---|",
    ]
    for client in dict.fromkeys(r.client for r in runs):
        mine = [r for r in runs if r.client == client]
        good = [r for r in mine if r.ok]
        growth = _median([(r.peak_growth or 0) / MIB for r in good])
        sampled = _median([(r.sampled_growth or 0) / MIB for r in good])
        rate = _median([r.bytes / MIB / r.wall for r in good])
        cpu = _median([r.cpu for r in good])
        lines.append(
            f"| {client} | {_fmt(growth, '.1f', ' MiB')} | {_fmt(sampled, '.1f', ' MiB')} "
            f"| {_fmt(rate, '.0f')} | {_fmt(cpu, '.2f', ' s')} | {_ok(mine)} |"
        )
    return [*lines, ""]


def _stall_table(results: Results) -> list[str]:
    runs = [r for r in results.runs if r.workload == "e"]
    if not runs:
        return []
    lines = [
        (
            f"### e. Event-loop stall: a {TICK * 1e3:.0f} ms ticker beside "
            f"{results.settings.small_count} x {results.settings.small_kib} KiB, "
            f"{results.settings.concurrency} in flight"
        ),
        "",
        (
            "| client | longest gap, worst run | longest gap, median run "
            "| 99th percentile gap | uploads/s | checks |"
        ),
        "|---|---:|---:|---:|---:|---|",
    ]
    for client in dict.fromkeys(r.client for r in runs):
        mine = [r for r in runs if r.client == client]
        good = [r for r in mine if r.ok and r.longest_gap is not None]
        worst = max((r.longest_gap or 0) * 1e3 for r in good) if good else None
        median = _median([(r.longest_gap or 0) * 1e3 for r in good])
        p99 = _median([(r.p99_gap or 0) * 1e3 for r in good])
        rate = _median([r.uploads / r.wall for r in good])
        lines.append(
            f"| {client} | {_fmt(worst, '.1f', ' ms')} | {_fmt(median, '.1f', ' ms')} "
            f"| {_fmt(p99, '.2f', ' ms')} | {_fmt(rate, '.0f')} "
            f"| {_ok(mine, results.settings.max_interference)} |"
        )
    return [*lines, ""]


def _targets(results: Results) -> list[str]:
    rows = []

    def speed(workload: str, goal: float, label: str) -> None:
        value = _pairs(results.runs, workload, "httpx", "wall")
        if value is not None:
            met = "yes" if value >= goal else "**no**"
            rows.append(f"| {label} | ≥ {goal}x | {value:.2f}x | {met} |")

    speed("a", 1.6, "100 KiB x 8 in flight: twupload vs plain httpx")
    speed("c", 1.3, "4.5 MiB x 8 in flight: twupload vs plain httpx")
    memory = [
        (r.peak_growth or 0) / MIB
        for r in results.runs
        if r.workload == "d" and r.client == CONTENDER and r.ok
    ]
    if memory:
        worst = max(memory)
        met = "yes" if worst <= 16 else "**no**"
        rows.append(
            f"| {results.settings.video_mib} MiB chunked: twupload peak RSS growth "
            f"(one segment in flight, worst run) | ≤ 16 MiB | {worst:.1f} MiB | {met} |"
        )
    gaps = [
        (r.longest_gap or 0) * 1e3
        for r in results.runs
        if r.workload == "e" and r.client == CONTENDER and r.ok
    ]
    if gaps:
        worst = max(gaps)
        met = "yes" if worst < 10 else "**no**"
        rows.append(
            f"| longest event-loop gap, twupload batch (worst run, includes the "
            f"{TICK * 1e3:.0f} ms sleep) | < 10 ms | {worst:.1f} ms | {met} |"
        )
    for name, micros in results.signing.items():
        if name.startswith("twupload"):
            met = "yes" if micros <= 100 else "**no**"
            rows.append(f"| {name} | ≤ 100 µs | {micros:.1f} µs | {met} |")
    if not rows:
        return []
    return [
        "### Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def report(results: Results) -> str:
    s, m = results.settings, results.machine
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        "## Results",
        "",
        (
            f"- Machine: {m['nproc']} CPUs (`nproc`), {m['cpu_model']}, "
            f"Linux {m['kernel']}; "
            f"{'client on core 0, sink on core 1' if m['pinned'] else 'not pinned'}"
        ),
        f"- Python {m['python']} ({m['implementation']}); {versions}",
        f"- twupload measured at commit {m['twupload_commit']}",
        f"- Command: `{results.command}` ({results.seconds:.0f} s)",
        (
            f"- Repetitions: {s.reps} (a, b, c), {s.mem_reps} (d), {s.stall_reps} (e); "
            "medians shown; ratios are medians of per-repetition pairs, "
            "> 1 favours twupload"
        ),
        (
            "- Runs measured again because other processes loaded a pinned core by "
            f"more than {s.max_interference:.0%}: {results.retries}"
        ),
        "",
        *_targets(results),
    ]
    if results.signing:
        lines += [
            "### Signing (µs per header; median of 7 batches)",
            "",
            "| call | µs |",
            "|---|---:|",
            *(f"| {name} | {micros:.1f} |" for name, micros in results.signing.items()),
            "",
        ]
    lines += _batch_table(
        results,
        "a",
        f"a. {s.small_count} x {s.small_kib} KiB JPEG, {s.concurrency} in flight",
    )
    lines += _batch_table(
        results, "b", f"b. {s.seq_count} x {s.small_kib} KiB JPEG, sequential"
    )
    lines += _batch_table(
        results,
        "c",
        f"c. {s.big_count} x {s.big_mib} MiB JPEG, {s.concurrency} in flight",
    )
    lines += _memory_table(results)
    lines += _stall_table(results)
    lines += fresh.report(results.fresh)
    lines += redis_store.report(results.redis)
    return "\n".join(lines)


# Command line


def parse(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, fewer repetitions (< 1 min)"
    )
    parser.add_argument("--reps", type=int, help="repetitions of a, b, c (7)")
    parser.add_argument("--small-count", type=int, help="images in a and e (1000)")
    parser.add_argument("--small-kib", type=int, help="size of those images (100)")
    parser.add_argument("--seq-count", type=int, help="images in b (200)")
    parser.add_argument("--big-count", type=int, help="images in c (100)")
    parser.add_argument("--big-mib", type=float, help="size of those images (4.5)")
    parser.add_argument("--video-mib", type=int, help="video size in d (200)")
    parser.add_argument("--segment-mib", type=int, help="APPEND segment size in d (4)")
    parser.add_argument("--mem-reps", type=int, help="repetitions of d (3)")
    parser.add_argument("--stall-reps", type=int, help="repetitions of e (5)")
    parser.add_argument("--sign-iterations", type=int, help="calls per batch (5000)")
    parser.add_argument("--concurrency", type=int, default=8, help="in flight (8)")
    parser.add_argument(
        "--clients",
        default=",".join(ALL_CLIENTS),
        help=f"comma-separated subset of {','.join(ALL_CLIENTS)}",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--max-interference",
        type=float,
        default=0.10,
        help="measure a run again when other processes took more than this "
        f"fraction of the client's or sink's core (0.10; at most {MAX_RETRIES} "
        "retries in all)",
    )
    parser.add_argument(
        "--attempts", type=int, default=3, help="tries per run under interference (3)"
    )
    parser.add_argument("--tmpdir", help="where to write the generated files")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPU cores")
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args(argv)

    base = QUICK if args.quick else FULL

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return base[name] if value is None else value

    clients = [c for c in args.clients.split(",") if c]
    unknown = set(clients) - set(ALL_CLIENTS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    if "twupload+aiohttp-transport" in clients and not aiohttp_transport_available():
        log("httpx-aiohttp is not installed: skipping twupload+aiohttp-transport")
        clients.remove("twupload+aiohttp-transport")
    if CONTENDER not in clients:
        parser.error("the twupload client is needed: ratios are taken against it")
    workloads = [w for w in args.workloads.split(",") if w]
    if set(workloads) - set(WORKLOADS):
        parser.error(f"workloads are a subset of {','.join(WORKLOADS)}")
    if min(pick("reps"), pick("mem_reps"), pick("stall_reps")) < 1:
        parser.error("repetitions must be at least 1")
    if args.attempts < 1:
        parser.error("--attempts must be at least 1")
    settings = Settings(
        reps=int(pick("reps")),
        small_count=int(pick("small_count")),
        small_kib=int(pick("small_kib")),
        seq_count=int(pick("seq_count")),
        big_count=int(pick("big_count")),
        big_mib=float(pick("big_mib")),
        video_mib=int(pick("video_mib")),
        segment_mib=int(pick("segment_mib")),
        mem_reps=int(pick("mem_reps")),
        stall_reps=int(pick("stall_reps")),
        sign_iterations=int(pick("sign_iterations")),
        concurrency=args.concurrency,
        clients=clients,
        workloads=workloads,
        max_interference=args.max_interference,
        attempts=args.attempts,
        quick=args.quick,
    )
    return settings, args


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse(argv)
    results = run_all(settings, tmpdir=args.tmpdir, pin=not args.no_pin)
    text = report(results)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        raw = {
            "settings": dataclasses.asdict(results.settings),
            "machine": results.machine,
            "command": results.command,
            "signing": results.signing,
            "redis": results.redis,
            "fresh": results.fresh,
            "runs": [dataclasses.asdict(run) for run in results.runs],
            "retries": results.retries,
            "seconds": results.seconds,
        }
        args.json.write_text(json.dumps(raw, indent=1) + "\n")
    failed = [r for r in results.runs if not r.ok]
    log(f"done in {results.seconds:.0f} s; {len(failed)} failed runs")
    return 1 if failed else 0
