"""Silero VAD's speech probabilities, as faster-whisper computes them, a batch at a time.

faster-whisper 1.x runs its Silero model over an input in batches of 10,000 windows of 512
samples, the model's state carried from batch to batch; but it first builds every window,
with its 64 samples of context, for the whole input at once: 455 MiB above the baseline for
an hour of audio (measured; 221 MiB of it is one batch's inference, the rest the windows).
Any input decoded with the VAD filter paid that at its start, in proportion to its length.
`install` makes the process's Silero model build each batch's windows as it runs them: the
same inputs, the same state, the same probabilities, bit for bit.
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

    model.__class__ = Blockwise


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
