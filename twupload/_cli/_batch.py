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

from .. import InvalidMediaError, TwUploadError


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
        error: Why it cannot be uploaded at all (a path that cannot be read,
            a directory with no media files); the run reports it as failed
            without trying.
    """

    index: int
    path: Path
    size: int
    label: str
    error: InvalidMediaError | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    How one upload ended: a *result* or an *error*, never both.

    The error is twupload's, or an `OSError` from reading the file that the
    library let through.
    """

    job: Job
    result: UploadResult | None
    error: TwUploadError | OSError | None


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


def _expand(spelled: str, suffixes: frozenset[str]) -> list[tuple[Path, str, int]]:
    """
    The files behind one PATH argument: itself, or a directory's media files.

    Raises:
        InvalidMediaError: A directory holds no media files.
        OSError: The path cannot be read.
    """
    path = Path(spelled)
    if not path.is_dir():
        return [(path, spelled, path.stat().st_size)]
    entries = sorted(
        entry
        for entry in path.iterdir()
        if not entry.name.startswith(".")
        and entry.suffix.lower() in suffixes
        and entry.is_file()
    )
    if not entries:
        raise InvalidMediaError(
            f"No media files in directory {spelled!r} (looked for "
            f"{', '.join(sorted(suffixes))}; hidden files are skipped)."
        )
    return [(entry, str(entry), entry.stat().st_size) for entry in entries]


def collect_jobs(paths: Iterable[str], *, subtitles: bool = False) -> list[Job]:
    """
    Expand the PATH arguments: files as given, directories to their media files.

    A directory contributes its non-hidden regular files with a media suffix
    (``.srt`` when *subtitles*), sorted by name, without descending further.
    A path that cannot be read, or a directory with no media files, becomes
    a job that has already failed (its `Job.error` says why), so the run
    reports it like any other failed upload and goes on with the rest.
    """
    suffixes = SUBTITLE_SUFFIXES if subtitles else MEDIA_SUFFIXES
    found = [item for spelled in paths for item in _files_of(spelled, suffixes)]
    return [
        Job(index, path, size, label, error)
        for index, (path, label, size, error) in enumerate(found)
    ]


def _files_of(
    spelled: str, suffixes: frozenset[str]
) -> list[tuple[Path, str, int, InvalidMediaError | None]]:
    """
    `_expand` one PATH argument, or give it as one file with the reason it fails.
    """
    try:
        return [
            (path, label, size, None)
            for path, label, size in _expand(spelled, suffixes)
        ]
    except InvalidMediaError as exc:
        return [(Path(spelled), spelled, 0, exc)]
    except OSError as exc:
        error = InvalidMediaError(
            f"Cannot read {spelled!r}: {exc.strerror or exc}. Check the path."
        )
        return [(Path(spelled), spelled, 0, error)]


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
    files are open at once however many there are. A failed upload, and a job
    that failed before the run (`Job.error`), is reported and counted, never
    raised; with *keep_outcomes*, the tally also keeps every outcome.
    """
    tally = Tally(files=len(jobs), outcomes=[] if keep_outcomes else None)
    # A Semaphore, not a CapacityLimiter: the feeder acquires and the upload
    # task releases, and a limiter's token belongs to the task that took it.
    slots = anyio.Semaphore(concurrency)

    def finish(outcome: Outcome) -> None:
        if outcome.error is not None:
            tally.failed += 1
        else:
            tally.uploaded += 1
            tally.bytes_uploaded += outcome.job.size
        if tally.outcomes is not None:
            tally.outcomes.append(outcome)
        reporter.finished(outcome, tally)

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
            # OSError: a read that failed in a way the library does not
            # translate (a socket or device file, an I/O error).
            except (TwUploadError, OSError) as exc:
                finish(Outcome(job, None, exc))
            else:
                finish(Outcome(job, result, None))
        finally:
            slots.release()

    async with anyio.create_task_group() as group:
        for job in jobs:
            if job.error is not None:
                finish(Outcome(job, None, job.error))
                continue
            await slots.acquire()
            group.start_soon(one, job)
    return tally
