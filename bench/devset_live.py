"""Split the corpus's German and Spanish readings in two, to tune live on one half and report
on the other.

    .venv/bin/python bench/devset_live.py --out /tmp/live-devset
    .venv/bin/python bench/bench_live.py --corpus /tmp/live-devset --files de_a,es_a \\
        --methods live,greedy --simulate 0.5 1.5 --repeat 3          # tune
    .venv/bin/python bench/bench_live.py --corpus /tmp/live-devset --files de_b,es_b \\
        --methods live --repeat 3                                    # report

The readings are where live's text falls behind the batch's (BENCHMARKS.md, "Live"), and the
only real non-English speech of any length the corpus has; choosing the policy on them whole
would report figures tuned on the files reported. Each reference has one fragment per line
(aeneas's forced-alignment input), so a cut between two lines splits the text exactly: the cut
is the pause between two lines nearest the middle of the recording where the batch's words on
both sides of it are the reference's own (so the line boundary is that pause), in the middle
of the pause. NAME_a.wav / NAME_b.wav (16 kHz) and their .txt are written to --out; the
corpus is never copied into the repository. (espeak-ng readings of text written for the
purpose were tried first: base misread 40-60 % of their German words offline, so the policy's
own errors drowned.)
"""

from __future__ import annotations

import argparse
import re
import sys
import wave
from pathlib import Path

import numpy as np

RATE = 16000
READINGS = ("de_simplicissimus", "es_capitan_veneno")
LEAST_PAUSE = 0.3  # seconds between the two lines' words: a cut inside a word loses it


def _norm(word: str) -> str:
    return re.sub(r"[^\w]+", "", word.lower())


def boundaries(lines: list[str], words: list[tuple[str, float, float]]) -> list[tuple[int, float]]:
    """(lines before the cut, the cut in seconds) for every line boundary whose last word and
    next word the batch heard as the reference has them, LEAST_PAUSE or more apart."""
    import difflib

    ref = [(k, _norm(w)) for k, line in enumerate(lines) for w in line.split() if _norm(w)]
    said = [_norm(w) for w, _, _ in words]
    matcher = difflib.SequenceMatcher(a=[w for _, w in ref], b=said, autojunk=False)
    heard: dict[int, int] = {}  # reference word index -> batch word index
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            heard[block.a + i] = block.b + i
    out = []
    for i in range(len(ref) - 1):
        if ref[i][0] == ref[i + 1][0] or i not in heard or i + 1 not in heard:
            continue
        before, after = words[heard[i]], words[heard[i + 1]]
        if heard[i + 1] == heard[i] + 1 and after[1] - before[2] >= LEAST_PAUSE:
            out.append((ref[i][0] + 1, (before[2] + after[1]) / 2))
    return out


def write(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(pcm.tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus/asr_multilingual"))
    parser.add_argument("--model", default="base")
    args = parser.parse_args(argv)

    from ffscribe.core.asr.recognizer import _transcribe_kwargs
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
    from ffscribe.core.media.ffmpeg import load

    pipe = Pipeline(
        PipelineOptions(
            model=ModelOptions(name=args.model), decode=DecodeOptions(word_timestamps=True)
        )
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in READINGS:
        media = next(p for p in args.corpus.glob(name + ".*") if p.suffix != ".txt")
        lines = [
            line.strip()
            for line in (args.corpus / f"{name}.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        samples = load(str(media)).samples
        segments, _ = pipe.recognizer.model.transcribe(
            samples, **_transcribe_kwargs(pipe.options.decode)
        )
        words = [(w.word, w.start, w.end) for s in segments for w in s.words or ()]
        middle = samples.size / RATE / 2
        cuts = boundaries(lines, words)
        if not cuts:
            print(f"{name}: no line boundary the batch heard cleanly", file=sys.stderr)
            return 1
        count, cut = min(cuts, key=lambda c: abs(c[1] - middle))
        stem = name.split("_")[0]
        at = int(cut * RATE)
        for part, audio, text in (
            ("a", samples[:at], lines[:count]),
            ("b", samples[at:], lines[count:]),
        ):
            write(args.out / f"{stem}_{part}.wav", audio)
            (args.out / f"{stem}_{part}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
            words_n = sum(len(t.split()) for t in text)
            print(f"{stem}_{part}: {audio.size / RATE:.1f} s, {words_n} words, cut at {cut:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
