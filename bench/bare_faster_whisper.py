"""Baseline for bench_asr.py: bare faster-whisper with transcribe's default options.

The model is loaded once and every file is passed to faster-whisper by path, so faster-whisper
decodes it itself (PyAV, resampled to 16 kHz mono). The options below mirror
ffscribe.core.data.options.DecodeOptions and
ffscribe.core.asr.recognizer._transcribe_kwargs; they are written
out by hand on purpose, so the baseline does not depend on the code it is compared with.

    python bench/bare_faster_whisper.py --model-dir DIR FILE... --out DIR [--batch-size 8]

With --batch-size N > 0 the same options go through faster-whisper's BatchedInferencePipeline
instead (VAD chunks decoded N at a time); the default, 0, is the sequential path above.

Writes NAME.txt (the segment texts joined, stripped, as transcribe's JSON "text") per input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# transcribe's defaults (core/data/options.py DecodeOptions,
# core/asr/recognizer.py _transcribe_kwargs).
TRANSCRIBE_KWARGS: dict[str, object] = {
    "language": None,
    "task": "transcribe",
    "beam_size": 5,
    "best_of": 5,
    "patience": 1.0,
    "length_penalty": 1.0,
    "temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    "compression_ratio_threshold": 2.4,
    "log_prob_threshold": -1.0,
    "no_speech_threshold": 0.6,
    "condition_on_previous_text": True,
    "initial_prompt": None,
    "hotwords": None,
    "word_timestamps": False,
    "vad_filter": True,
    "vad_parameters": {"min_silence_duration_ms": 2000},
    "without_timestamps": False,
}


def default_threads() -> int:
    """One thread per usable core, as transcribe's --threads 0 does."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="media files")
    parser.add_argument("--model-dir", required=True, help="CTranslate2 Whisper model directory")
    parser.add_argument("--out", required=True, type=Path, help="directory for NAME.txt")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument("--language", default=None, help="fix the language (default: detect)")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="0: sequential; N: BatchedInferencePipeline"
    )
    args = parser.parse_args(argv)

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    started = time.perf_counter()
    model = WhisperModel(
        args.model_dir,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads or default_threads(),
    )
    load_s = time.perf_counter() - started
    pipeline = BatchedInferencePipeline(model) if args.batch_size > 0 else None
    args.out.mkdir(parents=True, exist_ok=True)
    options = {**TRANSCRIBE_KWARGS, "language": args.language}
    for path in args.files:
        mark = time.perf_counter()
        if pipeline is None:
            segments, _info = model.transcribe(path, **options)
        else:
            kwargs = {**options, "batch_size": args.batch_size}
            segments, _info = pipeline.transcribe(path, **kwargs)
        text = "".join(s.text for s in segments).strip()
        (args.out / f"{Path(path).stem}.txt").write_text(text + "\n", encoding="utf-8")
        print(f"{Path(path).name}\t{time.perf_counter() - mark:.2f}s", file=sys.stderr)
    print(f"model load {load_s:.2f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
