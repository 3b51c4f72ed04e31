"""The offline diarizer on long inputs: neighbour context and embedding in linear memory.

Each comparison is of one computation done in blocks against it done at once: the same sums,
in an order a CPU's BLAS may pick by shape. They agree to a few float32 ulps (measured: 5e-7
relative on an AMD EPYC, the same bits on the CPU these were written on); the tolerances allow
about 80 ulps, far under what a real fault (a window moved by a frame, a batch misplaced) gives.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ffscribe.core.media import features
from ffscribe.core.media.ffmpeg import load
from ffscribe.core.speakers.encoder import PARTIAL_FRAMES, SpeakerEncoder, unit_rows
from ffscribe.core.speakers.offline import (
    CONTEXT,
    EMBED_BATCH,
    embed_windows,
    in_context,
    speech_regions,
    windows,
)

MEDIA = Path(__file__).parents[1] / "fixtures" / "media"


def dense_in_context(embeddings: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The reference: a mask of every pair of windows, as the diarizer computed it before."""
    near = np.abs(starts[:, None] - starts[None, :]) <= CONTEXT
    return unit_rows(near.astype(np.float32) @ embeddings)


def hop_starts(rng: np.random.Generator, count: int) -> np.ndarray:
    """Window starts as the diarizer places them: about every 40 frames, the last flush."""
    return np.round(np.linspace(0, 40 * (count - 1) - rng.integers(0, 30), count)).astype(np.int64)


@pytest.mark.parametrize("count", [1, 2, 57, 4000, 4321])
@pytest.mark.parametrize("spacing", ["hop", "random"])
def test_in_context_matches_the_dense_mask(count: int, spacing: str) -> None:
    rng = np.random.default_rng(count)
    if spacing == "hop":
        starts = hop_starts(rng, count)
    else:  # ties and gaps both: from no neighbour to dozens
        starts = np.sort(rng.integers(0, 20 * count, count)).astype(np.int64)
    # d-vectors are ReLU outputs, L2-normalised
    embeddings = unit_rows(np.maximum(rng.standard_normal((count, 256)), 0).astype(np.float32))
    got = in_context(embeddings, starts)
    assert got.dtype == np.float32 and got.shape == embeddings.shape
    np.testing.assert_allclose(got, dense_in_context(embeddings, starts), rtol=0, atol=1e-6)
    shuffle = rng.permutation(count)  # the order of the windows does not matter
    np.testing.assert_allclose(
        in_context(embeddings[shuffle], starts[shuffle]), got[shuffle], rtol=0, atol=1e-6
    )


def test_in_context_of_no_windows() -> None:
    empty = np.zeros((0, 256), dtype=np.float32)
    assert in_context(empty, np.zeros(0, dtype=np.int64)).shape == (0, 256)


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    if importlib.util.find_spec("resemblyzer") is None:  # its import would load torch
        pytest.skip("resemblyzer is not installed")
    return SpeakerEncoder.load()


def test_batched_embedding_is_embedding_all_at_once(encoder: SpeakerEncoder) -> None:
    names = ("dialogue2", "dialogue3", "long_speech") * 2  # windows for two batches and a part
    samples = np.concatenate([load(str(MEDIA / f"{name}.wav")).samples for name in names])
    samples = np.asarray(samples, dtype=np.float32)
    regions = speech_regions(samples)
    mel = encoder.mel(samples)
    timeline, starts = windows(regions, len(mel))
    assert len(starts) > 2 * EMBED_BATCH and len(starts) % EMBED_BATCH
    everything = np.stack([mel[timeline[s : s + PARTIAL_FRAMES]] for s in starts])
    batched = embed_windows(encoder, mel, timeline, starts)
    np.testing.assert_allclose(batched, encoder.embed(everything), rtol=0, atol=1e-5)  # unit rows
    assert embed_windows(encoder, mel, timeline, starts[:0]).shape == (0, 256)


def whole_mel(encoder: SpeakerEncoder, samples: np.ndarray) -> np.ndarray:
    """The reference: every frame's spectrum at once, as the encoder computed it before."""
    padded = np.pad(samples.astype(np.float32), 200)
    count = 1 + (len(padded) - 400) // 160
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, 400), strides=(padded.strides[0] * 160, padded.strides[0])
    )
    window = np.hanning(401)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power.astype(np.float32) @ encoder.mel_basis).astype(np.float32)


@pytest.mark.parametrize("frames", [1, 300, 3 * 256, 3 * 256 + 1, 3 * 256 + 255, 3 * 256 + 256])
def test_the_mel_of_blocks_is_the_mel_of_the_whole(
    encoder: SpeakerEncoder, frames: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of the shortest length allowed: every case of a last block, short or not.
    monkeypatch.setattr(features, "BLOCK_FRAMES", features.MIN_BLOCK_FRAMES)
    samples = load(str(MEDIA / "long_speech.wav")).samples[16000 : 16000 + (frames - 1) * 160]
    expected = whole_mel(encoder, samples)
    got = encoder.mel(samples)
    assert got.shape == expected.shape == (frames, 40)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * float(expected.max(initial=0)))
