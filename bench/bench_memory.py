"""Benchmark: peak memory of the front end on a long input, faster-whisper's way and ours.

    /work/venv/bin/python bench/bench_memory.py [--seconds 3600] [--audio long.wav [--decode base]]

Each measurement runs in its own Python process and reports the peak RSS it added above its
baseline (after the input is in memory): Whisper's log-mel features (faster-whisper's
FeatureExtractor against core.media.features.BlockwiseLogMel) and Silero VAD's probabilities
through faster-whisper's get_speech_timestamps (its SileroVADModel against core.asr.silero's
batch-at-a-time one), with the time each took and whether the two give the same numbers
(the sum of the features; the speech found; the segment count). With `--decode MODEL`, a
whole unsplit decode of `--audio` too (the path of `--jobs 1`, or of an input that other
inputs wait behind), with faster-whisper's front end and with ours. The input is `--audio` (any file
ffmpeg reads) or, without it, `--seconds` of seeded noise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
kind, way, path, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if path:
    from ffscribe.core.media.ffmpeg import load
    samples = load(path).samples
else:
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(int(seconds * 16000), dtype=np.float32) * np.float32(0.1)
if kind == "decode":
    from faster_whisper.vad import SileroVADModel, get_vad_model
    from ffscribe.core.asr.recognizer import Recognizer
    from ffscribe.core.asr.models import resolve_model
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    name = sys.argv[5]
    recognizer = Recognizer(resolve_model(name).path, name, ModelOptions(jobs=1, threads=2))
    if way == "faster-whisper":  # its own front end back in place
        recognizer.model.feature_extractor = recognizer.model.feature_extractor._inner
        get_vad_model().__class__ = SileroVADModel
    def call():
        found = recognizer.recognize(audio, DecodeOptions(language="en"))  # jobs=1: whole
        return np.array([len(found.segments)], dtype=np.float64)
    from ffscribe.core.media.ffmpeg import load
    audio = load(path)
elif kind == "features":
    from faster_whisper.feature_extractor import FeatureExtractor
    from ffscribe.core.media.features import BlockwiseLogMel
    run = FeatureExtractor() if way == "faster-whisper" else BlockwiseLogMel(FeatureExtractor())
    call = lambda: run(samples, chunk_length=30)
else:
    from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model
    from ffscribe.core.asr import silero
    get_vad_model()  # loaded before the baseline is taken
    find = silero.speech_timestamps if way == "ffscribe" else get_speech_timestamps
    def call():
        found = find(samples, VadOptions())
        return np.array([[c["start"], c["end"]] for c in found], dtype=np.float64)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = call()
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
digest = float(np.asarray(out, dtype=np.float64).sum())
print(json.dumps({"mib": (peak - base) / 1024, "seconds": wall, "digest": digest,
                  "audio_mib": samples.nbytes / 2**20, "output_mib": out.nbytes / 2**20}))
"""


def measure(kind: str, way: str, audio: str, seconds: float, model: str) -> dict[str, float]:
    argv = [sys.executable, "-c", CHILD, kind, way, audio, str(seconds), model]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--audio", default="", help="a file to measure on instead of noise")
    parser.add_argument(
        "--decode",
        metavar="MODEL",
        default="",
        help="also decode --audio unsplit (one worker, two threads) with MODEL, both ways",
    )
    args = parser.parse_args(argv)
    what = args.audio or f"{args.seconds:.0f} s of noise"
    print(f"Input: {what}\n")
    print("| stage | way | peak above baseline (MiB) | output (MiB) | time (s) | same sum |")
    print("|---|---|---|---|---|---|")
    kinds = ["features", "silero"] + (["decode"] if args.decode and args.audio else [])
    for kind in kinds:
        theirs = measure(kind, "faster-whisper", args.audio, args.seconds, args.decode)
        ours = measure(kind, "ffscribe", args.audio, args.seconds, args.decode)
        same = "yes" if theirs["digest"] == ours["digest"] else "NO"
        for way, row in (("faster-whisper", theirs), ("ffscribe", ours)):
            print(
                f"| {kind} | {way} | {row['mib']:.0f} | {row['output_mib']:.1f} "
                f"| {row['seconds']:.2f} | {same} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
