"""The overhead of `--executor ray` on one machine: the same files through the local engine
and through Ray actors, rounds interleaved (local, ray, local, ray) so load drifts hit both.

    python bench/bench_ray.py ../shared/corpus --count 20 --rounds 2 --model base

Takes the `--count` shortest media files under the folder. Each run goes through run_batch,
as the CLI does, into a fresh output folder; it prints, per run, the wall time of the start
(the local engine: its model loaded; Ray: the instance and every actor's model loaded) and of
the inputs, the CPU seconds the inputs took (this process's, plus every actor process's:
wall time is distorted by a shared machine's load, CPU time much less), and the load
average. Results go into BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ffscribe.core.batch.contract import OutputOptions, run_batch
from ffscribe.core.batch.inputs import resolve
from ffscribe.core.batch.ray_executor import RayExecutor, RayOptions
from ffscribe.core.data.options import ModelOptions
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from ffscribe.core.engine.pool import Engine
from ffscribe.core.media.ffmpeg import probe
from ffscribe.formats import write

MEDIA = (".wav", ".flac", ".mp3", ".ogg", ".mp4", ".webm")


def shortest(root: Path, count: int) -> list[tuple[float, Path]]:
    files = [p for p in sorted(root.rglob("*")) if p.suffix in MEDIA]
    return sorted((probe(str(p)).duration or 0.0, p) for p in files)[:count]


def one_run(kind: str, files: list[Path], options: PipelineOptions, out: Path) -> dict[str, Any]:
    def render(transcript: Any, fmt: str, stream: Any) -> None:
        write(transcript, fmt, stream)

    items = resolve([str(p) for p in files])
    started = time.perf_counter()
    if kind == "ray":
        folder = tempfile.mkdtemp(prefix="rayb", dir="/tmp")
        submitter: Any = RayExecutor(options, RayOptions(temp_dir=folder))
    else:
        pipeline = Pipeline(options)
        submitter = Engine(pipeline)
    with submitter:
        if kind == "ray":
            submitter.workers  # noqa: B018 - the start, timed on its own
        else:
            pipeline.prepare()
        ready, cpu_before = time.perf_counter(), _cpu(submitter)
        report = run_batch(items, submitter, render, OutputOptions(output_dir=out))
        ended, cpu_after = time.perf_counter(), _cpu(submitter)
    assert report.count("done") == len(files), report.summary()
    return {
        "kind": kind,
        "start": ready - started,
        "inputs": ended - ready,
        "total": ended - started,
        "cpu": cpu_after - cpu_before,
        "load": os.getloadavg()[0],
    }


def _cpu(submitter: Any) -> float:
    """CPU seconds so far of this process and, on Ray, of every actor's process."""
    mine = time.process_time()
    if not isinstance(submitter, RayExecutor):
        return mine
    import ray

    calls = [a.__ray_call__.remote(lambda _: time.process_time()) for a in submitter.actors]
    return mine + sum(ray.get(calls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="base")
    args = parser.parse_args()
    chosen = shortest(args.corpus, args.count)
    audio = sum(d for d, _ in chosen)
    print(f"{len(chosen)} files, {audio:.1f} s of audio, model {args.model}")
    options = PipelineOptions(model=ModelOptions(name=args.model))
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in range(args.rounds):
            for kind in ("local", "ray"):
                run = one_run(kind, [p for _, p in chosen], options, Path(scratch) / f"{kind}{n}")
                runs.append(run)
                print(
                    f"{kind:5} start {run['start']:6.1f} s  inputs {run['inputs']:6.1f} s  "
                    f"total {run['total']:6.1f} s  CPU {run['cpu']:6.1f} s  "
                    f"({audio / run['inputs']:.1f}x real time over the inputs)  "
                    f"load {run['load']:.1f}",
                    flush=True,
                )
    for kind in ("local", "ray"):
        mine = [r for r in runs if r["kind"] == kind]
        print(
            f"{kind:5} median inputs {statistics.median(r['inputs'] for r in mine):.1f} s, "
            f"total {statistics.median(r['total'] for r in mine):.1f} s, "
            f"CPU {statistics.median(r['cpu'] for r in mine):.1f} s"
        )


if __name__ == "__main__":
    main()
