"""Benchmark: `transcribe` against bare faster-whisper, same model and options, on the corpus.

    /work/venv/bin/python bench/bench_asr.py --model base --rounds 3 [--json out.json]

Each round runs, as separate processes over all the English corpus files at once and in
alternating order (a, b then b, a), (a) `transcribe FILES --format json` and (b)
bench/bare_faster_whisper.py, which lets faster-whisper decode the files itself (PyAV).
Per run: wall time (process start to exit, model load and decoding included) and the child's
peak RSS from os.wait4. Accuracy: corpus-level WER (all errors / all reference words) and
per-file WER, after whisper_normalizer's EnglishTextNormalizer, scored with jiwer.
Also times `transcribe --help` and `import ffscribe.cli.app`, and checks that the import
pulls in none of faster_whisper, ctranslate2, torch.

Prints a markdown report on stdout; progress goes to stderr. Results go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BARE = HERE / "bare_faster_whisper.py"
DEFAULT_CORPUS = Path("/work/shared/corpus/asr_en")
PYTHON = sys.executable
TRANSCRIBE = str(Path(sys.executable).parent / "transcribe")
HEAVY = ("faster_whisper", "ctranslate2", "torch", "onnxruntime", "av")


@dataclass
class Run:
    """One process: what ran, how long, how much memory, and what it wrote."""

    tool: str
    round: int
    wall_s: float
    peak_rss_mib: float
    returncode: int
    texts: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """nproc, CPU model and RAM of this machine, for the report."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as fh:
        mem_kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("ffscribe", "faster-whisper", "ctranslate2", "av", "jiwer"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    git = ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"]
    rev = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    out["ffscribe_git"] = rev or "?"
    out["ffmpeg"] = ffmpeg.stdout.split("\n", 1)[0].split(" ")[2] if ffmpeg.stdout else "?"
    return out


def duration(path: Path) -> float:
    """Seconds of audio, from ffprobe (the container's duration)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Run argv; return wall seconds, the child's own peak RSS (MiB), exit status, stderr."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    # Linux reports ru_maxrss in KiB. wait4's figure is the child's own peak (or that of a
    # grandchild it waited for, e.g. ffmpeg, if larger), not a sum over all children.
    return wall, usage.ru_maxrss / 1024, proc.returncode, stderr


def run_transcribe(files: list[Path], model: str, out: Path, rnd: int) -> Run:
    argv = [TRANSCRIBE, *map(str, files), "--model", model, "--format", "json"]
    argv += ["--output-dir", str(out), "--overwrite", "--quiet"]
    wall, rss, rc, stderr = measure(argv)
    run = Run("transcribe", rnd, wall, rss, rc)
    timings: dict[str, Any] = {}
    for f in files:
        result = out / f"{f.stem}.json"
        if result.is_file():
            data = json.loads(result.read_text(encoding="utf-8"))
            run.texts[f.stem] = data["text"]
            timings[f.stem] = data.get("timings", {})
            run.detail["model"] = data.get("model")
    run.detail.update(timings=timings, stderr=stderr[-2000:])
    return run


def run_bare(files: list[Path], model_dir: str, out: Path, rnd: int) -> Run:
    argv = [PYTHON, str(BARE), "--model-dir", model_dir, *map(str, files), "--out", str(out)]
    wall, rss, rc, stderr = measure(argv)
    run = Run("bare", rnd, wall, rss, rc)
    for f in files:
        result = out / f"{f.stem}.txt"
        if result.is_file():
            run.texts[f.stem] = result.read_text(encoding="utf-8").strip()
    run.detail = {"stderr": stderr[-2000:]}
    return run


def score(refs: dict[str, str], texts: dict[str, str]) -> dict[str, Any]:
    """Corpus-level and per-file WER of `texts` against `refs`, both normalized."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    names = sorted(refs)
    ref = [norm(refs[n]) for n in names]
    hyp = [norm(texts.get(n, "")) for n in names]
    whole = jiwer.process_words(ref, hyp)
    per_file = {}
    for n, r, h in zip(names, ref, hyp, strict=True):
        one = jiwer.process_words(r, h)
        per_file[n] = {"wer": one.wer, "ref_words": len(r.split()), "errors": _errors(one)}
    return {
        "wer": whole.wer,
        "ref_words": sum(len(r.split()) for r in ref),
        "errors": _errors(whole),
        "substitutions": whole.substitutions,
        "deletions": whole.deletions,
        "insertions": whole.insertions,
        "per_file": per_file,
    }


def _errors(out: Any) -> int:
    return int(out.substitutions + out.deletions + out.insertions)


def startup(reps: int) -> dict[str, Any]:
    """Median wall of `transcribe --help`, of importing the CLI, and of a bare interpreter."""

    def median_of(argv: list[str]) -> float:
        return statistics.median(measure(argv)[0] for _ in range(reps))

    check = (
        "import sys, json, ffscribe.cli.app; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    loaded = subprocess.run([PYTHON, "-c", check], capture_output=True, text=True, check=False)
    heavy = json.loads(loaded.stdout) if loaded.returncode == 0 else ["import failed"]
    return {
        "help_s": median_of([TRANSCRIBE, "--help"]),
        "import_cli_s": median_of([PYTHON, "-c", "import ffscribe.cli.app"]),
        "python_bare_s": median_of([PYTHON, "-c", "pass"]),
        "heavy_modules_after_import": heavy,
        "reps": reps,
    }


def corpus(directory: Path) -> tuple[list[Path], dict[str, str]]:
    """The media files in `directory` that have a NAME.txt reference beside them."""
    media = sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".wav", ".flac", ".mp3", ".ogg") and p.with_suffix(".txt").is_file()
    )
    refs = {p.stem: p.with_suffix(".txt").read_text(encoding="utf-8").strip() for p in media}
    return media, refs


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from ffscribe.core.asr.models import resolve_model

    resolved = resolve_model(args.model)
    files, refs = corpus(args.corpus)
    audio_s = sum(duration(f) for f in files)
    log(
        f"model {args.model} -> {resolved.path} ({resolved.detail}); {len(files)} files, "
        f"{audio_s:.1f} s of audio"
    )
    load_before = os.getloadavg()[0]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="ffscribe-bench-") as tmp:
        for rnd in range(1, args.rounds + 1):
            order = ("transcribe", "bare") if rnd % 2 else ("bare", "transcribe")
            for tool in order:
                out = Path(tmp) / f"{tool}-{rnd}"
                if tool == "transcribe":
                    run = run_transcribe(files, args.model, out, rnd)
                else:
                    run = run_bare(files, resolved.path, out, rnd)
                log(
                    f"round {rnd} {tool}: {run.wall_s:.1f} s, {run.peak_rss_mib:.0f} MiB, "
                    f"exit {run.returncode}"
                )
                runs.append(run)
    return {
        "model": args.model,
        "model_path": resolved.path,
        "model_origin": resolved.detail,
        "files": [{"name": f.name, "seconds": round(duration(f), 3)} for f in files],
        "audio_seconds": audio_s,
        "machine": machine(),
        "versions": versions(),
        # Other work on the machine skews wall times: record the 1-minute load around the runs.
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": [asdict(r) for r in runs],
        "summary": summarize(runs, refs, audio_s),
        "startup": startup(args.startup_reps),
    }


def summarize(runs: list[Run], refs: dict[str, str], audio_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tool in ("transcribe", "bare"):
        mine = [r for r in runs if r.tool == tool]
        wall = statistics.median(r.wall_s for r in mine)
        # Decoding is deterministic; say so if a round's text differed from the first's.
        stable = all(r.texts == mine[0].texts for r in mine)
        out[tool] = {
            "wall_s_median": wall,
            "wall_s_all": [round(r.wall_s, 3) for r in mine],
            "rtf": wall / audio_s,
            "x_realtime": audio_s / wall,
            "peak_rss_mib_median": statistics.median(r.peak_rss_mib for r in mine),
            "failed_runs": sum(r.returncode != 0 for r in mine),
            "texts_stable_across_rounds": stable,
            "score": score(refs, mine[0].texts),
            "texts": mine[0].texts,
        }
    a, b = out["transcribe"], out["bare"]
    out["ratio_wall"] = a["wall_s_median"] / b["wall_s_median"]
    out["ratio_rss"] = a["peak_rss_mib_median"] / b["peak_rss_mib_median"]
    out["same_text"] = {n: a["texts"].get(n) == b["texts"].get(n) for n in sorted(refs)}
    return out


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    m = result["machine"]
    v = result["versions"]
    st = result["startup"]
    a, b = s["transcribe"], s["bare"]
    lines = [
        f"Model `{result['model']}` ({result['model_origin']}), {len(result['files'])} files, "
        f"{result['audio_seconds']:.1f} s of audio; ffscribe {v['ffscribe_git']}; "
        f"machine: {m['nproc']} cores "
        f"({m['cpu']}), {m['ram_gib']} GiB RAM; faster-whisper {v['faster-whisper']}, "
        f"ctranslate2 {v['ctranslate2']}, PyAV {v['av']}, ffmpeg {v['ffmpeg']}; "
        f"1-minute load average before/after the runs: {result['loadavg_1min']}.",
        "",
        "| | transcribe | bare faster-whisper | transcribe / bare |",
        "|---|---|---|---|",
        _row("wall time, median (s)", a["wall_s_median"], b["wall_s_median"], "{:.2f}"),
        _row("RTF (wall / audio)", a["rtf"], b["rtf"], "{:.3f}"),
        _row("speed (x real time)", a["x_realtime"], b["x_realtime"], "{:.2f}"),
        _row("peak RSS (MiB)", a["peak_rss_mib_median"], b["peak_rss_mib_median"], "{:.0f}"),
        _row("WER, corpus-level (%)", 100 * a["score"]["wer"], 100 * b["score"]["wer"], "{:.2f}"),
        f"| errors / reference words | {a['score']['errors']} / {a['score']['ref_words']} "
        f"| {b['score']['errors']} / {b['score']['ref_words']} | |",
        f"| failed runs | {a['failed_runs']} | {b['failed_runs']} | |",
        f"| wall times, all rounds (s) | {_join(a['wall_s_all'])} | {_join(b['wall_s_all'])} | |",
        "",
        "| file | seconds | WER transcribe (%) | WER bare (%) | same text |",
        "|---|---|---|---|---|",
    ]
    for f in result["files"]:
        n = Path(f["name"]).stem
        lines.append(
            f"| {f['name']} | {f['seconds']:.1f} "
            f"| {100 * a['score']['per_file'][n]['wer']:.1f} "
            f"| {100 * b['score']['per_file'][n]['wer']:.1f} "
            f"| {'yes' if s['same_text'][n] else 'no'} |"
        )
    lines += [
        "",
        f"`transcribe --help`: {st['help_s']:.3f} s; `python -c 'import ffscribe.cli.app'`: "
        f"{st['import_cli_s']:.3f} s; `python -c pass`: {st['python_bare_s']:.3f} s "
        f"(medians of {st['reps']}). Heavy modules loaded by importing the CLI: "
        f"{st['heavy_modules_after_import'] or 'none'}.",
    ]
    return "\n".join(lines)


def _row(label: str, a: float, b: float, fmt: str) -> str:
    ratio = f"{a / b:.2f}" if b else "-"
    return f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |"


def _join(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base", help="model name or directory (default base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--startup-reps", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    args = parser.parse_args(argv)
    result = bench(args)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", "utf-8")
    failed = sum(r["returncode"] != 0 for r in result["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
