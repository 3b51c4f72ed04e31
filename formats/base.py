"""What every writer shares: the Writer protocol, its options, and millisecond timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TextIO

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Transcript


@dataclass(frozen=True)
class WriterOptions:
    """How subtitles are shaped for reading; text, TSV and JSON ignore these.

    `max_line_width` is characters per line, `max_line_count` lines per cue, and
    `max_words_per_line` words per line (alone it gives one line per cue, as openai-whisper's
    `--max_words_per_line` gives short cues). `highlight_words` underlines each word in turn.
    """

    max_line_width: int | None = None
    max_line_count: int | None = None
    highlight_words: bool = False
    max_words_per_line: int | None = None
    music_marks: bool = True  # `[music]` lines for music-only stretches, when music was detected

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count", "max_words_per_line"):
            value = getattr(self, name)
            if value is not None and value < 1:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be a positive whole number, not {value}")

    @property
    def shapes_cues(self) -> bool:
        """True when cues are built from word timestamps rather than taken whole from segments."""
        return self.highlight_words or any(
            v is not None
            for v in (self.max_line_width, self.max_line_count, self.max_words_per_line)
        )


DEFAULT_OPTIONS = WriterOptions()


class Writer(Protocol):
    """One output format: renders a Transcript onto a text stream; never opens files."""

    @property
    def name(self) -> str:
        """The name users type after `--format`."""
        ...

    @property
    def extension(self) -> str:
        """The file extension, without the dot."""
        ...

    @property
    def description(self) -> str:
        """One line for `--help` and the man page."""
        ...

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None: ...


def to_ms(seconds: float) -> int:
    """Seconds on the input's timeline as whole milliseconds; the one rounding every writer uses."""
    return max(0, round(seconds * 1000))


def format_timestamp(ms: int, *, decimal_marker: str = ".", always_hours: bool = False) -> str:
    """`HH:MM:SS.mmm` (hours only when needed unless `always_hours`), as SRT and VTT write it."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    prefix = f"{hours:02d}:" if always_hours or hours else ""
    return f"{prefix}{minutes:02d}:{seconds:02d}{decimal_marker}{millis:03d}"


def one_line(text: str) -> str:
    """`text` stripped, with every run of whitespace (newlines, tabs) made one space."""
    return " ".join(text.split())
