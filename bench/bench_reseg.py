"""Benchmark: a VBx-like count on the dev set (issue 18), against the shipped count rule.

    .venv/bin/python bench/bench_reseg.py --devset /tmp/wt18-devset --cache /tmp/wt18-cache

Over-cluster the neighbour-averaged GE2E window vectors with AHC, then run EM of a von
Mises-Fisher mixture (one concentration for all clusters), dropping each round the clusters
whose weight falls under a share: the count is what survives (VBx lets its prior prune an
over-clustered start; no PLDA and no HMM here). Uses bench_devset.py's cached vectors;
prints the count right per part, the setting to ship being the best on the tune half and the
one-voice files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_devset import cut, features, load_items, shipped_count
from bench_diarize import FILES, ONE_VOICE, read_rttm

from ffscribe.core.speakers import offline as off


def vmf_count(start: float, kappa: float, share: float, rounds: int = 20) -> Callable[..., int]:
    """Clusters of AHC cut at `start`, pruned by vMF-mixture EM at concentration `kappa`."""

    def count(x: np.ndarray) -> int:
        if len(x) < 2:
            return 1
        labels = cut(x, start, False)
        resp = np.eye(labels.max() + 1)[labels]
        for _ in range(rounds):
            weights = resp.sum(axis=0) / len(x)
            keep = weights >= share
            if not keep.any():
                return 1
            resp, weights = resp[:, keep], weights[keep]
            means = resp.T @ x
            means /= np.linalg.norm(means, axis=1, keepdims=True)
            logp = kappa * (x @ means.T) + np.log(weights)
            resp = np.exp(logp - logp.max(axis=1, keepdims=True))
            resp /= resp.sum(axis=1, keepdims=True)
        return max(1, int((resp.sum(axis=0) / len(x) >= share).sum()))

    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devset", type=Path, default=Path("/tmp/wt18-devset"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/wt18-cache"))
    args = parser.parse_args()
    items, manifest = load_items(args.devset, None)
    paths = {name: path for name, path, *_ in items} | {p.stem: p for p in FILES + ONE_VOICE}
    truth = {name: len({t.speaker for t in ref}) for name, _, ref, _ in items}
    truth |= {p.stem: len({t.speaker for t in read_rttm(p.with_suffix(".rttm"))}) for p in FILES}
    truth |= {p.stem: 1 for p in ONE_VOICE}
    context = {}
    for name, path in paths.items():
        f = features(None, path, args.cache)  # type: ignore[arg-type]  # cached: no encoder
        context[name] = off.in_context(f["embeddings"], f["starts"])
    parts = {
        f"{kind} {split}": [
            n
            for n in truth
            if manifest.get(n, {}).get("kind") == kind and manifest[n]["split"] == split
        ]
        for kind in ("synthetic", "real")
        for split in ("tune", "report")
    }
    parts |= {"one-voice": [p.stem for p in ONE_VOICE], "corpus files": [p.stem for p in FILES]}
    rules: dict[str, Callable[..., int]] = {"shipped": shipped_count}
    rules |= {
        f"vmf start {t} kappa {k} share {s}": vmf_count(t, k, s)
        for t in (0.1, 0.15)
        for k in (20, 40, 80)
        for s in (0.03, 0.06, 0.1)
    }
    for label, rule in rules.items():
        counts = {n: rule(x) for n, x in context.items()}
        row = ", ".join(
            f"{part} {sum(counts[n] == truth[n] for n in names)}/{len(names)}"
            for part, names in parts.items()
        )
        print(f"{label}: {row}", flush=True)


if __name__ == "__main__":
    main()
