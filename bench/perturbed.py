"""Accuracy under perturbations no listener would notice: transcribe vs bare faster-whisper.

    /work/venv/bin/python bench/perturbed.py --model base              # the 676 s file
    /work/venv/bin/python bench/perturbed.py --model base --specs n g0.99 d1

Whisper's text is chaotic in its input: scaling the 676 s benchmark file by 0.99 moved bare
faster-whisper from 134 to 205 errors. One run per tool says little about which is more
exact; the same perturbations applied to both, and the errors summed, do. Each spec is one
copy of the file built by compare.py --long (compare_longfile.build, 16 kHz mono WAV):

- n: the file as it is;
- gX: every sample times X (g0.99: 0.09 dB quieter);
- dN: Gaussian noise of amplitude 1e-4 (-80 dBFS) added, seed N.

transcribe runs in process (ffscribe.core.asr.recognizer.Recognizer, default workers, its split
path),
bare is WhisperModel.transcribe with 2 threads; both with transcribe's default decoding
options, language en (no detection: the same for both). Prints per spec the errors
(substitutions + deletions + insertions, bench_asr.score) of each, and their sums.
Accuracy only: the two tools run one after the other, and their times are not compared here
(compare.py does that).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_asr import DEFAULT_CORPUS, corpus, log, score  # noqa: E402
from compare_longfile import build  # noqa: E402

SPECS = ("n", "g0.98", "g0.99", "g1.01", "g1.02", "d1", "d2", "d3")


def perturbed(samples: Any, spec: str) -> Any:
    """`samples` (float32) changed as `spec` says (see the module docstring)."""
    import numpy as np

    kind, value = spec[0], spec[1:]
    if kind == "n":
        return samples
    if kind == "g":
        return samples * np.float32(float(value))
    if kind == "d":
        noise = np.random.default_rng(int(value)).standard_normal(samples.size)
        return samples + noise.astype(np.float32) * np.float32(1e-4)
    raise SystemExit(f"unknown spec {spec!r}: n, gX or dN")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the file built")
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--bare-specs",
        nargs="*",
        help="run bare only on these specs (default: all); bare's text does not change "
        "with ffscribe's code, so a rerun after a change of ours may check one and reuse the rest",
    )
    args = parser.parse_args(argv)

    from faster_whisper import WhisperModel

    from ffscribe.core.asr.models import resolve_model
    from ffscribe.core.asr.recognizer import Recognizer, _transcribe_kwargs
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.media import ffmpeg as media

    files, refs = corpus(args.corpus)
    path = resolve_model(args.model).path
    ours = Recognizer(path, args.model, ModelOptions())
    bare = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)
    options = DecodeOptions(language="en")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ffscribe-perturbed-") as tmp:
        made = build(files, refs, Path(tmp) / "long.wav", seconds=args.seconds)
        audio = media.load(str(made.path))
        words = int(score({"x": made.reference}, {"x": ""})["ref_words"])  # as scored
        log(f"{made.path.name}: {made.seconds:.1f} s, {words} words")
        for spec in args.specs:
            samples = perturbed(audio.samples, spec)
            row: dict[str, Any] = {"spec": spec}
            mark = time.perf_counter()
            found = ours.recognize(media.Audio(samples, 0.0, None, "x"), options)
            row["transcribe"] = _errors(made.reference, "".join(s.text for s in found.segments))
            row["transcribe_s"] = round(time.perf_counter() - mark, 1)
            if args.bare_specs is None or spec in args.bare_specs:
                mark = time.perf_counter()
                segments, _ = bare.transcribe(samples, **_transcribe_kwargs(options))
                row["bare"] = _errors(made.reference, "".join(s.text for s in segments))
                row["bare_s"] = round(time.perf_counter() - mark, 1)
            log(f"{spec}: transcribe {row['transcribe']}, bare {row.get('bare', 'not run')}")
            rows.append(row)
    print(f"{made.seconds:.1f} s file ({words} words), model {args.model}\n")
    print("| perturbation | transcribe errors | bare errors |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['spec']} | {row['transcribe']} | {row.get('bare', 'not run')} |")
    ours_sum = sum(r["transcribe"] for r in rows)
    print(f"| sum over {len(rows)} | {ours_sum} | ", end="")
    if all("bare" in r for r in rows):
        bare_sum = sum(r["bare"] for r in rows)
        print(f"{bare_sum} |")
        print(f"\nmean difference: {(ours_sum - bare_sum) / len(rows):+.1f} errors a run")
    else:
        print("not run on every spec |")
    if args.json:
        args.json.write_text(json.dumps({"words": words, "rows": rows}, indent=1))
    return 0


def _errors(reference: str, text: str) -> int:
    return int(score({"x": reference}, {"x": text})["errors"])


if __name__ == "__main__":
    raise SystemExit(main())
