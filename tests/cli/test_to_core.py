"""Command-line values to core options: one rule each, shared by transcribe, serve and live."""

from __future__ import annotations

import pytest
import typer

from ffscribe.cli.to_core import (
    MusicArgs,
    SpeakerArgs,
    diarize_options,
    language_code,
    music_options,
    speaker_options,
    temperatures,
    words_wanted,
)
from ffscribe.core.data.errors import UsageError
from ffscribe.core.music.detect import MusicOptions
from ffscribe.core.speakers.turns import DiarizeOptions


def test_auto_means_found_where_the_speech_is() -> None:
    assert language_code("auto") is None and language_code(None) is None
    assert language_code("de") == "de"


def test_temperatures_fall_back_in_steps_up_to_one() -> None:
    assert temperatures(0.0, 0.2) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperatures(0.5, None) == (0.5,)
    assert temperatures(1.0, 0.2) == (1.0,)


def test_music_and_speakers_only_when_asked_or_needed() -> None:
    def music(**asked: bool) -> MusicOptions | None:
        return music_options(MusicArgs(**asked, threshold=0.4))

    assert music() is None
    assert music(detect=True) == MusicOptions(threshold=0.4)
    assert music(skip=True) == MusicOptions(threshold=0.4)  # --skip-music needs the music found
    assert music_options(MusicArgs(windows=1.0)) is not None
    assert diarize_options(SpeakerArgs()) is None
    assert diarize_options(SpeakerArgs(speakers=2)) is not None  # a count asks for speakers
    assert diarize_options(SpeakerArgs(named=True)) is not None  # --speaker-names
    assert diarize_options(SpeakerArgs(voices=True)) is not None  # --voices, --speaker-vectors
    given = SpeakerArgs(True, "offline", None, 2, 4, "m", "t", "cuda")
    assert diarize_options(given) == DiarizeOptions("offline", None, 2, 4, "m", "t", "cuda")
    with pytest.raises(typer.BadParameter):  # the command line's error
        diarize_options(SpeakerArgs(True, min_speakers=3, max_speakers=2))
    with pytest.raises(UsageError):  # a request's, answered 400 by the service
        speaker_options(SpeakerArgs(True, min_speakers=3, max_speakers=2))


def test_words_are_decoded_when_a_writer_needs_them() -> None:
    assert not words_wanted(False, False, None)
    assert words_wanted(True, False, None)
    assert words_wanted(False, True, None)  # --highlight-words
    assert words_wanted(False, False, 42)  # --max-line-width wraps at words
