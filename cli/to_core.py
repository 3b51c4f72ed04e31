"""The one place command-line values become core options, shared by `transcribe`, `transcribe
serve` and `transcribe live`, so each rule (what `auto` means, what turns diarization or music
detection on, how temperatures fall back) is decided once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


TEMPERATURE_INCREMENT = 0.2  # --temperature-increment-on-fallback's default


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


@dataclass(frozen=True)
class MusicArgs:
    """The music options as a command line gives them (or a request over the server's)."""

    detect: bool = False  # --detect-music
    skip: bool = False  # --skip-music
    threshold: float = 0.5  # --music-threshold
    windows: float | None = None  # --music-windows

    @classmethod
    def given(cls, params: Mapping[str, Any]) -> MusicArgs:
        """From a command's parsed parameters, named as cli/options.py declares them."""
        return cls(
            detect=params["detect_music"],
            skip=params["skip_music"],
            threshold=params["music_threshold"],
            windows=params.get("music_windows"),  # `transcribe serve` has none
        )


def music_options(args: MusicArgs) -> MusicOptions | None:
    """Music detection when asked for: by --detect-music, and by --skip-music and
    --music-windows, which need the music found."""
    if not (args.detect or args.skip or args.windows):
        return None
    from ffscribe.core.music.detect import MusicOptions

    return MusicOptions(threshold=args.threshold, window_seconds=args.windows)


@dataclass(frozen=True)
class SpeakerArgs:
    """The speaker options as a command line gives them (or a request over the server's)."""

    diarize: bool = False  # --diarize
    backend: str = "auto"  # --diarizer
    speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    model: str | None = None  # --diarization-model
    hf_token: str | None = None
    device: str = "auto"  # --device: the model's, pyannote's too
    named: bool = False  # --speaker-names given
    voices: bool = False  # --voices or --speaker-vectors given

    @classmethod
    def given(
        cls, params: Mapping[str, Any], *, named: bool = False, voices: bool = False
    ) -> SpeakerArgs:
        """From a command's parsed parameters, named as cli/options.py declares them."""
        return cls(
            diarize=params["diarize"],
            backend=params["diarizer"],
            speakers=params["speakers"],
            min_speakers=params["min_speakers"],
            max_speakers=params["max_speakers"],
            model=params["diarization_model"],
            hf_token=params["hf_token"],
            device=params["device"],
            named=named,
            voices=voices,
        )


def speaker_options(args: SpeakerArgs) -> DiarizeOptions | None:
    """DiarizeOptions when speakers are asked for: by --diarize, and by the options that
    need them (a count or bounds, named speakers, known voices or their vectors); its own
    checks (backend, counts) raise UsageError."""
    counted = args.speakers or args.min_speakers or args.max_speakers
    if not (args.diarize or counted or args.named or args.voices):
        return None
    from ffscribe.core.speakers.turns import DiarizeOptions

    return DiarizeOptions(
        backend=args.backend,
        speakers=args.speakers,
        min_speakers=args.min_speakers,
        max_speakers=args.max_speakers,
        model=args.model,
        hf_token=args.hf_token,
        device=args.device,
    )


def diarize_options(args: SpeakerArgs) -> DiarizeOptions | None:
    """`speaker_options` for a command line: its checks become usage errors naming the option."""
    try:
        return speaker_options(args)
    except UsageError as exc:
        raise typer.BadParameter(exc.message) from exc
