"""Silero VAD's speech probabilities, as faster-whisper computes them, a batch at a time.

faster-whisper 1.2 runs its Silero model over an input in batches of 10,000 windows of 512
samples, the model's state carried from batch to batch; but it first builds every window,
with its 64 samples of context, for the whole input at once: hundreds of MiB on an hour
(BENCHMARKS.md, "Memory"). `speech_timestamps` is faster-whisper's own function run with a
model that builds each batch's windows as it runs them: the same inputs, the same state, the
same probabilities, bit for bit (checked on a probe on first use, and by the tests on inputs
of several batches). faster-whisper's shared model is left as it is, for any other user of
faster-whisper in the process.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np

WINDOW = 512  # samples a probability (faster-whisper's num_samples)
CONTEXT = 64  # samples before each window it is given (context_size_samples)
BATCH = 10_000  # windows a model call: faster-whisper's, so the state passes at the same points


class Blockwise:
    """faster-whisper's Silero model called a batch of windows at a time, on its session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(
        self, audio: Any, num_samples: int = WINDOW, context_size_samples: int = CONTEXT
    ) -> Any:
        return probabilities(self.session, audio, num_samples, context_size_samples)


_lock = threading.Lock()
_function: Callable[..., list[dict[str, int]]] | None = None


def speech_timestamps(samples: Any, options: Any = None) -> list[dict[str, int]]:
    """faster-whisper's `get_speech_timestamps(samples, options)`, its Silero windows built a
    batch at a time (bounded memory); faster-whisper's own where the two would differ."""
    return _speech_function()(samples, options)


def prepare() -> None:
    """Load the voice detector and check the blockwise model against it, once per process."""
    _speech_function()


def _speech_function() -> Callable[..., list[dict[str, int]]]:
    """faster-whisper's function with `get_vad_model` bound, in a namespace of its own, to a
    Blockwise model on the shared model's session, after checking the two agree on a probe."""
    global _function
    with _lock:
        if _function is None:
            from faster_whisper import vad

            original = vad.get_speech_timestamps
            model = vad.get_vad_model()
            session = getattr(model, "session", None)
            blockwise = Blockwise(session) if session is not None else None
            probe = _probe()
            if blockwise is None or not np.array_equal(blockwise(probe), model(probe.copy())):
                _function = original  # an older faster-whisper, or its Silero call differs
            else:
                scope = {**vars(vad), "get_vad_model": lambda: blockwise}
                _function = types.FunctionType(
                    original.__code__, scope, original.__name__, original.__defaults__
                )
                _function.__kwdefaults__ = original.__kwdefaults__
        return _function


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
