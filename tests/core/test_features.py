"""The blockwise log-mel features are faster-whisper's own, to a few float32 ulps.

The same sums in another order (BLAS kernels pick their order by the block's shape and the
CPU) differ in the last bits: one ulp (1.2e-7 on values up to 1.5) was measured on an AMD
EPYC, none on the CPU these tests were written on. features.AGREE allows 80 ulps; a real
fault (a frame off by one hop, another floor, a block stitched wrong) moves values by 1e-3 or
more.
"""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from ffscribe.core.media import features
from ffscribe.core.media import ffmpeg as media
from ffscribe.core.media.features import BlockwiseLogMel
from tests.conftest import MEDIA


def same(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and bool(
        np.allclose(got, expected, rtol=0, atol=features.AGREE)
    )


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return media.load(str(MEDIA / "long_speech.wav")).samples


@pytest.mark.parametrize(
    "frames",
    [700, 3 * 256, 3 * 256 + 1, 3 * 256 + 255, 3 * 256 + 256, 2, 1],
)
@pytest.mark.parametrize("extra", [0, 1, 159])
def test_the_features_equal_faster_whispers(
    speech: np.ndarray, frames: int, extra: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of the shortest length allowed: every case of a last block, short or not.
    monkeypatch.setattr(features, "BLOCK_FRAMES", features.MIN_BLOCK_FRAMES)
    size = max(201, frames * 160 - 160 + extra)  # the extractor makes size // 160 + 1 frames
    samples = speech[3 * 16000 : 3 * 16000 + size]
    expected = FeatureExtractor()(samples, chunk_length=30)
    got = BlockwiseLogMel(FeatureExtractor())(samples, chunk_length=30)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert same(got, expected)


def test_the_whole_input_and_no_padding(speech: np.ndarray) -> None:
    assert same(BlockwiseLogMel(FeatureExtractor())(speech), FeatureExtractor()(speech))
    longer = np.tile(speech, 4)[: 7001 * 160]  # 7002 frames: blocks of 3000, 3000 and 1001
    assert same(BlockwiseLogMel(FeatureExtractor())(longer), FeatureExtractor()(longer))
    head = speech[:48000]
    assert same(
        BlockwiseLogMel(FeatureExtractor())(head, padding=0), FeatureExtractor()(head, padding=0)
    )


def test_inputs_too_short_to_reflect_go_to_the_extractor() -> None:
    tiny = np.linspace(-0.1, 0.1, 30, dtype=np.float32)
    assert same(BlockwiseLogMel(FeatureExtractor())(tiny), FeatureExtractor()(tiny))


def test_it_stands_in_for_the_extractor() -> None:
    inner = FeatureExtractor()
    wrapped = BlockwiseLogMel(inner)
    assert wrapped.hop_length == inner.hop_length and wrapped.time_per_frame == inner.time_per_frame
    wrapped(np.zeros(16000, np.float32), chunk_length=20)
    assert inner.n_samples == 20 * 16000 and wrapped.nb_max_frames == 20 * 16000 // 160


def test_a_part_floored_at_the_wholes_loudest_has_the_wholes_features(
    speech: np.ndarray,
) -> None:
    # A quiet stretch, then a loud one: alone, the quiet part's floor is lower.
    quiet = speech[: 8 * 16000 + 37] * np.float32(0.01)
    whole = np.concatenate([quiet, speech[8 * 16000 : 16 * 16000]])
    expected = FeatureExtractor()(whole)
    top = features.loudest(FeatureExtractor(), whole)
    # On the whole's frames (a grid of 160 from its start), from any point within it.
    assert top == pytest.approx(
        features.loudest(FeatureExtractor(), whole[16037:], grid=-16037 % 160), abs=features.AGREE
    )
    assert top != features.loudest(FeatureExtractor(), whole[16037:])
    wrapped = BlockwiseLogMel(FeatureExtractor())
    alone = wrapped(quiet)
    with wrapped.floor(top):
        floored = wrapped(quiet)
    inner = slice(0, quiet.size // 160 - 2)  # away from the end, where `whole` goes on
    assert not same(alone[:, inner], expected[:, inner])
    assert same(floored[:, inner], expected[:, inner])
    assert np.array_equal(wrapped(quiet), alone)  # the floor ends with its block: same code
    # A part louder than the top given keeps its own floor.
    with wrapped.floor(top - 10):
        assert same(wrapped(whole), expected)
    assert features.loudest(FeatureExtractor(), whole[:100]) == np.float32(-10.0)


def test_installed_only_in_place_of_faster_whispers_own_and_only_if_it_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    model = SimpleNamespace(feature_extractor=FeatureExtractor())
    assert features.install(model) and isinstance(model.feature_extractor, BlockwiseLogMel)
    assert not features.install(model)  # already in place: not wrapped twice
    other = SimpleNamespace(feature_extractor=object())
    assert not features.install(other)
    monkeypatch.setattr(features, "FLOOR_DB", 9.0)  # a faster-whisper with another floor
    fresh = SimpleNamespace(feature_extractor=FeatureExtractor())
    assert not features.install(fresh) and type(fresh.feature_extractor) is FeatureExtractor
