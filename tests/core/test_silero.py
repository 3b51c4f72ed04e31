"""Silero's probabilities, batch by batch, are faster-whisper's own, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import SileroVADModel, VadOptions, get_speech_timestamps, get_vad_model

from ffscribe.core.asr import silero
from ffscribe.core.media import ffmpeg as media
from tests.conftest import MEDIA


def _original(audio: np.ndarray) -> np.ndarray:
    model = get_vad_model()  # the original writes zeros into its input: give it a copy
    return np.asarray(SileroVADModel.__call__(model, audio.copy()))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    samples = media.load(str(MEDIA / "long_speech.wav")).samples
    return samples[: samples.size // 512 * 512]


def test_probabilities_equal_faster_whispers_across_batches(speech: np.ndarray) -> None:
    session = get_vad_model().session
    kept = speech.copy()
    # 20 s is 625 windows: one batch as faster-whisper runs it...
    assert np.array_equal(silero.probabilities(session, speech), _original(speech))
    # ...and over 10,000 windows (a long input), several, with the state carried between.
    long = np.tile(speech, 40)
    assert long.size // 512 > 2 * silero.BATCH
    assert np.array_equal(silero.probabilities(session, long), _original(long))
    assert np.array_equal(speech, kept)  # its input left alone


def test_the_speech_found_is_faster_whispers_and_its_model_is_left_alone(
    speech: np.ndarray,
) -> None:
    options = VadOptions(min_silence_duration_ms=500)
    found = silero.speech_timestamps(speech, options)
    model = get_vad_model()
    assert type(model) is SileroVADModel  # the process's shared model is not changed
    assert silero._speech_function() is not get_speech_timestamps  # the blockwise one runs
    assert len(found) >= 4 and get_speech_timestamps(speech, options) == found
    with pytest.raises(ValueError, match="multiple of 512"):
        silero.probabilities(model.session, speech[:1000])


def test_a_silero_call_that_differs_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silero, "_function", None)
    monkeypatch.setattr(silero, "probabilities", lambda *args: np.zeros(94, np.float32))
    assert silero._speech_function() is get_speech_timestamps  # the probe disagrees
    monkeypatch.undo()
    assert silero._speech_function() is not get_speech_timestamps


def test_workarounds_apply_only_to_the_versions_they_were_written_for() -> None:
    import faster_whisper

    from ffscribe.core.asr.workarounds import supported

    assert supported(faster_whisper.__version__)  # the pinned range holds what is installed
    assert supported("1.2.1") and not supported("1.1.1") and not supported("2.0.0")
    assert not supported("nightly")
