"""What `transcribe live` shows and writes: the terminal view (committed text normal, the
changing tail dimmed, rewritten in place), plain committed lines for pipes, and output files
valid after every committed segment."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ffscribe.cli.progress import printable
from ffscribe.core.asr.live import Committed, Event, Partial
from ffscribe.core.batch.outputs import atomic_write_text
from ffscribe.core.data.errors import OutputError
from ffscribe.core.data.transcript import Transcript

if TYPE_CHECKING:
    from rich.live import Live


def clock(seconds: float) -> str:
    """HH:MM:SS.mmm, as a committed line shows its times."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


class LinesView:
    """Committed segments only, one line each, flushed: what a pipe (`| grep`) wants."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False  # the reader went away (`| head`): the run ends quietly

    def show(self, event: Event) -> None:
        if not isinstance(event, Committed) or self.closed:
            return
        s = event.segment
        try:
            self.stream.write(f"[{clock(s.start)} --> {clock(s.end)}] {s.text.strip()}\n")
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)  # Python's own flush at exit must not fail
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def close(self) -> None:
        """Nothing held open."""


class TerminalView:
    """rich on a terminal: each committed segment printed for good, the open one redrawn."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self.console = Console(highlight=False, soft_wrap=True)
        self.live: Live = Live(Text(""), console=self.console, auto_refresh=False)
        self.live.start()
        self.closed = False

    def show(self, event: Event) -> None:
        from rich.text import Text

        if isinstance(event, Committed):
            s = event.segment
            line = Text()
            line.append(f"[{clock(s.start)}] ", "dim")
            line.append(printable(s.text.strip()))
            self.live.update(Text(""), refresh=True)  # printed above the open line: not twice
            self.live.console.print(line)
        elif isinstance(event, Partial):
            text = Text(printable(event.stable))
            if event.tentative:
                text.append((" " if event.stable else "") + printable(event.tentative), "dim")
            self.live.update(text, refresh=True)

    def close(self) -> None:
        from rich.text import Text

        self.live.update(Text(""), refresh=True)
        self.live.stop()


Render = Callable[[Transcript, str], str]


class LiveFiles:
    """Output files kept valid after every committed segment: a format whose new rendering
    extends what is on disk (SRT, VTT, TXT, TSV) gets the difference appended and flushed;
    one that does not (JSON closes its brackets) is rewritten and renamed into place. At the
    end every file is rendered whole and renamed into place."""

    def __init__(self, dests: dict[str, Path], render: Render) -> None:
        self.dests = dests
        self.render = render
        self.written: dict[str, str] = {}
        self.handles: dict[str, TextIO] = {}

    def update(self, transcript: Transcript) -> None:
        for fmt, dest in self.dests.items():
            text = self.render(transcript, fmt)
            before = self.written.get(fmt)
            if before is not None and text.startswith(before) and fmt in self.handles:
                try:
                    handle = self.handles[fmt]
                    handle.write(text[len(before) :])
                    handle.flush()
                except OSError as exc:
                    raise OutputError(
                        f"cannot write: {exc.strerror or exc}", path=str(dest)
                    ) from exc
            else:
                self._replace(fmt, dest, text)
                if fmt not in _REWRITTEN:
                    self.handles[fmt] = self._append(dest)
            self.written[fmt] = text

    def finish(self, transcript: Transcript) -> None:
        """Every file complete, written to a temporary name and renamed over the last one."""
        self.close()
        for fmt, dest in self.dests.items():
            self._replace(fmt, dest, self.render(transcript, fmt))

    def close(self) -> None:
        for handle in self.handles.values():
            with contextlib.suppress(OSError):
                handle.close()
        self.handles.clear()

    def _replace(self, fmt: str, dest: Path, text: str) -> None:
        handle = self.handles.pop(fmt, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
        atomic_write_text(dest, text)

    @staticmethod
    def _append(dest: Path) -> TextIO:
        try:
            return dest.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path=str(dest)) from exc


_REWRITTEN = frozenset({"json"})  # never a prefix of its next rendering: not kept open
