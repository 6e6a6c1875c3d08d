"""
How a run is shown: plain lines and JSON here; the live display is in ``_rich.py``.
"""

from __future__ import annotations

import datetime as dt
import json

from typing import TYPE_CHECKING, Any, TextIO


if TYPE_CHECKING:
    from collections.abc import Sequence

    from .. import ProcessingInfo, UploadResult
    from ._batch import Job, Outcome, Tally


def human_size(size: int) -> str:
    """
    Format a byte count with decimal units, as file managers do: ``812 B``, ``1.4 MB``.
    """
    value, unit = float(size), "B"
    for larger in ("kB", "MB", "GB", "TB"):
        if value < 1000:  # noqa: PLR2004
            break
        value, unit = value / 1000, larger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def human_time(moment: dt.datetime | None) -> str:
    """
    Format a timestamp in UTC to the second; a dash when it is unknown.
    """
    if moment is None:
        return "-"
    return f"{moment.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def summary(tally: Tally) -> str:
    """
    The closing line of a run: counts, bytes and time.
    """
    counts = f"{tally.uploaded} uploaded"
    if tally.failed:
        counts += f", {tally.failed} failed"
    return (
        f"{counts} ({human_size(tally.bytes_uploaded)} in {tally.elapsed:.2f} s)."
        + (" See the messages above." if tally.failed else "")
    )


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """
    The JSON object ``--json`` prints for one file.
    """
    record: dict[str, Any] = {"path": outcome.job.label, "ok": outcome.error is None}
    if outcome.result is not None:
        result = outcome.result
        expires_at = result.expires_at
        record.update(
            media_id=result.media_id_string,
            media_key=result.media_key,
            size=result.size if result.size is not None else outcome.job.size,
            expires_at=(
                expires_at.isoformat(timespec="seconds")
                if expires_at is not None
                else None
            ),
        )
    else:
        assert outcome.error is not None  # noqa: S101 - an outcome has one of them
        record.update(error=str(outcome.error), error_type=type(outcome.error).__name__)
    return record


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """
    Lay out *rows* in left-aligned columns under *headers*, for plain output.
    """
    widths = [
        max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)
    ]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (headers, ["-" * width for width in widths], *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)


class Reporter:
    """
    Receives the events of a run; every method does nothing unless overridden.
    """

    def start(self, jobs: Sequence[Job]) -> None:
        """
        The run is about to begin with *jobs*.
        """

    def started(self, job: Job) -> None:
        """
        *job* is in flight.
        """

    def progressed(self, job: Job, sent: int, total: int) -> None:
        """
        *sent* of *total* bytes of *job* have gone out (fewer again after a retry).
        """

    def processing(self, job: Job, info: ProcessingInfo) -> None:
        """
        The service is processing *job* (GIFs and video).
        """

    def finished(self, outcome: Outcome, tally: Tally) -> None:
        """
        One upload ended; *tally* already counts it.
        """

    def stop(self) -> None:
        """
        The run ended or was interrupted: release the screen.
        """

    def summarize(self, tally: Tally) -> None:
        """
        The run completed: close with totals.
        """

    def say(self, text: str, *, style: str | None = None) -> None:
        """
        Show prose around the run, in *style* (a rich style) where there is colour.
        """

    def show_table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str
    ) -> None:
        """
        Show *rows* under *headers*.
        """


class PlainReporter(Reporter):
    """
    One line per event, for logs and pipes (stdout is not a terminal).
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _line(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def started(self, job: Job) -> None:
        self._line(f"uploading {job.label} ({human_size(job.size)})")

    def processing(self, job: Job, info: ProcessingInfo) -> None:
        percent = (
            f" {info.progress_percent}%" if info.progress_percent is not None else ""
        )
        self._line(f"processing {job.label}: {info.state}{percent}")

    def finished(self, outcome: Outcome, tally: Tally) -> None:  # noqa: ARG002
        label = outcome.job.label
        if outcome.error is not None:
            self._line(f"FAILED {label}: {outcome.error}")
        else:
            assert outcome.result is not None  # noqa: S101 - an outcome has one of them
            self._line(f"uploaded {label}: {result_text(outcome.result)}")

    def summarize(self, tally: Tally) -> None:
        self._line(summary(tally))

    def say(self, text: str, *, style: str | None = None) -> None:  # noqa: ARG002
        self._line(text)

    def show_table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str
    ) -> None:
        self._line(f"{title}\n{table(headers, rows)}")


def result_text(result: UploadResult) -> str:
    """
    The facts of an upload in one line: media id, key and expiry.
    """
    key = f", media_key {result.media_key}" if result.media_key else ""
    return f"media_id {result.media_id_string}{key}, expires {human_time(result.expires_at)}"


class JsonReporter(Reporter):
    """
    One JSON object per finished file on *out*; nothing else goes there.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err

    def finished(self, outcome: Outcome, tally: Tally) -> None:  # noqa: ARG002
        print(json.dumps(outcome_record(outcome)), file=self._out, flush=True)

    def summarize(self, tally: Tally) -> None:
        if tally.failed:
            print(
                f"twupload: {tally.failed} of {tally.files} files failed; "
                'each has "ok": false and an "error" saying what to do.',
                file=self._err,
            )
