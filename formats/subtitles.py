"""SRT and WebVTT: one writer, the two formats differing only in the data they are built with."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TextIO

from ffscribe.core.data.transcript import Transcript

from .base import WriterOptions, format_timestamp
from .cues import Cue, iter_cues
from .marks import with_music_marks


@dataclass(frozen=True)
class SubtitlesWriter:
    """Numbered or bare cues of `start --> end` and text, after an optional header."""

    name: str
    extension: str
    description: str
    decimal_marker: str
    always_hours: bool
    header: str  # written once before the cues, "" for none
    numbered: bool
    speaker_prefix: str  # formatted with the speaker's name, put before the cue text
    escape_markup: bool  # WebVTT reads `<` and `&` as markup; SRT has no escapes

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        if self.header:
            stream.write(f"{self.header}\n\n")
        segments = with_music_marks(transcript, options)
        for number, cue in enumerate(iter_cues(segments, options), start=1):
            if self.numbered:
                stream.write(f"{number}\n")
            stream.write(f"{self._time(cue.start)} --> {self._time(cue.end)}\n")
            stream.write(f"{self._text(cue)}\n\n")

    def _time(self, ms: int) -> str:
        return format_timestamp(
            ms, decimal_marker=self.decimal_marker, always_hours=self.always_hours
        )

    def _text(self, cue: Cue) -> str:
        lines: list[str] = []
        index = 0
        for pieces in cue.lines:
            shown: list[str] = []
            for piece in pieces:
                text = html.escape(piece, quote=False) if self.escape_markup else piece
                if index == cue.highlight:
                    body = text.lstrip()
                    text = f"{text[: len(text) - len(body)]}<u>{body}</u>"
                shown.append(text)
                index += 1
            # An arrow inside the text would end the cue's timing line for a parser.
            lines.append("".join(shown).replace("-->", "->"))
        text = "\n".join(lines)
        if cue.speaker:
            speaker = html.escape(cue.speaker) if self.escape_markup else cue.speaker
            text = self.speaker_prefix.format(speaker) + text
        return text


SRT = SubtitlesWriter(
    name="srt",
    extension="srt",
    description="SubRip subtitles, numbered cues with HH:MM:SS,mmm times",
    decimal_marker=",",
    always_hours=True,
    header="",
    numbered=True,
    speaker_prefix="[{}] ",
    escape_markup=False,
)

VTT = SubtitlesWriter(
    name="vtt",
    extension="vtt",
    description="WebVTT subtitles for browsers and HTML5 video",
    decimal_marker=".",
    always_hours=False,
    header="WEBVTT",
    numbered=False,
    speaker_prefix="<v {}>",
    escape_markup=True,
)
