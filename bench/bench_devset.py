"""Benchmark: speaker count, DER and known-voice naming on the development set.

    .venv/bin/python bench/devset_speakers.py --out /tmp/wt18-devset
    .venv/bin/python bench/bench_devset.py --devset /tmp/wt18-devset [--split report]

Per conversation of bench/devset_speakers.py (and the real files of bench_diarize.py): the
offline diarizer's speakers found against the true count, and DER at collar 0.25 (overlap
scored). The window d-vectors are cached under --cache (never in the repository), so the
clustering stage can be compared across settings without embedding again. Known voices: each
conversation's diarized speakers named against every voice of its half of the pool (enrolled
from material no conversation uses); identification error = reference speech time not given
the right person's name (a wrong name, or a label where the person is enrolled) over all
reference speech. Guests: the same with one speaker left out of the enrollment, counted when
the speaker that mostly holds the guest's speech takes anyone's name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_diarize import FILES, read_rttm, read_uem, score

from ffscribe.core import diarize_offline as off
from ffscribe.core import speaker_clustering as sc
from ffscribe.core.diarize import DiarizeOptions, merge_turns, relabel
from ffscribe.core.media import load
from ffscribe.core.speaker_encoder import SpeakerEncoder, normalize_volume
from ffscribe.core.transcript import Turn

Cluster = Callable[[np.ndarray, np.ndarray, DiarizeOptions], np.ndarray]


def features(encoder: SpeakerEncoder, path: Path, cache: Path) -> dict[str, Any]:
    """What OfflineDiarizer.run computes before clustering, cached per file."""
    stored = cache / f"{path.stem}.npz"
    if stored.is_file():
        data = np.load(stored)
        return {k: data[k] for k in data.files}
    audio = load(str(path))
    samples = np.asarray(audio.samples, dtype=np.float32)
    regions = off.speech_regions(samples)
    speech = np.concatenate([samples[a * off.HOP : b * off.HOP] for a, b in regions])
    samples = normalize_volume(samples, float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))))
    mel = encoder.mel(samples)
    timeline, starts = off.windows(regions, len(mel))
    embeddings = off.embed_windows(encoder, mel, timeline, starts)
    out = {
        "regions": np.array(regions, dtype=np.int64),
        "timeline": timeline,
        "starts": starts,
        "embeddings": embeddings,
        "total": np.array(len(mel)),
        "duration": np.array(audio.duration),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(stored, **out)
    return out


def shipped(embeddings: np.ndarray, starts: np.ndarray, options: DiarizeOptions) -> np.ndarray:
    return sc.reassign(embeddings, sc.cluster(off.in_context(embeddings, starts), options))


def diarize(f: dict[str, Any], method: Cluster, options: DiarizeOptions) -> list[Turn]:
    """The rest of OfflineDiarizer.run from the cached features, clustering by `method`."""
    regions = [tuple(int(v) for v in r) for r in f["regions"]]
    labels = method(f["embeddings"], f["starts"], options)
    total = int(f["total"])
    frames = off.frame_labels(regions, f["timeline"], f["starts"], labels, total)
    turns = off.to_turns(regions, frames, 0.0, float(f["duration"]))
    return list(relabel(merge_turns(turns, gap=off.TURN_GAP)))


def evaluate(
    items: list[tuple[str, Path, list[Turn], Any]],
    method: Cluster,
    feats: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    rows = []
    options = DiarizeOptions(backend="offline")
    for name, _path, reference, uem in items:
        hypothesis = diarize(feats[name], method, options)
        rows.append(
            {
                "name": name,
                "found": len({t.speaker for t in hypothesis}),
                "true": len({t.speaker for t in reference}),
                "der": score(reference, hypothesis, uem, 0.25),
                "speech": sum(t.end - t.start for t in reference),
            }
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    right = sum(r["found"] == r["true"] for r in rows)
    weighted = sum(r["der"] * r["speech"] for r in rows) / sum(r["speech"] for r in rows)
    return (
        f"count right {right}/{len(rows)} ({100 * right / len(rows):.0f}%), "
        f"DER {100 * weighted:.1f}% (speech-weighted), "
        f"median {100 * np.median([r['der'] for r in rows]):.1f}%"
    )


def load_items(devset: Path, split: str | None) -> tuple[list[Any], dict[str, Any]]:
    manifest = json.loads((devset / "manifest.json").read_text())
    chosen = [m for m in manifest if split is None or m["split"] == split]
    items = [
        (m["name"], devset / f"{m['name']}.wav", read_rttm(devset / f"{m['name']}.rttm"), None)
        for m in chosen
    ]
    return items, {m["name"]: m for m in manifest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devset", type=Path, default=Path("/tmp/wt18-devset"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/wt18-cache"))
    parser.add_argument("--split", default=None, help="tune or report (default both)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    encoder = SpeakerEncoder.load()
    items, manifest = load_items(args.devset, args.split)
    real = [
        (p.stem, p, read_rttm(p.with_suffix(".rttm")), read_uem(p.with_suffix(".uem")))
        for p in FILES
    ]
    feats = {}
    start = time.perf_counter()
    seconds = 0.0
    for name, path, _, _ in items + real:
        feats[name] = features(encoder, path, args.cache)
        seconds += float(feats[name]["duration"])
    print(
        f"features of {len(feats)} files, {seconds:.0f} s of audio, "
        f"{time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    for label, method in METHODS.items():
        rows = evaluate(items + real, method, feats)
        by_name = {r["name"]: r for r in rows}
        for kind in ("synthetic", "real"):
            for split in ("tune", "report"):
                part = [
                    by_name[n]
                    for n, *_ in items
                    if manifest[n]["kind"] == kind and manifest[n]["split"] == split
                ]
                print(f"{label} | {kind} {split}: {summary(part)}")
        files = [by_name[p.stem] for p in FILES]
        print(
            f"{label} | real files: {summary(files)}; "
            + ", ".join(
                f"{r['name']} {r['found']}/{r['true']} {100 * r['der']:.1f}%" for r in files
            )
        )
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))


METHODS: dict[str, Cluster] = {"shipped": shipped}

if __name__ == "__main__":
    main()
