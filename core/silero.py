"""Silero VAD's speech probabilities, as faster-whisper computes them, a batch at a time.

faster-whisper 1.2 runs its Silero model over an input in batches of 10,000 windows of 512
samples, the model's state carried from batch to batch; but it first builds every window,
with its 64 samples of context, for the whole input at once. Through get_speech_timestamps,
an hour of audio took 656 MiB above the baseline: its own padded copy of the input (230 MiB,
still there), every window (about 230 MiB, gone) and one batch's inference (about 200 MiB);
BENCHMARKS.md, "Memory". `install` makes the process's Silero model build each batch's
windows as it runs them: the same inputs, the same state, the same probabilities, bit for
bit (checked on a probe at install, and by the tests on inputs of several batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

WINDOW = 512  # samples a probability (faster-whisper's num_samples)
CONTEXT = 64  # samples before each window it is given (context_size_samples)
BATCH = 10_000  # windows a model call: faster-whisper's, so the state passes at the same points


def install() -> None:
    """Make faster-whisper's shared Silero model (get_vad_model's one instance) compute its
    probabilities batch by batch. Idempotent; the model loads here if it had not."""
    from faster_whisper.vad import get_vad_model

    model = get_vad_model()
    if getattr(model, "blockwise", False) or not hasattr(model, "session"):
        return  # done, or an older faster-whisper (two ONNX sessions): left as it is

    class Blockwise(type(model)):  # type: ignore[misc]
        blockwise = True

        def __call__(
            self, audio: Any, num_samples: int = WINDOW, context_size_samples: int = CONTEXT
        ) -> Any:
            return probabilities(self.session, audio, num_samples, context_size_samples)

    original = type(model)
    model.__class__ = Blockwise
    probe = _probe()
    if not np.array_equal(model(probe), original.__call__(model, probe.copy())):
        model.__class__ = original  # a faster-whisper whose Silero call differs: its own


def _probe() -> Any:
    """Three seconds of a chirp in noise, a multiple of WINDOW long, the same every time."""
    rng = np.random.default_rng(7)
    t = np.arange(94 * WINDOW, dtype=np.float32) / np.float32(16000)
    tone = np.sin(2 * np.pi * (200 + 300 * t) * t).astype(np.float32)
    return (tone * np.float32(0.3) + rng.standard_normal(t.size, dtype=np.float32) * 0.05).astype(
        np.float32
    )


def probabilities(session: Any, audio: Any, window: int = WINDOW, context: int = CONTEXT) -> Any:
    """The model's speech probability for every `window` samples of `audio` (a multiple of
    `window` long), each window preceded by the `context` samples before it (zeros for the
    first), run BATCH windows a call with the state carried over. As faster-whisper does,
    the last window's last `context` samples count as zeros (it writes them into `audio`;
    this leaves `audio` alone)."""
    if audio.ndim != 1 or audio.shape[0] % window:
        raise ValueError(f"audio must be 1-D and a multiple of {window} samples long")
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    count = audio.shape[0] // window
    outputs = []
    for first in range(0, count, BATCH):
        last = min(first + BATCH, count)
        rows = np.empty((last - first, context + window), dtype=np.float32)
        rows[:, context:] = audio[first * window : last * window].reshape(-1, window)
        rows[1:, :context] = rows[:-1, -context:]
        rows[0, :context] = audio[first * window - context : first * window] if first else 0.0
        if last == count:  # faster-whisper zeroes the last window's end (in its input, too)
            rows[-1, -context:] = 0.0
        output, h, c = session.run(None, {"input": rows, "h": h, "c": c})
        outputs.append(output)
    if not outputs:
        return np.zeros((0,), dtype=np.float32)
    return np.concatenate(outputs, axis=0)
