"""The CUDA path on a GPU machine: ffscribe's Recognizer (sequential and batched) beside bare
faster-whisper, on one long WAV, each timed after a warm-up.

    python bench/bench_cuda.py MODEL_DIR AUDIO.wav OUT_DIR [--rounds 2]

Reads the WAV with the standard library (no ffmpeg needed on the GPU machine) and writes
OUT_DIR/cuda.json (timings, device, workers) and one OUT_DIR/NAME.txt transcript a
configuration, for WER against the reference where the corpus is (bench_asr.score).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
import wave
from pathlib import Path
from typing import Any

import numpy as np


def stub_av() -> None:
    """faster-whisper imports PyAV at import time for its own decoder, which this script
    never uses; a GPU machine without PyAV gets an empty stand-in."""
    try:
        import av  # noqa: F401
    except ImportError:
        sys.modules["av"] = types.ModuleType("av")


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as src:
        assert src.getframerate() == 16000 and src.getnchannels() == 1
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def ours(model_dir: str, samples: np.ndarray, batch: int) -> tuple[str, dict[str, Any]]:
    from ffscribe.core.asr.recognizer import Recognizer
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.media.ffmpeg import Audio

    started = time.perf_counter()
    recognizer = Recognizer(model_dir, "base", ModelOptions(device="auto"))
    loaded = time.perf_counter() - started
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="long.wav")
    found = recognizer.recognize(audio, DecodeOptions(batch_size=batch))  # warm-up
    started = time.perf_counter()
    found = recognizer.recognize(audio, DecodeOptions(batch_size=batch))
    seconds = time.perf_counter() - started
    text = " ".join(s.text.strip() for s in found.segments)
    info = {
        "device": str(recognizer.device),
        "compute_type": recognizer.device.compute_type,
        "workers": recognizer.workers,
        "load_s": round(loaded, 2),
        "decode_s": round(seconds, 2),
        "segments": len(found.segments),
        "language": found.language,
    }
    return text, info


def bare(model_dir: str, samples: np.ndarray, batch: int) -> tuple[str, dict[str, Any]]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    started = time.perf_counter()
    model = WhisperModel(model_dir, device="cuda", compute_type="float16")
    loaded = time.perf_counter() - started
    vad = {"min_silence_duration_ms": 2000}

    def run() -> list[Any]:
        if batch > 1:
            pipeline = BatchedInferencePipeline(model=model)
            segments, _ = pipeline.transcribe(
                samples, batch_size=batch, beam_size=5, vad_parameters=vad
            )
        else:
            segments, _ = model.transcribe(
                samples, beam_size=5, vad_filter=True, vad_parameters=vad
            )
        return list(segments)

    run()  # warm-up
    started = time.perf_counter()
    found = run()
    seconds = time.perf_counter() - started
    text = " ".join(s.text.strip() for s in found)
    return text, {"load_s": round(loaded, 2), "decode_s": round(seconds, 2), "segments": len(found)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("audio", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    stub_av()
    samples = read_wav(args.audio)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"audio_s": round(samples.size / 16000, 1)}
    runs = [
        ("ffscribe", ours, 0),
        ("ffscribe-b16", ours, 16),
        ("bare", bare, 0),
        ("bare-b16", bare, 16),
    ]
    for name, fn, batch in runs:
        try:
            text, info = fn(args.model_dir, samples, batch)
        except Exception as exc:  # record and go on: one failing path must not hide the rest
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(name, "failed:", exc, file=sys.stderr, flush=True)
            continue
        (args.out / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
        info["x_real_time"] = round(samples.size / 16000 / info["decode_s"], 1)
        results[name] = info
        print(name, json.dumps(info), file=sys.stderr, flush=True)
    (args.out / "cuda.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
