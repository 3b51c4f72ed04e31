"""RTTM (NIST Rich Transcription Time Marked): one SPEAKER line per diarization turn.

`SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`, times in seconds with
three decimals on the input's timeline, the file-id being the input's stem, as pyannote and
the NIST scoring tools read it. A transcript made without `--diarize` has no turns and so
renders as an empty file: still valid RTTM, and `--format all` keeps working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TextIO

from ffscribe.core.data.transcript import Transcript

from .base import WriterOptions

_SPACE = re.compile(r"\s+")


def _field(text: str, default: str) -> str:
    """One RTTM field: fields are split on whitespace, so none may contain any."""
    return _SPACE.sub("_", text.strip()) or default


def file_id(transcript: Transcript) -> str:
    """The input's stem (the last path or URL component without its extension)."""
    name = transcript.input_path.replace("\\", "/").rstrip("/")
    return _field(PurePosixPath(name.split("?")[0]).stem, "transcript")


@dataclass(frozen=True)
class RttmWriter:
    """Speaker turns as NIST RTTM SPEAKER lines, sorted by start time."""

    name: str = "rttm"
    extension: str = "rttm"
    description: str = "speaker turns as NIST RTTM (empty without --diarize)"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        uri = file_id(transcript)
        for turn in sorted(transcript.turns, key=lambda t: (t.start, t.end, t.speaker)):
            duration = max(0.0, turn.end - turn.start)
            speaker = _field(turn.speaker, "unknown")
            stream.write(
                f"SPEAKER {uri} 1 {turn.start:.3f} {duration:.3f} <NA> <NA> {speaker} <NA> <NA>\n"
            )


RTTM = RttmWriter()
