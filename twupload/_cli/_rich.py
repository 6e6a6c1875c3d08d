"""
The live display on a terminal, drawn with rich (the ``cli`` extra).

Imported only when stdout is a terminal, so twupload itself never needs rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from ._report import Reporter, result_text, summary


if TYPE_CHECKING:
    from collections.abc import Sequence

    from .. import ProcessingInfo
    from ._batch import Job, Outcome, Tally


LABEL_WIDTH = 32


def shorten(label: str, width: int = LABEL_WIDTH) -> str:
    """
    Fit *label* in *width* characters, keeping its end (the file name).
    """
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def make_console() -> Console:
    """
    A console on stdout that colours output but not numbers and paths it guesses at.
    """
    return Console(highlight=False)


class RichReporter(Reporter):
    """
    Overall bytes and files, one bar per file in flight, and a line per finished file.

    Args:
        console: Where to draw.
        echo: Print a line for every uploaded file, not only for failures.
    """

    def __init__(self, console: Console, *, echo: bool = True) -> None:
        self._console = console
        self._echo = echo
        self._progress = Progress(
            TextColumn(
                "{task.description}",
                table_column=Column(min_width=LABEL_WIDTH + 2, no_wrap=True),
            ),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._overall = TaskID(-1)
        self._total = 0
        self._files = 0
        self._bars: dict[int, TaskID] = {}
        self._sent: dict[int, int] = {}

    def _overall_text(self, tally: Tally | None = None) -> str:
        done = tally.uploaded + tally.failed if tally else 0
        failed = f" [red]{tally.failed} failed[/]" if tally and tally.failed else ""
        return f"[bold]{done}/{self._files} files[/]{failed}"

    def start(self, jobs: Sequence[Job]) -> None:
        self._files = len(jobs)
        self._total = sum(job.size for job in jobs)
        self._overall = self._progress.add_task(self._overall_text(), total=self._total)
        self._progress.start()

    def started(self, job: Job) -> None:
        self._sent[job.index] = 0
        self._bars[job.index] = self._progress.add_task(
            self._label(job), total=job.size
        )

    def _label(self, job: Job, note: str = "") -> str:
        return "  " + escape(shorten(job.label)) + note

    def progressed(self, job: Job, sent: int, total: int) -> None:
        delta, self._sent[job.index] = sent - self._sent[job.index], sent
        self._progress.update(self._bars[job.index], completed=sent, total=total)
        self._progress.advance(self._overall, delta)

    def processing(self, job: Job, info: ProcessingInfo) -> None:
        percent = (
            f" {info.progress_percent}%" if info.progress_percent is not None else ""
        )
        self._progress.update(
            self._bars[job.index],
            description=self._label(job, f" [dim]processing{percent}[/]"),
        )

    def finished(self, outcome: Outcome, tally: Tally) -> None:
        job = outcome.job
        self._progress.remove_task(self._bars.pop(job.index))
        sent = self._sent.pop(job.index)
        if outcome.error is not None:
            # What was never sent leaves the total, so the overall bar still ends full.
            self._total -= job.size - sent
            self._progress.update(self._overall, total=self._total)
            self._progress.console.print(
                f"[red]✗ {escape(job.label)}[/]: {escape(str(outcome.error))}"
            )
        else:
            self._progress.advance(self._overall, job.size - sent)
            if self._echo:
                assert outcome.result is not None  # noqa: S101 - one of them is set
                self._progress.console.print(
                    f"[green]✓[/] {escape(job.label)}: "
                    f"{escape(result_text(outcome.result))}"
                )
        self._progress.update(self._overall, description=self._overall_text(tally))

    def stop(self) -> None:
        self._progress.stop()

    def summarize(self, tally: Tally) -> None:
        self._console.print(
            escape(summary(tally)), style="bold red" if tally.failed else "bold"
        )

    def say(self, text: str, *, style: str | None = None) -> None:
        self._console.print(escape(text), style=style)

    def show_table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str
    ) -> None:
        table = Table(title=title, title_justify="left", title_style="bold")
        for header in headers:
            table.add_column(header, no_wrap=True)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        self._console.print(table)
