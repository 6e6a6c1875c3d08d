"""
The live display on a terminal, drawn with rich (the ``cli`` extra).

Imported only when stdout is a terminal, so twupload itself never needs rich.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table
from rich.text import Text

from ._report import Reporter, result_text, summary


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rich.progress import Task

    from .. import ProcessingInfo
    from ._batch import Job, Outcome, Tally


LABEL_WIDTH = 32  # the most of a file name a progress row shows
LABEL_MIN = 16  # the label column's width before statistics are dropped
BAR_MIN, BAR_MAX = 10, 40
# The columns right of the label, in display order, with their widths (enough
# for "999.9/999.9 MB" and "999 bytes/s"); a bar's is its smallest.
STAT_WIDTHS = {"bar": BAR_MIN, "percent": 4, "bytes": 14, "speed": 11, "remaining": 7}
# Which of them go first when the terminal is too narrow for all.
DROP_ORDER = ("speed", "remaining", "bytes", "bar", "percent")
TABLE_GAP = 2  # spaces between the columns of a result table


def shorten(label: str, width: int = LABEL_WIDTH) -> str:
    """
    Fit *label* in *width* characters, keeping its end (the file name).
    """
    return label if len(label) <= width else "…" + label[len(label) - width + 1 :]


def make_console() -> Console:
    """
    A console on stdout that colours output but not numbers and paths it guesses at.
    """
    return Console(highlight=False)


@dataclass(frozen=True, slots=True)
class ProgressLayout:
    """
    The widths of a progress row's columns for one terminal width.

    Attributes:
        label: The label column's width.
        columns: The other columns shown, left to right, as (name, width).
    """

    label: int
    columns: tuple[tuple[str, int], ...]

    @property
    def width(self) -> int:
        """
        The width of a whole row: the columns and a space between each two.
        """
        return self.label + sum(width + 1 for _, width in self.columns)


def fit_progress(width: int) -> ProgressLayout:
    """
    Lay out a progress row in *width* cells, so that it never wraps.

    Statistics are dropped in `DROP_ORDER` until the label fits at
    `LABEL_MIN`; the room left is shared between the label (up to the
    `LABEL_WIDTH` of a name and its indent) and the bar (up to `BAR_MAX`).
    """
    shown = list(STAT_WIDTHS)

    def needed() -> int:
        return LABEL_MIN + sum(STAT_WIDTHS[name] + 1 for name in shown)

    for name in DROP_ORDER:
        if needed() <= width:
            break
        shown.remove(name)
    spare = width - needed()
    bar_room = BAR_MAX - BAR_MIN if "bar" in shown else 0
    bar_gain = max(0, min(bar_room, spare // 2))
    label_gain = min(LABEL_WIDTH + 2 - LABEL_MIN, spare - bar_gain)
    bar_gain = max(0, min(bar_room, spare - label_gain))
    widths = {**STAT_WIDTHS, "bar": BAR_MIN + bar_gain}
    return ProgressLayout(
        label=max(1, LABEL_MIN + label_gain),
        columns=tuple((name, widths[name]) for name in shown),
    )


class _LabelColumn(ProgressColumn):
    """
    A file's name, shortened to the column's current width, and a note; or
    the overall row's description (markup).
    """

    def __init__(self) -> None:
        super().__init__()
        self.width = LABEL_WIDTH + 2

    def render(self, task: Task) -> Text:
        name: str | None = task.fields.get("name")
        if name is None:
            return Text.from_markup(task.description)
        note: str = task.fields.get("note", "")
        text = Text("  " + shorten(name, max(1, self.width - 2 - len(note))))
        text.append(note, style="dim")
        return text


class FittedProgress(Progress):
    """
    A progress display whose rows fit the terminal, laid out anew at each refresh.

    Rich would wrap a row that is too wide onto a second line, and a wrapped
    row breaks the live display; so this picks the columns (`fit_progress`)
    for the console's current width every time it draws.
    """

    def __init__(self, console: Console) -> None:
        # Progress draws once while it is set up, before its `console` works.
        self._screen = console
        self._label = _LabelColumn()
        self._stats: dict[str, ProgressColumn] = {
            "bar": BarColumn(bar_width=None),
            "percent": TaskProgressColumn(),
            "bytes": DownloadColumn(),
            "speed": TransferSpeedColumn(),
            "remaining": TimeRemainingColumn(),
        }
        super().__init__(self._label, *self._stats.values(), console=console)

    def make_tasks_table(self, tasks: Iterable[Task]) -> Table:
        """
        One row per task, in the columns that fit the console's width.
        """
        layout = fit_progress(self._screen.width)
        self._label.width = layout.label
        chosen = [
            (self._label, layout.label),
            *((self._stats[name], width) for name, width in layout.columns),
        ]
        table = Table.grid(
            *(
                Column(width=width, no_wrap=True, overflow="ellipsis")
                for _, width in chosen
            ),
            padding=(0, 1),
        )
        for task in tasks:
            table.add_row(*(column(task) for column, _ in chosen))
        return table


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
        self._progress = FittedProgress(console)
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
            "", total=job.size, name=job.label, note=""
        )

    def progressed(self, job: Job, sent: int, total: int) -> None:
        delta, self._sent[job.index] = sent - self._sent[job.index], sent
        self._progress.update(self._bars[job.index], completed=sent, total=total)
        self._progress.advance(self._overall, delta)

    def processing(self, job: Job, info: ProcessingInfo) -> None:
        percent = (
            f" {info.progress_percent}%" if info.progress_percent is not None else ""
        )
        self._progress.update(self._bars[job.index], note=f" processing{percent}")

    def finished(self, outcome: Outcome, tally: Tally) -> None:
        job = outcome.job
        bar = self._bars.pop(job.index, None)
        if bar is not None:  # None: the job failed before it could start
            self._progress.remove_task(bar)
        sent = self._sent.pop(job.index, 0)
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
        """
        A table when every cell fits whole in the terminal, else a block per row.

        Nothing is ever cut short: media ids, keys and times must be copied
        exactly. A narrow terminal gets each row as its first cell and then a
        line per other column.
        """
        self._console.print(Text(title, style="bold"))
        widths = [
            max(cell_len(cell) for cell in column)
            for column in zip(headers, *rows, strict=True)
        ]
        if sum(widths) + TABLE_GAP * (len(widths) - 1) <= self._console.width:
            table = Table(
                box=box.SIMPLE_HEAD,
                show_edge=False,
                pad_edge=False,
                padding=(0, TABLE_GAP - 1, 0, 0),  # and the box's blank divider
            )
            for header in headers:
                table.add_column(header, no_wrap=True)
            for row in rows:
                table.add_row(*map(Text, row))
            self._console.print(table)
            return
        name_width = max(cell_len(header) for header in headers[1:])
        for first, *rest in rows:
            self._console.print(Text(first, style="bold"))
            for header, cell in zip(headers[1:], rest, strict=True):
                self._console.print(Text(f"  {header.ljust(name_width)}  {cell}"))
