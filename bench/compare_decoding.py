"""Compare the samples transcribe decodes (ffmpeg -> f32le) with faster-whisper's (PyAV -> s16).

    python bench/compare_decoding.py [FILE...]   (default: the English corpus)

For each file: sample counts, largest and RMS difference, the least-squares gain of ffmpeg's
samples over PyAV's, and how long each decoder takes (ours includes the probe).
Explains why the two tools can differ in text on the same model and options.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CORPUS = Path("/work/shared/corpus/asr_en")


def timed(fn: Any, path: str, reps: int) -> tuple[np.ndarray, float]:
    """Decode `path` `reps` times; return the samples and the median seconds."""
    times = []
    out = None
    for _ in range(reps):
        started = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - started)
    return np.asarray(out, dtype=np.float32), statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    files = args.files or sorted(
        p for p in DEFAULT_CORPUS.iterdir() if p.suffix in (".wav", ".flac", ".mp3")
    )

    from faster_whisper.audio import decode_audio

    from ffscribe.core.media.ffmpeg import load

    columns = ["file", "samples ffmpeg", "samples PyAV", "max abs diff", "RMS diff", "gain"]
    print("| " + " | ".join([*columns, "s ffmpeg", "s PyAV"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for f in files:
        ours, t_ours = timed(lambda p: load(p).samples, str(f), args.reps)
        theirs, t_theirs = timed(decode_audio, str(f), args.reps)
        n = min(len(ours), len(theirs))
        diff = ours[:n] - theirs[:n]
        gain = float(ours[:n] @ theirs[:n]) / float(theirs[:n] @ theirs[:n])
        print(
            f"| {f.name} | {len(ours)} | {len(theirs)} | {np.abs(diff).max():.2e} "
            f"| {np.sqrt(np.mean(diff**2)):.2e} | {gain:.4f} | {t_ours:.3f} | {t_theirs:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
