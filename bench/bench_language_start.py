"""Benchmark: how much speech Whisper needs to name the language, as a live session's first
decodes name it (from the buffer's own speech, the encoder reading the live window).

    .venv/bin/python bench/devset_live.py --out /tmp/live-devset
    .venv/bin/python bench/bench_language_start.py --devset /tmp/live-devset [--json out.json]

Every start of speech the voice detector finds in a recording (one every 2 s at most) begins
a sample: the first N seconds of speech from there (pauses left out, as the session's decoder
collects them), for N in --seconds, named with `detect_language` under the live encoder window
(ffscribe.core.asr.live.window_frames). A sample is right when it names the recording's
language. The tuning set (the sonnets, the German and Spanish tuning halves, Japanese,
Chinese; those two give no start with the longest sample's speech after it) is where a
least amount is chosen; the report set (the six held-out English files,
the two report halves, French) shares no recording with it. Corpus files are read, never
copied. Prints markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

CORPUS = Path("/work/shared/corpus")
RATE = 16000
SPACING = 2.0  # seconds between two samples' starts, so one long utterance is not counted often
TUNING = {
    "asr_en/sonnets001-003_concat.wav": "en",
    "DEV/de_a.wav": "de",
    "DEV/es_a.wav": "es",
    "asr_multilingual/ja_picovoice.wav": "ja",
    "asr_multilingual/zh_chinese.flac": "zh",
}
REPORT = {
    "asr_en/jfk.flac": "en",
    "asr_en/mfa_acoustic_corpus.wav": "en",
    "asr_en/ldc93s1_timit.wav": "en",
    "asr_en/librispeech_61-70968-0000.flac": "en",
    "asr_en/lj050-0131.wav": "en",
    "asr_en/picovoice_en_quilter.wav": "en",
    "DEV/de_b.wav": "de",
    "DEV/es_b.wav": "es",
    "asr_multilingual/fr_picovoice.wav": "fr",
}


def samples_of(audio: np.ndarray, seconds: list[float]) -> list[dict[float, np.ndarray]]:
    """For each start of speech (SPACING apart), the first N seconds of speech from it."""
    from ffscribe.core.asr.live import VAD_PARAMETERS
    from ffscribe.core.asr.split import collected, speech_chunks

    voiced = speech_chunks(audio, VAD_PARAMETERS)
    out, last = [], -SPACING * RATE
    for k, chunk in enumerate(voiced):
        if chunk["start"] - last < SPACING * RATE:
            continue
        speech = collected(audio, voiced[k:])
        if speech.size < max(seconds) * RATE:
            break  # too near the end for the longest sample: the set stays the same for every N
        last = chunk["start"]
        out.append({n: speech[: int(n * RATE)] for n in seconds})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devset", type=Path, required=True, help="bench/devset_live.py --out")
    parser.add_argument("--model", default="base")
    parser.add_argument("--seconds", default="1,1.5,2,3,4,5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seconds = [float(s) for s in args.seconds.split(",")]

    from ffscribe.core.asr.live import WINDOW, window_frames
    from ffscribe.core.asr.workarounds import encoder_window
    from ffscribe.core.data.options import ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
    from ffscribe.core.media.ffmpeg import load

    model = Pipeline(PipelineOptions(model=ModelOptions(name=args.model))).recognizer.model
    result: dict[str, Any] = {"model": args.model, "seconds": seconds, "sets": {}}
    for set_name, files in (("tuning", TUNING), ("report", REPORT)):
        right = {n: 0 for n in seconds}
        total, wrong_as = 0, {n: {} for n in seconds}  # type: ignore[var-annotated]
        for rel, truth in files.items():
            path = args.devset / rel[4:] if rel.startswith("DEV/") else CORPUS / rel
            found = samples_of(load(str(path)).samples, seconds)
            print(f"{set_name} {path.name}: {len(found)} starts", file=sys.stderr)
            for sample in found:
                total += 1
                for n, speech in sample.items():
                    with encoder_window(window_frames(speech.size, WINDOW)):
                        language, _, _ = model.detect_language(
                            features=model.feature_extractor(speech)
                        )
                    if language == truth:
                        right[n] += 1
                    else:
                        key = f"{truth}->{language}"
                        wrong_as[n][key] = wrong_as[n].get(key, 0) + 1
        result["sets"][set_name] = {"samples": total, "right": right, "wrong": wrong_as}
        print(f"\n{set_name} set, {total} starts of speech\n")
        print("| seconds of speech | named right | wrong as |\n|---|---|---|")
        for n in seconds:
            wrong = ", ".join(f"{k} {v}" for k, v in sorted(wrong_as[n].items()))
            print(f"| {n:g} | {right[n]}/{total} ({100 * right[n] / total:.0f} %) | {wrong} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
