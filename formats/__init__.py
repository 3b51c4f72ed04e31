"""ffscribe.formats: one writer per output format, registered by the name users type."""

from __future__ import annotations

import io
from typing import TextIO

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Transcript

from .base import DEFAULT_OPTIONS, Writer, WriterOptions
from .json import JSON
from .rttm import RTTM
from .subtitles import SRT, VTT
from .text import TSV, TXT

__all__ = [
    "DEFAULT_OPTIONS",
    "FORMAT_NAMES",
    "WRITERS",
    "Writer",
    "WriterOptions",
    "get_writer",
    "parse_formats",
    "render",
    "write",
]

WRITERS: dict[str, Writer] = {w.name: w for w in (JSON, SRT, VTT, TXT, TSV, RTTM)}
FORMAT_NAMES: tuple[str, ...] = tuple(WRITERS)


def _known() -> str:
    return ", ".join(FORMAT_NAMES) + " or all"


def get_writer(name: str) -> Writer:
    """The writer registered as `name` (any case); UsageError naming the choices otherwise."""
    try:
        return WRITERS[name.strip().lower()]
    except KeyError:
        raise UsageError(f"unknown format {name.strip()!r}: choose from {_known()}") from None


def parse_formats(spec: str) -> tuple[str, ...]:
    """The format names in a `--format` value such as "srt, JSON" or "all", in order, once each."""
    names: list[str] = []
    for part in spec.split(","):
        name = part.strip().lower()
        if not name:
            continue
        chosen = FORMAT_NAMES if name == "all" else (get_writer(name).name,)
        names.extend(n for n in chosen if n not in names)
    if not names:
        raise UsageError(f"no output format given: choose from {_known()}")
    return tuple(names)


def write(
    transcript: Transcript, fmt: str, stream: TextIO, options: WriterOptions = DEFAULT_OPTIONS
) -> None:
    """Render `transcript` as `fmt` onto `stream` (which the caller opened and will close)."""
    get_writer(fmt).write(transcript, stream, options)


def render(transcript: Transcript, fmt: str, options: WriterOptions = DEFAULT_OPTIONS) -> str:
    """`transcript` rendered as `fmt`, as one string."""
    buffer = io.StringIO()
    write(transcript, fmt, buffer, options)
    return buffer.getvalue()
