"""What the user sees on standard error: rich progress on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from rich.console import Console

from ffscribe.core.batch.contract import label
from ffscribe.core.batch.inputs import Input
from ffscribe.core.batch.report import InputResult

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def _seconds_column() -> type:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class SecondsColumn(ProgressColumn):
        """Seconds of audio done out of the input's duration, once the duration is known."""

        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text(task.fields.get("phase", "decoding"), style="progress.elapsed")
            return Text(f"{task.completed:.0f}/{task.total:.0f}s", style="progress.elapsed")

    return SecondsColumn


def printable(text: str) -> str:
    """`text` with every character a terminal acts on or hides written as Python escapes it
    (\\n, \\x1b, \\u202e): a file name can neither forge a line nor colour the screen."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _pace_column() -> type:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class PaceColumn(ProgressColumn):
        """Inputs transcribed per minute and the time left at that pace; skipped inputs
        (done before) count toward the bar, not toward the pace."""

        def render(self, task: Task) -> Text:
            worked, elapsed = task.fields.get("worked", 0), task.elapsed or 0.0
            if not worked or not elapsed or task.total is None:
                return Text("-/min", style="progress.elapsed")
            rate = worked / elapsed
            left = (task.total - task.completed) / rate
            return Text(
                f"{rate * 60:.1f}/min, {int(left // 60)}:{int(left % 60):02d} left",
                style="progress.remaining",
            )

    return PaceColumn


class Reporter:
    """BatchEvents for the CLI: a bar per input being worked on (several with --jobs), or
    with `archive` one bar over every input (a cluster's workers report only when an input
    is done), and one line per failure. Called from worker threads; rich's Progress is
    thread-safe."""

    def __init__(
        self, *, quiet: bool, verbose: bool, show_bars: bool | None = None, archive: bool = False
    ) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.verbose = verbose
        self.show_bars = (not quiet and sys.stderr.isatty()) if show_bars is None else show_bars
        self._bars: Progress | None = None
        self._tasks: dict[int, TaskID] = {}
        self._lock = threading.Lock()
        self.archive = archive
        self._whole: TaskID | None = None  # the archive's bar
        self._worked = 0  # inputs transcribed (or failed) so far, for the pace

    def __enter__(self) -> Reporter:
        if self.show_bars:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            last = _pace_column() if self.archive else _seconds_column()
            self._bars = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                last(),
                console=self.console,
                transient=True,
            )
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def started(self, item: Input, index: int, total: int) -> None:
        name = label(item)
        if self._bars is not None and self.archive:
            with self._lock:
                if self._whole is None:
                    self._whole = self._bars.add_task("inputs", total=total, worked=0)
        elif self._bars is not None:
            text = printable(f"[{index + 1}/{total}] {name}" if total > 1 else name)
            with self._lock:
                self._tasks[id(item)] = self._bars.add_task(text, total=None)
        elif self.verbose:
            self.info(f"[{index + 1}/{total}] {name}")

    def downloading(self, item: Input, done: float, total: float | None) -> None:
        size = f" of {total / 2**20:.1f}" if total else ""
        self._update(item, total=None, phase=f"downloading {done / 2**20:.1f}{size} MiB")

    def progress(self, item: Input, done: float, total: float) -> None:
        self._update(item, completed=done, total=total)

    def _update(self, item: Input, **fields: object) -> None:
        if self._bars is not None:
            task = self._tasks.get(id(item))
            if task is not None:
                self._bars.update(task, **fields)  # type: ignore[arg-type]

    def finished(self, item: Input, result: InputResult) -> None:
        if self._bars is not None and self._whole is not None:
            with self._lock:
                self._worked += result.status != "skipped"
                self._bars.update(self._whole, advance=1, worked=self._worked)
                whole = next(t for t in self._bars.tasks if t.id == self._whole)
                if whole.finished:  # the pace stays as it was at the end
                    self._bars.stop_task(self._whole)
        elif self._bars is not None:
            with self._lock:
                task = self._tasks.pop(id(item), None)
            if task is not None:
                self._bars.remove_task(task)
        for note in result.warnings:
            self.warning(f"{result.input}: {note}")
        if result.status == "failed":
            self.error(f"{result.input}: {result.reason}")
        elif result.status == "skipped" and self.verbose:
            self.info(f"{result.input}: skipped ({result.reason})")
        elif result.status == "done" and not self.quiet:
            for out in result.outputs:
                self.info(f"wrote {out}")

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(printable(message), markup=False)

    def warning(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"transcribe: warning: {printable(message)}", markup=False)

    def error(self, message: str) -> None:
        self.console.print(f"transcribe: error: {printable(message)}", markup=False, style="red")
