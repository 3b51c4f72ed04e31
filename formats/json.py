"""JSON: the whole Transcript, the one format every other can be re-rendered from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from ffscribe.core.data.transcript import Transcript

from .base import WriterOptions


@dataclass(frozen=True)
class JsonWriter:
    """The Transcript's own JSON form: UTF-8 text, not ASCII-escaped, indented, newline-ended."""

    name: str = "json"
    extension: str = "json"
    description: str = "the full result (segments, words, speakers, model), re-renderable"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        stream.write(transcript.to_json(indent=2))
        stream.write("\n")


JSON = JsonWriter()
