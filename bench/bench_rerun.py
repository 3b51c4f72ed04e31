"""Cron re-run cost: transcribe N small files once, then time the run that finds them all done.

    python bench/bench_rerun.py --count 1000 --model tiny.en

Prints the first (real) run's wall time and the re-run's (median of --rounds), and from the
report that every input was skipped. That a re-run loads no model is a test
(tests/cli/test_batch_contract.py: the re-run passes with a model directory that does not
exist). Results go into BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

BIN = Path(sys.executable).parent


def make_inputs(root: Path, count: int) -> None:
    """`count` 0.3 s WAV files of quiet noise, spread over 10 sub-directories."""
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(count):
        sub = root / f"d{i % 10}"
        sub.mkdir(exist_ok=True)
        samples = (rng.standard_normal(4800) * 300).astype("<i2")
        with wave.open(str(sub / f"clip{i:04d}.wav"), "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(16000)
            fh.writeframes(samples.tobytes())


def run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "transcribe"), *args], check=False, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ffscribe-rerun-") as tmp:
        root, out = Path(tmp) / "in", Path(tmp) / "out"
        root.mkdir()
        make_inputs(root, opts.count)
        common = [
            str(root),
            "-f",
            "json,txt",
            "-o",
            str(out),
            "--template",
            "{name}.{ext}",
            "--model",
            opts.model,
            "--quiet",
        ]
        first = run([*common, "--report", f"{tmp}/first.json"])
        first_report = json.loads(Path(f"{tmp}/first.json").read_text())
        reruns = [run([*common, "--report", f"{tmp}/again.json"]) for _ in range(opts.rounds)]
        again = json.loads(Path(f"{tmp}/again.json").read_text())
    print(
        f"inputs: {opts.count}; first run: {first:.1f} s "
        f"({first_report['done']} done, {first_report['failed']} failed)"
    )
    print(
        f"re-run: median {statistics.median(reruns):.2f} s, min {min(reruns):.2f} s, "
        f"max {max(reruns):.2f} s over {opts.rounds} rounds; "
        f"skipped {again['skipped']}, done {again['done']}"
    )


if __name__ == "__main__":
    main()
