"""Plain text (one line per segment, or paragraphs per speaker) and TSV (times in milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from ffscribe.core.data.transcript import Segment, Transcript

from .base import WriterOptions, one_line, to_ms
from .marks import with_music_marks


@dataclass(frozen=True)
class TextWriter:
    """Each segment's text on its own line, as openai-whisper's WriteTXT writes it.

    A diarized transcript is written as paragraphs instead: one per speaker turn, opened by
    the speaker's label (`[SPEAKER_00] `), with a blank line between paragraphs.
    """

    name: str = "txt"
    extension: str = "txt"
    description: str = "plain text, one line per segment (a paragraph per speaker turn)"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        segments = with_music_marks(transcript, options)
        if transcript.speakers is not None:
            paragraphs = _paragraphs(segments)
            if paragraphs:
                stream.write("\n\n".join(paragraphs) + "\n")
            return
        for segment in segments:
            text = one_line(segment.text)
            if not text:
                continue
            prefix = f"[{segment.speaker}] " if segment.speaker else ""
            stream.write(f"{prefix}{text}\n")


def _paragraphs(segments: tuple[Segment, ...]) -> list[str]:
    """Consecutive segments of one speaker joined into one labelled paragraph."""
    paragraphs: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        text = one_line(segment.text)
        if not text:
            continue
        if paragraphs and paragraphs[-1][0] == segment.speaker:
            paragraphs[-1][1].append(text)
        else:
            paragraphs.append((segment.speaker, [text]))
    return [(f"[{who}] " if who else "") + " ".join(texts) for who, texts in paragraphs]


@dataclass(frozen=True)
class TsvWriter:
    """`start<TAB>end<TAB>text` rows in integer milliseconds, as openai-whisper's WriteTSV.

    Milliseconds rather than seconds keep the columns free of locale decimal separators. A
    diarized transcript gets a fourth column, `speaker`, after the text, so the first three
    columns read the same with or without speakers.
    """

    name: str = "tsv"
    extension: str = "tsv"
    description: str = "tab-separated start and end (milliseconds) and text (and speaker)"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        diarized = transcript.speakers is not None
        stream.write("start\tend\ttext\tspeaker\n" if diarized else "start\tend\ttext\n")
        for segment in transcript.segments:
            text = one_line(segment.text)
            if not text:
                continue
            row = f"{to_ms(segment.start)}\t{to_ms(segment.end)}\t{text}"
            if diarized:
                row += f"\t{segment.speaker or ''}"
            stream.write(row + "\n")


TXT = TextWriter()
TSV = TsvWriter()
