"""Every change ffscribe makes to faster-whisper's objects, in one place, applied once per model.

Each is scoped to our own model instance (nothing process-wide is patched: the voice detector
runs faster-whisper's own function in a namespace of its own, core/asr/silero.py), checks its
result against faster-whisper's own where it could differ, and applies only to the versions it
was written for (`TESTED`); on another version faster-whisper runs as it is, with a warning:
slower or hungrier, never wrong.

- `features`: faster-whisper's FeatureExtractor holds an input's every frame and spectrum at
  once (gigabytes on an hour: BENCHMARKS.md, "Memory"); core/media/features.py gives the
  same features a block at a time (checked on a probe at install).
- `encode_first_window_once`: with the language detected, faster-whisper 1.2.1 encodes the
  first window twice, once to detect and once to decode. The same wrapper honours
  `encoder_window`, which lets a caller (the live session) encode less than the padded 30 s.
- Silero's probabilities batch by batch (core/asr/silero.py): bounded memory on long inputs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("ffscribe.asr")
TESTED = ((1, 2, 0), (2, 0, 0))  # faster-whisper versions these were written for: [low, high)
_WINDOW: ContextVar[int | None] = ContextVar("ffscribe_encoder_window", default=None)


def supported(version: str) -> bool:
    """Whether `version` of faster-whisper is one the workarounds were written for."""
    try:
        parts = tuple(int(p) for p in version.split(".")[:3])
    except ValueError:
        return False
    low, high = TESTED
    return low <= parts < high


def install(model: WhisperModel) -> bool:
    """Apply every workaround to `model` (and load the voice detector with it); False, with a
    warning, where this faster-whisper is not one they were written for."""
    import faster_whisper

    from ffscribe.core.asr import silero
    from ffscribe.core.media import features

    if not supported(faster_whisper.__version__):
        log.warning(
            "faster-whisper %s is outside %s-%s: running it without ffscribe's workarounds",
            faster_whisper.__version__,
            ".".join(map(str, TESTED[0])),
            ".".join(map(str, TESTED[1])),
        )
        return False
    features.install(model)
    silero.prepare()  # the voice detector loads with the model, not on the first input
    encode_first_window_once(model)
    return True


def encode_first_window_once(model: WhisperModel) -> None:
    """Make faster-whisper encode an input's first window once, not twice.

    Detecting the language (faster-whisper 1.2.1, language=None), `transcribe` encodes the
    first 30 s window for `detect_language`, drops that encoder output, and encodes the same
    window again to decode it: on a CPU the encoder is about a second of one core per window
    with base, as much again as decoding a short clip. Two instance-level wrappers fix it:
    detection is given the features without their last frame (the decoder never sees that
    frame: it stops at `features.shape[-1] - 1`), so both ask for the very same encoder
    input, and each thread keeps its last encoder input and output, so the second request
    is answered from memory. The decoded text is unchanged; only which call computes the
    encoder output moves."""
    detect = model.detect_language
    encode = model.encode
    last = threading.local()

    def detect_language(audio: Any = None, features: Any = None, **kwargs: Any) -> Any:
        if audio is None and features is not None and features.shape[-1] > 1:
            features = features[..., : features.shape[-1] - 1]
        return detect(audio=audio, features=features, **kwargs)

    def encode_once(features: Any) -> Any:
        import numpy as np

        frames = _WINDOW.get()
        if frames is not None and features.shape[-1] > frames:
            features = np.ascontiguousarray(features[..., :frames])
        seen = getattr(last, "features", None)
        if seen is not None and seen.shape == features.shape and np.array_equal(seen, features):
            return last.output
        output = encode(features)
        last.features, last.output = np.array(features, copy=True), output
        return output

    model.detect_language = detect_language
    model.encode = encode_once


@contextmanager
def encoder_window(frames: int | None) -> Iterator[None]:
    """Within, this thread's (or task's) model encodes at most `frames` mel frames of a window.

    Whisper pads every window to 30 s and its encoder's cost grows faster than the frames
    (base on 2 cores: 0.87 s for 3000 frames, 0.15 s for 1000; BENCHMARKS.md, "Live, seventh
    session"); a live buffer holds a few seconds. Whisper was trained on padded windows, so
    the caller keeps some padding after the speech. A model without the workarounds (another
    faster-whisper) encodes full windows: slower, never wrong."""
    token = _WINDOW.set(frames)
    try:
        yield
    finally:
        _WINDOW.reset(token)
