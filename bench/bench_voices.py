"""Benchmark: known voices on the development set (identification error, unenrolled guests).

    .venv/bin/python bench/bench_voices.py --devset /tmp/wt18-devset --split tune --grid
    .venv/bin/python bench/bench_voices.py --devset /tmp/wt18-devset --split report

Each conversation is diarized by the shipped offline diarizer (from bench_devset's cached
window vectors), each speaker found gets core.voices.speaker_vectors, and is named against
every enrolled voice of the same half of the pool (bench/devset_speakers.py enrolls each
voice from material no conversation uses; real voices under 8 s have no such material and
are never enrolled, so they act as guests). Identification error rate: reference speech time
(10 ms frames, per reference speaker) not credited, over all reference speech time; a frame
of an enrolled person is credited when a hypothesis speaker active there carries that
person's name, a frame of an unenrolled person when an active hypothesis speaker carries no
name. Guests: for every conversation, its longest-talking voice left out of the enrollment;
wrong when the hypothesis speaker holding most of that voice's speech takes a name.
`--grid` prints both numbers over thresholds (choose on tune, report on report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_devset import diarize, features, load_items, shipped

from ffscribe.core.data.transcript import Turn
from ffscribe.core.media.ffmpeg import load
from ffscribe.core.speakers.encoder import SpeakerEncoder
from ffscribe.core.speakers.turns import DiarizeOptions
from ffscribe.core.speakers.voices import (
    MARGIN,
    SIMILARITY,
    Voice,
    identify,
    load_voices,
    speaker_vectors,
)

FRAME = 0.01


def activity(turns: list[Turn], labels: list[str], frames: int) -> np.ndarray:
    out = np.zeros((len(labels), frames), dtype=bool)
    for t in turns:
        out[labels.index(t.speaker), int(t.start / FRAME) : int(t.end / FRAME)] = True
    return out


def conversation(
    name: str, encoder: SpeakerEncoder, devset: Path, cache: Path, oracle: bool = False
) -> dict[str, Any]:
    """Reference and hypothesis activity and the hypothesis speakers' vectors, cached; with
    `oracle`, the reference turns stand for the diarization (naming judged on its own)."""
    stored = cache / f"{name}-voices{'-oracle' if oracle else ''}.npz"
    reference = [
        Turn(float(r[3]), float(r[3]) + float(r[4]), r[7])
        for r in (line.split() for line in (devset / f"{name}.rttm").read_text().splitlines())
    ]
    hypothesis = (
        [Turn(t.start, t.end, f"H{t.speaker}") for t in reference]
        if oracle
        else diarize(
            features(encoder, devset / f"{name}.wav", cache),
            shipped,
            DiarizeOptions(backend="offline"),
        )
    )
    if stored.is_file():
        data = np.load(stored)
        vectors = {k: data[k] for k in data.files}
    else:
        samples = load(str(devset / f"{name}.wav")).samples
        vectors = speaker_vectors(encoder, samples, hypothesis)
        np.savez(stored, **vectors)
    return {"reference": reference, "hypothesis": hypothesis, "vectors": vectors}


def score(
    conv: dict[str, Any], voices: list[Voice], sim: float, margin: float
) -> tuple[float, float, dict[str, str | None], float, float]:
    """(credited seconds, reference seconds, hypothesis label -> name, and the credited and
    reference seconds of enrolled people alone)."""
    matches = identify(conv["vectors"], voices, similarity=sim, margin=margin)
    names = {label: m.name for label, m in matches.items()}
    enrolled = {v.name for v in voices}
    ref, hyp = conv["reference"], conv["hypothesis"]
    frames = int(max(t.end for t in ref + hyp) / FRAME) + 1
    ref_labels = sorted({t.speaker for t in ref})
    hyp_labels = sorted({t.speaker for t in hyp})
    r, h = activity(ref, ref_labels, frames), activity(hyp, hyp_labels, frames)
    credited = known = known_total = 0.0
    for i, person in enumerate(ref_labels):
        ok = np.zeros(frames, dtype=bool)
        for j, label in enumerate(hyp_labels):
            name = names.get(label)
            right = name == person if person in enrolled else name is None
            if right:
                ok |= h[j]
        credited += float((r[i] & ok).sum())
        if person in enrolled:
            known += float((r[i] & ok).sum())
            known_total += float(r[i].sum())
    return credited * FRAME, float(r.sum()) * FRAME, names, known * FRAME, known_total * FRAME


def guest(conv: dict[str, Any], pool: list[Voice], sim: float, margin: float) -> bool | None:
    """Whether the conversation's longest-talking voice, left out of the pool, took a name."""
    ref, hyp = conv["reference"], conv["hypothesis"]
    talk: dict[str, float] = {}
    for t in ref:
        talk[t.speaker] = talk.get(t.speaker, 0.0) + t.end - t.start
    who = max(talk, key=lambda k: talk[k])
    if who not in {v.name for v in pool}:
        return None  # never enrolled: not a guest test
    voices = [v for v in pool if v.name != who]
    names = score(conv, voices, sim, margin)[2]
    frames = int(max(t.end for t in ref + hyp) / FRAME) + 1
    mine = activity([t for t in ref if t.speaker == who], [who], frames)[0]
    labels = sorted({t.speaker for t in hyp})
    h = activity(hyp, labels, frames)
    holder = labels[int(np.argmax((h & mine).sum(axis=1)))]
    return names.get(holder) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devset", type=Path, default=Path("/tmp/wt18-devset"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/wt18-cache"))
    parser.add_argument("--split", default="report")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--oracle", action="store_true", help="reference turns as diarization")
    args = parser.parse_args()
    encoder = SpeakerEncoder.load()
    items, manifest = load_items(args.devset, args.split)
    enrolled = {
        v.name: v for v in load_voices(args.devset / "enroll", encoder, args.cache / "voices")
    }
    short = {"lj", "libri61", "quilter", "fr", "ja", "libri260"}  # no separate material
    convs = {n: conversation(n, encoder, args.devset, args.cache, args.oracle) for n, *_ in items}
    margins = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2)
    grid = [(round(s, 3), m) for s in np.arange(0.6, 0.95, 0.025) for m in margins]
    for sim, margin in grid if args.grid else [(SIMILARITY, MARGIN)]:
        for kind in ("synthetic", "real"):
            names = [n for n in convs if manifest[n]["kind"] == kind]
            if not names:
                continue
            heard = {s for n in names for s in manifest[n]["speakers"]}
            pool = [enrolled[s] for s in sorted(heard) if s not in short]
            got = [score(convs[n], pool, sim, margin) for n in names]
            ier = 1 - sum(g[0] for g in got) / sum(g[1] for g in got)
            known = sum(g[3] for g in got) / max(sum(g[4] for g in got), 1e-9)
            guests = [g for n in names if (g := guest(convs[n], pool, sim, margin)) is not None]
            print(
                f"sim {sim:.3f} margin {margin:.2f} | {kind} {args.split}: "
                f"IER {100 * ier:.1f}% over {len(names)} conversations "
                f"(enrolled people's speech named right {100 * known:.1f}% of "
                f"{sum(g[4] for g in got):.0f} s), guest named in {sum(guests)}/{len(guests)}"
            )


if __name__ == "__main__":
    main()
