"""The one place command-line values become core options, shared by `transcribe`, `transcribe
serve` and `transcribe live`, so each rule (what `auto` means, what turns diarization or music
detection on, how temperatures fall back) is decided once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.options import ModelOptions

if TYPE_CHECKING:
    from ffscribe.core.music.detect import MusicOptions
    from ffscribe.core.speakers.turns import DiarizeOptions


def language_code(language: str | None) -> str | None:
    """--language: a code, or `auto` (None): the language is found where the speech is."""
    return None if language in (None, "auto") else language


def model_options(
    name: str, *, device: str, compute_type: str, threads: int, jobs: int
) -> ModelOptions:
    return ModelOptions(
        name=name, device=device, compute_type=compute_type, threads=threads, jobs=jobs
    )


def temperatures(start: float, increment: float | None) -> tuple[float, ...]:
    """--temperature and its fallback increment as the list faster-whisper tries in turn."""
    if not increment:
        return (start,)
    steps = round((1.0 - start) / increment) if start < 1.0 else 0
    return tuple(round(start + i * increment, 4) for i in range(steps + 1))


def words_wanted(word_timestamps: bool, highlight_words: bool, max_line_width: int | None) -> bool:
    """Word times are decoded when asked for, or when a writer needs them: highlighted words
    and lines wrapped at a width are cut at word boundaries."""
    return word_timestamps or highlight_words or max_line_width is not None


def music_options(
    *, detect: bool, skip: bool, threshold: float, windows: float | None
) -> MusicOptions | None:
    """Music detection when asked for: by --detect-music, and by --skip-music and
    --music-windows, which need the music found."""
    if not (detect or skip or windows):
        return None
    from ffscribe.core.music.detect import MusicOptions

    return MusicOptions(threshold=threshold, window_seconds=windows)


def diarize_options(
    diarize: bool,
    *,
    named: bool = False,
    voices: bool = False,
    **fields: Any,
) -> DiarizeOptions | None:
    """DiarizeOptions from the command line, when asked for: by --diarize, and by the options
    that need speakers (a count or bounds, `named` speakers, known `voices` or their vectors).
    Its own checks (backend, counts) become usage errors naming the option."""
    counted = any(fields.get(k) for k in ("speakers", "min_speakers", "max_speakers"))
    if not (diarize or counted or named or voices):
        return None
    from ffscribe.core.speakers.turns import DiarizeOptions

    try:
        return DiarizeOptions(**fields)
    except UsageError as exc:
        raise typer.BadParameter(exc.message) from exc
