"""Command-line values to core options: one rule each, shared by transcribe, serve and live."""

from __future__ import annotations

import pytest
import typer

from ffscribe.cli.to_core import (
    diarize_options,
    language_code,
    music_options,
    temperatures,
    words_wanted,
)
from ffscribe.core.music.detect import MusicOptions


def test_auto_means_found_where_the_speech_is() -> None:
    assert language_code("auto") is None and language_code(None) is None
    assert language_code("de") == "de"


def test_temperatures_fall_back_in_steps_up_to_one() -> None:
    assert temperatures(0.0, 0.2) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperatures(0.5, None) == (0.5,)
    assert temperatures(1.0, 0.2) == (1.0,)


def test_music_and_speakers_only_when_asked_or_needed() -> None:
    def music(**asked: bool) -> MusicOptions | None:
        flags = {"detect": False, "skip": False, **asked}
        return music_options(**flags, threshold=0.4, windows=None)

    assert music() is None
    assert music(detect=True) == MusicOptions(threshold=0.4)
    assert music(skip=True) == MusicOptions(threshold=0.4)  # --skip-music needs the music found
    assert music_options(detect=False, skip=False, threshold=0.5, windows=1.0) is not None
    assert diarize_options(False) is None
    assert diarize_options(False, speakers=2) is not None  # a count asks for speakers
    assert diarize_options(False, named=True) is not None  # --speaker-names
    assert diarize_options(False, voices=True) is not None  # --voices, --speaker-vectors
    with pytest.raises(typer.BadParameter):
        diarize_options(True, min_speakers=3, max_speakers=2)


def test_words_are_decoded_when_a_writer_needs_them() -> None:
    assert not words_wanted(False, False, None)
    assert words_wanted(True, False, None)
    assert words_wanted(False, True, None)  # --highlight-words
    assert words_wanted(False, False, 42)  # --max-line-width wraps at words
