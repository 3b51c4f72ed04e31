"""Benchmark: diarization error rate and speed of a diarization backend on the corpus.

    /work/venv/bin/python bench/bench_diarize.py [--backend offline] [--rounds 3] [--json out.json]

Per file of /work/shared/corpus/diarization (pyannote_sample, paa_diarization_example,
ami_dev00, ami_tst00) and the project's own dialogue fixtures: DER with pyannote.metrics at
collar 0 and 0.25 s, overlapped speech scored (skip_overlap=False), inside the file's UEM where
there is one; the speakers found against the reference count; and the diarization real-time
factor (audio seconds per second of `Diarizer.run`, best of the rounds; decoding and model
loading excluded, model load timed once apart). Audio is decoded with
ffscribe.core.media.ffmpeg.load.
Then the speakers found on one-voice recordings (the ASR corpus, one reader each, and the
fixtures' monologues), which have no RTTM: each should come out as 1 speaker. The sonnets
file is left out (its three readings may be different voices).

Needs pyannote.metrics (dev only). Prints a markdown table on stdout; results go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ffscribe.core.data.transcript import Turn
from ffscribe.core.media.ffmpeg import load
from ffscribe.core.speakers.diarize import load_diarizer
from ffscribe.core.speakers.turns import DiarizeOptions

CORPUS = Path("/work/shared/corpus/diarization")
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "media"
FILES = (
    CORPUS / "pyannote_sample.wav",
    CORPUS / "paa_diarization_example.wav",
    CORPUS / "ami_dev00.wav",
    CORPUS / "ami_tst00.wav",
    FIXTURES / "dialogue2.wav",
    FIXTURES / "dialogue3.wav",
)

ONE_VOICE = (
    FIXTURES / "long_speech.wav",
    FIXTURES / "speech.wav",
    *(
        path
        for folder in ("asr_en", "asr_multilingual")
        for path in sorted((CORPUS.parent / folder).glob("*"))
        if path.suffix in {".wav", ".flac", ".mp3"} and not path.name.startswith("sonnets")
    ),
)


def annotation(turns: list[Turn]) -> Any:
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for index, turn in enumerate(turns):
        out[Segment(turn.start, turn.end), index] = turn.speaker
    return out


def read_rttm(path: Path) -> list[Turn]:
    rows = (line.split() for line in path.read_text().splitlines() if line.startswith("SPEAKER"))
    return [Turn(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def read_uem(path: Path) -> Any:
    from pyannote.core import Segment, Timeline

    if not path.is_file():
        return None
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return Timeline([Segment(float(r[2]), float(r[3])) for r in rows])


def score(reference: list[Turn], hypothesis: list[Turn], uem: Any, collar: float) -> float:
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    with warnings.catch_warnings():  # "uem approximated" where a file has no UEM: expected
        warnings.simplefilter("ignore")
        return float(metric(annotation(reference), annotation(hypothesis), uem=uem))


def bench_file(diarizer: Any, path: Path, options: DiarizeOptions, rounds: int) -> dict[str, Any]:
    audio = load(str(path))
    times: list[float] = []
    turns: tuple[Turn, ...] = ()
    for _ in range(rounds):
        start = time.perf_counter()
        turns = diarizer.run(audio, options)
        times.append(time.perf_counter() - start)
    reference = read_rttm(path.with_suffix(".rttm"))
    uem = read_uem(path.with_suffix(".uem"))
    return {
        "file": path.name,
        "seconds": round(audio.duration, 2),
        "der_0": score(reference, list(turns), uem, 0.0),
        "der_025": score(reference, list(turns), uem, 0.25),
        "speakers": len({t.speaker for t in turns}),
        "true_speakers": len({t.speaker for t in reference}),
        "rtf": audio.duration / min(times),
        "run_s": min(times),
    }


def report(rows: list[dict[str, Any]], backend: str, load_s: float) -> str:
    lines = [
        f"backend `{backend}`, model load {load_s:.2f} s (once per process)",
        "",
        "| file | s | DER collar 0 | DER collar 0.25 | speakers found / true | x real time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['seconds']:.1f} | {r['der_0'] * 100:.1f}% |"
            f" {r['der_025'] * 100:.1f}% | {r['speakers']} / {r['true_speakers']} |"
            f" {r['rtf']:.0f}x |"
        )
    total = sum(r["seconds"] for r in rows) / sum(r["run_s"] for r in rows)
    lines.append(f"\nall files: {total:.0f}x real time")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="offline", choices=("offline", "pyannote", "auto"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    options = DiarizeOptions(backend=args.backend)
    start = time.perf_counter()
    diarizer, note = load_diarizer(options)
    load_s = time.perf_counter() - start
    if note:
        print(note, file=sys.stderr)
    rows = []
    for path in FILES:
        print(f"{path.name} ...", file=sys.stderr)
        rows.append(bench_file(diarizer, path, options, args.rounds))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print(report(rows, diarizer.name, load_s))
    found: dict[str, int] = {}
    for path in ONE_VOICE:
        turns = diarizer.run(load(str(path)), options)
        found[path.name] = len({t.speaker for t in turns})
    right = sum(count == 1 for count in found.values())
    print(f"\none-voice recordings: 1 speaker on {right} of {len(found)}")
    for name, count in found.items():
        if count != 1:
            print(f"  {name}: {count} speakers")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
