"""Command-line values to core options: one rule each, shared by transcribe, serve and live."""

from __future__ import annotations

import pytest
import typer

from ffscribe.cli.to_core import diarize_options, language_code, music_options, temperatures


def test_auto_means_found_where_the_speech_is() -> None:
    assert language_code("auto") is None and language_code(None) is None
    assert language_code("de") == "de"


def test_temperatures_fall_back_in_steps_up_to_one() -> None:
    assert temperatures(0.0, 0.2) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperatures(0.5, None) == (0.5,)
    assert temperatures(1.0, 0.2) == (1.0,)


def test_music_and_speakers_only_when_asked() -> None:
    assert music_options(False, 0.5, None) is None
    assert music_options(False, 0.5, 1.0) is not None  # --music-windows alone turns it on
    assert diarize_options(False, speakers=2) is None
    with pytest.raises(typer.BadParameter):
        diarize_options(True, min_speakers=3, max_speakers=2)
