"""Benchmark: how much of Whisper's 30 s padding a short encoder read must keep.

    .venv/bin/python bench/bench_window.py -1 3 5 8 12      # pads in seconds; -1: full window

Each English corpus file is cut into utterances at the voice detector's 0.5 s pauses (joined
up to 20 s), and each utterance is decoded greedily (base, English, word timings) with the
encoder reading its speech and PAD seconds of padding after it (in whole seconds; core/asr/
workarounds.encoder_window, as `transcribe live --window` uses it), or Whisper's full window.
Prints the corpus WER per pad (bench_asr.py's scoring) and the wall time of the pass.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_asr import corpus, score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pads", nargs="+", type=float, help="seconds; -1 for the full window")
    parser.add_argument("--model", default="base")
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus/asr_en"))
    args = parser.parse_args(argv)

    from ffscribe.core.asr.recognizer import _transcribe_kwargs
    from ffscribe.core.asr.split import collected, speech_chunks
    from ffscribe.core.asr.workarounds import encoder_window
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
    from ffscribe.core.media.ffmpeg import load

    greedy = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,), word_timestamps=True)
    model = Pipeline(
        PipelineOptions(model=ModelOptions(name=args.model, jobs=1), decode=greedy)
    ).recognizer.model
    kwargs = {
        **_transcribe_kwargs(greedy),
        "vad_filter": False,
        "vad_parameters": None,
        "condition_on_previous_text": False,
        "language": "en",
    }
    media, refs = corpus(args.corpus)
    utterances = {}
    for path in media:
        samples = load(str(path)).samples
        groups: list[list[dict[str, int]]] = []
        for chunk in speech_chunks(samples, {"min_silence_duration_ms": 500, "speech_pad_ms": 100}):
            if groups and chunk["end"] - groups[-1][0]["start"] <= 20 * 16000:
                groups[-1].append(chunk)
            else:
                groups.append([chunk])
        utterances[path.stem] = [collected(samples, g) for g in groups]
    for pad in args.pads:
        started, texts = time.monotonic(), {}
        for name, pieces in utterances.items():
            out = []
            for piece in pieces:
                frames = None if pad < 0 else math.ceil(piece.size / 16000 + pad) * 100
                with encoder_window(frames if frames and frames < 3000 else None):
                    segments, _ = model.transcribe(piece, **kwargs)
                    out.append("".join(s.text for s in segments))
            texts[name] = " ".join(out)
        result = score({k: v for k, v in refs.items() if k in texts}, texts)
        print(
            f"pad {pad:g} s: WER {100 * result['wer']:.2f} % ({result['errors']} errors of "
            f"{result['ref_words']} words), {time.monotonic() - started:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
