"""Whisper's log-mel features, as faster-whisper computes them, a block of frames at a time.

faster-whisper's FeatureExtractor turns a whole input into frames in one go: the windowed
frames (400 float32 per 10 ms), their spectrum and its power all exist at once, with their
temporaries: 2979 MiB above the baseline for an hour of audio, the features themselves 110 MiB
of it (BENCHMARKS.md, "Memory"). An unsplit hour-long input paid that at its peak.
BlockwiseLogMel gives the same numbers, to within `AGREE` (the same sums in another order:
a few float32 ulps where a CPU's BLAS picks another order for a block's shape, the same bits
elsewhere), holding one block of frames at a time (159 MiB for the hour, features included);
`install` puts it in a model's place after checking that on a probe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

BLOCK_FRAMES = 3000  # 30 s of frames a block: about 20 MiB of intermediate arrays
# A last block shorter than this joins the one before: BLAS multiplies a few columns in
# another order than many (under 16 frames, the mel power differs in its last bit).
MIN_BLOCK_FRAMES = 256
# Features that agree to this (80 float32 ulps at 1.0) are the same computation; another
# algorithm (floor, scaling, framing) differs by 1e-3 or more.
AGREE = 1e-5
FLOOR_DB = 8.0  # Whisper's dynamic range: log10 power below the loudest frame's minus this


def install(model: Any) -> bool:
    """Give a faster-whisper WhisperModel a BlockwiseLogMel for its feature extractor, if
    the extractor is faster-whisper's own and the two agree on a probe signal (a later
    faster-whisper computing its features differently keeps its own). True if installed."""
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = model.feature_extractor
    if type(extractor) is not FeatureExtractor:
        return False
    rng = np.random.default_rng(7)
    probe = rng.standard_normal(16000 * 3 + 123, dtype=np.float32) * np.float32(0.1)
    probe[16000:32000] *= np.float32(20.0)  # a loud stretch, then digital silence: the
    probe[40000:] = 0.0  # floor below the loudest frame decides the quiet frames
    blockwise = BlockwiseLogMel(extractor)
    if not np.allclose(blockwise(probe), extractor(probe), rtol=0, atol=AGREE):
        return False
    model.feature_extractor = blockwise
    return True


class BlockwiseLogMel:
    """A stand-in for a faster-whisper FeatureExtractor (installed as the model's
    `feature_extractor`): calls give the extractor's very features, made block by block;
    every attribute is the wrapped extractor's."""

    def __init__(self, extractor: Any) -> None:
        self._inner = extractor
        self._local = threading.local()

    @contextmanager
    def floor(self, top: Any) -> Iterator[None]:
        """Within this block, on this thread, the floor is FLOOR_DB below `top` (a log10 mel
        power, e.g. a whole input's loudest, from `loudest`) rather than below the loudest
        frame of the audio at hand, unless that is louder: the features of a part cut from
        a long input are then those of the whole, but for the few frames at its ends, which
        see its own samples reflected where the whole has its neighbours'. Inputs too short
        for a frame (the extractor's own path) keep their own floor."""
        self._local.top = np.float32(top)
        try:
            yield
        finally:
            self._local.top = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, waveform: Any, padding: int = 160, chunk_length: int | None = None) -> Any:
        inner = self._inner
        if chunk_length is not None:  # as the extractor does: later reads depend on it
            inner.n_samples = chunk_length * inner.sampling_rate
            inner.nb_max_frames = inner.n_samples // inner.hop_length
        samples = np.asarray(waveform, dtype=np.float32)
        n_fft = int(inner.n_fft)
        if samples.ndim != 1 or samples.size + padding <= n_fft // 2:
            return inner(waveform, padding=padding, chunk_length=chunk_length)  # reflect
            # padding needs more samples than half a window: the extractor's own path
        log_spec = log_mel_power(samples, inner.mel_filters, n_fft, inner.hop_length, padding)
        loudest = log_spec.max()
        top = getattr(self._local, "top", None)
        if top is not None and top > loudest:
            loudest = top
        np.maximum(log_spec, loudest - FLOOR_DB, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec


def loudest(extractor: Any, samples: Any, grid: int = 0) -> Any:
    """The largest log10 mel power of `samples` (np.float32; -10.0 when there are too few
    samples for a frame), on frames centred `grid` samples into them and every hop after:
    where the frames of a longer signal that has `samples` inside it fall."""
    samples = np.asarray(samples, dtype=np.float32)[grid:]
    if samples.size <= extractor.n_fft // 2:
        return np.float32(-10.0)
    power = log_mel_power(samples, extractor.mel_filters, extractor.n_fft, extractor.hop_length, 0)
    return power.max() if power.size else np.float32(-10.0)


def log_mel_power(samples: Any, mel_filters: Any, n_fft: int, hop: int, padding: int = 160) -> Any:
    """log10 of the mel power of `samples` (float32, 1-D), frame by frame, as
    FeatureExtractor computes it before its floor: `padding` zeros appended, the signal
    reflected by half a window at both ends, Hann-windowed frames every `hop` samples, the
    last frame dropped. Returns (mels, frames) float32."""
    half = n_fft // 2
    length = samples.size + padding  # the signal with its zeros, before reflection
    frames = (length + 2 * half - n_fft) // hop  # one fewer than the extractor makes
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.empty((mel_filters.shape[0], frames), dtype=np.float32)
    for first, last in frame_blocks(frames):
        span = _padded(samples, padding, half, first * hop, (last - 1) * hop + n_fft)
        windows = np.lib.stride_tricks.sliding_window_view(span, n_fft)[::hop] * window
        spectrum = np.fft.rfft(windows, n=n_fft, axis=-1).astype(np.complex64).T
        power = np.abs(spectrum) ** 2
        mel = mel_filters @ power
        out[:, first:last] = np.log10(np.clip(mel, a_min=1e-10, a_max=None))
    return out


def frame_blocks(frames: int) -> list[tuple[int, int]]:
    """[first, last) ranges of BLOCK_FRAMES frames covering `frames`, a last one shorter than
    MIN_BLOCK_FRAMES joined to the one before (so a block's matrix product adds up in the
    same order as one over every frame)."""
    starts = list(range(0, frames, BLOCK_FRAMES))
    if len(starts) > 1 and frames - starts[-1] < MIN_BLOCK_FRAMES:
        starts.pop()
    return list(zip(starts, [*starts[1:], frames], strict=True))


def _padded(samples: Any, padding: int, half: int, start: int, stop: int) -> Any:
    """[start, stop) of `samples` with `padding` zeros appended, then reflected by `half` at
    both ends (numpy's "reflect" pad), without copying the whole signal: a view inside it,
    gathered by index only where a block reaches an end."""
    first, last = start - half, stop - half  # positions in the unreflected signal
    if first >= 0 and last <= samples.size:
        return samples[first:last]
    length = samples.size + padding
    at = np.abs(np.arange(first, last))  # reflection about 0
    at = np.where(at >= length, 2 * (length - 1) - at, at)  # and about the last sample
    zeros = at >= samples.size
    values = samples[np.minimum(at, samples.size - 1)]
    values[zeros] = 0.0
    return values
