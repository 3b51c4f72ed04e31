"""Plain text (one line per segment) and TSV (start and end in milliseconds, then the text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from ffscribe.core.transcript import Transcript

from .base import WriterOptions, one_line, to_ms


@dataclass(frozen=True)
class TextWriter:
    """Each segment's text on its own line, as openai-whisper's WriteTXT writes it."""

    name: str = "txt"
    extension: str = "txt"
    description: str = "plain text, one line per segment"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        for segment in transcript.segments:
            text = one_line(segment.text)
            if not text:
                continue
            prefix = f"[{segment.speaker}] " if segment.speaker else ""
            stream.write(f"{prefix}{text}\n")


@dataclass(frozen=True)
class TsvWriter:
    """`start<TAB>end<TAB>text` rows in integer milliseconds, as openai-whisper's WriteTSV.

    Milliseconds rather than seconds keep the columns free of locale decimal separators.
    """

    name: str = "tsv"
    extension: str = "tsv"
    description: str = "tab-separated start and end (milliseconds) and text"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        stream.write("start\tend\ttext\n")
        for segment in transcript.segments:
            text = one_line(segment.text)
            if text:
                stream.write(f"{to_ms(segment.start)}\t{to_ms(segment.end)}\t{text}\n")


TXT = TextWriter()
TSV = TsvWriter()
