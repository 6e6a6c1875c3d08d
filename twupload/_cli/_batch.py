"""
What the command line uploads: the files behind the PATH arguments, and the run over them.
"""

from __future__ import annotations

import time

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .. import TwUploadError


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .. import AsyncMediaClient, UploadResult
    from ._report import Reporter


MEDIA_SUFFIXES = frozenset(
    {".gif", ".jpeg", ".jpg", ".m4v", ".mov", ".mp4", ".png", ".webp"}
)
SUBTITLE_SUFFIXES = frozenset({".srt"})


class CommandError(Exception):
    """
    The command cannot run; the message says what to change.

    Attributes:
        status: The exit status: 2 for usage and configuration errors, 1 otherwise.
    """

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Job:
    """
    One file to upload.

    Attributes:
        index: Its position among all the files of the run.
        path: Where it is.
        size: Its size when the run started, in bytes.
        label: How messages name it (the path as the user spelled it).
    """

    index: int
    path: Path
    size: int
    label: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    How one upload ended: a *result* or an *error*, never both.
    """

    job: Job
    result: UploadResult | None
    error: TwUploadError | None


@dataclass(slots=True)
class Tally:
    """
    Running totals of a run, for the summary line.

    Attributes:
        files: How many files the run has.
        uploaded: How many finished successfully so far.
        failed: How many failed so far.
        bytes_uploaded: Size of the uploaded files.
        started_at: `time.monotonic` when the run began.
        outcomes: Every outcome, in the order they came, when the run keeps them.
    """

    files: int
    uploaded: int = 0
    failed: int = 0
    bytes_uploaded: int = 0
    started_at: float = field(default_factory=time.monotonic)
    outcomes: list[Outcome] | None = None

    @property
    def elapsed(self) -> float:
        """
        Seconds since the run began.
        """
        return time.monotonic() - self.started_at


def collect_jobs(paths: Iterable[str], *, subtitles: bool = False) -> list[Job]:
    """
    Expand the PATH arguments: files as given, directories to their media files.

    A directory contributes its non-hidden regular files with a media suffix
    (``.srt`` when *subtitles*), sorted by name, without descending further.

    Raises:
        CommandError: A path cannot be read, or a directory holds no media files.
    """
    suffixes = SUBTITLE_SUFFIXES if subtitles else MEDIA_SUFFIXES
    found: list[tuple[Path, str, int]] = []
    for spelled in paths:
        path = Path(spelled)
        if path.is_dir():
            entries = sorted(
                entry
                for entry in path.iterdir()
                if not entry.name.startswith(".")
                and entry.suffix.lower() in suffixes
                and entry.is_file()
            )
            if not entries:
                raise CommandError(
                    f"No media files in directory {spelled!r} (looked for "
                    f"{', '.join(sorted(suffixes))}; hidden files are skipped)."
                )
            found.extend((entry, str(entry), entry.stat().st_size) for entry in entries)
        else:
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise CommandError(
                    f"Cannot read {spelled!r}: {exc.strerror or exc}."
                ) from None
            found.append((path, spelled, size))
    return [
        Job(index, path, size, label) for index, (path, label, size) in enumerate(found)
    ]


async def run_jobs(
    client: AsyncMediaClient,
    jobs: Sequence[Job],
    *,
    reporter: Reporter,
    concurrency: int,
    options: dict[str, Any],
    keep_outcomes: bool = False,
) -> Tally:
    """
    Upload every job with at most *concurrency* in flight, telling *reporter* as it goes.

    Each upload gets its own progress callback, which `iter_upload` cannot
    give (its options are shared by every source); so this runs its own task
    group, fed one job at a time as slots free up, so at most *concurrency*
    files are open at once however many there are. A failed upload is reported
    and counted, never raised; with *keep_outcomes*, the tally also keeps every
    outcome.
    """
    tally = Tally(files=len(jobs), outcomes=[] if keep_outcomes else None)
    # A Semaphore, not a CapacityLimiter: the feeder acquires and the upload
    # task releases, and a limiter's token belongs to the task that took it.
    slots = anyio.Semaphore(concurrency)

    async def one(job: Job) -> None:
        try:
            reporter.started(job)
            try:
                result = await client.upload(
                    job.path,
                    on_progress=partial(reporter.progressed, job),
                    on_processing=partial(reporter.processing, job),
                    **options,
                )
            except TwUploadError as exc:
                tally.failed += 1
                outcome = Outcome(job, None, exc)
            else:
                tally.uploaded += 1
                tally.bytes_uploaded += job.size
                outcome = Outcome(job, result, None)
            if tally.outcomes is not None:
                tally.outcomes.append(outcome)
            reporter.finished(outcome, tally)
        finally:
            slots.release()

    async with anyio.create_task_group() as group:
        for job in jobs:
            await slots.acquire()
            group.start_soon(one, job)
    return tally
