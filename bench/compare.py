"""Side by side: transcribe, bare faster-whisper (sequential, batched) and whisper-ctranslate2.

    /work/venv/bin/python bench/compare.py --model base --rounds 3 [--files F...]
    /work/venv/bin/python bench/compare.py --model base --rounds 2 --long
    /work/venv/bin/python bench/compare.py --model base --memory-hour
    ... --variant "jobs2=--jobs 2" --variant "b8=--batch-size 8"   (more transcribe settings)

Every tool runs as its own process over the same files and the same CTranslate2 model
directory (`ffscribe.core.asr.models.resolve_model(M).path`), CPU, int8, beam 5, Silero VAD with
min_silence_duration_ms=2000, one thread per core:

- transcribe: `transcribe FILES --model M --format json -o TMP --overwrite --quiet`, default
  settings, plus one row per --variant NAME=ARGS (ARGS appended to that command line);
- bare: bench/bare_faster_whisper.py (WhisperModel.transcribe, transcribe's options by hand);
- bare-batched: the same with --batch-size 8 (BatchedInferencePipeline);
- whisper-ctranslate2: from its own venv (--bench-venv), `--model_directory DIR`.

Rounds interleave the tools (the order rotates each round). Per run: wall time from process
start to exit (model load and decoding included), the child's own peak RSS and its user+sys
CPU seconds (os.wait4; CPU moves less than wall when others share the cores); the 1-minute
load average is recorded before each run. Accuracy: corpus-level WER with bench_asr.py's
scoring (whisper_normalizer EnglishTextNormalizer, jiwer).

Modes: the English corpus set (default, or --files); --long, one ~10-minute file made of the
set repeated (bench/compare_longfile.py), reference = the references joined; --memory-hour,
a 1-hour file, each tool once (default tools: transcribe only), for peak memory.
Prints markdown on stdout, progress on stderr; figures go in BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_asr import (  # noqa: E402  (bench/ is not a package)
    BARE,
    DEFAULT_CORPUS,
    PYTHON,
    TRANSCRIBE,
    Run,
    corpus,
    duration,
    log,
    machine,
    score,
    versions,
)
from compare_longfile import build  # noqa: E402

BASELINES = ("bare", "bare-batched", "whisper-ctranslate2")
SECONDS = {"long": 600.0, "hour": 3600.0}


@dataclass(frozen=True)
class Tool:
    """One row of the table: how to run it and where its texts land."""

    name: str
    argv: tuple[str, ...]  # FILES and OUT are filled in per run
    output: str  # "json" (a "text" field) or "txt", NAME.EXT in OUT


def cores() -> int:
    return len(os.sched_getaffinity(0))


def tools(args: argparse.Namespace, model_dir: str) -> list[Tool]:
    """The tools asked for, transcribe (and its variants) first."""
    out: list[Tool] = []
    wanted = args.tools.split(",")
    if "transcribe" in wanted:
        out.append(Tool("transcribe", (), "json"))
        for spec in args.variant:
            name, _, extra = spec.partition("=")
            out.append(Tool(f"transcribe[{name}]", tuple(shlex.split(extra)), "json"))
    if "bare" in wanted:
        out.append(Tool("bare", ("--model-dir", model_dir), "txt"))
    if "bare-batched" in wanted:
        batched = ("--model-dir", model_dir, "--batch-size", str(args.batch_size))
        out.append(Tool("bare-batched", batched, "txt"))
    if "whisper-ctranslate2" in wanted:
        out.append(Tool("whisper-ctranslate2", wct2_options(model_dir), "json"))
    return out


def wct2_options(model_dir: str) -> tuple[str, ...]:
    """whisper-ctranslate2 set to transcribe's defaults (its own VAD default is off)."""
    return (
        "--model_directory", model_dir, "--local_files_only", "True",
        "--device", "cpu", "--compute_type", "int8", "--threads", str(cores()),
        "--beam_size", "5", "--best_of", "5",
        "--vad_filter", "True", "--vad_min_silence_duration_ms", "2000",
        "--output_format", "json", "--verbose", "False",
    )  # fmt: skip


def command(tool: Tool, files: list[Path], out: Path, args: argparse.Namespace) -> list[str]:
    names = [str(f) for f in files]
    if tool.name.startswith("transcribe"):
        head = [TRANSCRIBE, *names, "--model", args.model, "--format", "json"]
        return [*head, "-o", str(out), "--overwrite", "--quiet", *tool.argv]
    if tool.name.startswith("bare"):
        return [PYTHON, str(BARE), *tool.argv, *names, "--out", str(out)]
    wct2 = str(args.bench_venv / "bin" / "whisper-ctranslate2")
    return [wct2, *names, *tool.argv, "--output_dir", str(out)]


def measure(argv: list[str]) -> tuple[float, float, float, int, str]:
    """bench_asr.measure plus CPU time: wall s, peak RSS MiB, user+sys CPU s, status, stderr.

    CPU seconds (the child's and those of the children it waited for, e.g. ffmpeg) move less
    than wall time when other work shares the cores, but do not show parallel speed-ups."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, cpu, os.waitstatus_to_exitcode(status), stderr


def run_once(tool: Tool, files: list[Path], out: Path, rnd: int, args: argparse.Namespace) -> Run:
    """One process; a missing output counts as a failure (whisper-ctranslate2 exits 0)."""
    load = os.getloadavg()[0]
    wall, rss, cpu, rc, stderr = measure(command(tool, files, out, args))
    run = Run(tool.name, rnd, wall, rss, rc)
    for f in files:
        result = out / f"{f.stem}.{tool.output}"
        if not result.is_file():
            continue
        raw = result.read_text(encoding="utf-8")
        run.texts[f.stem] = (
            json.loads(raw)["text"].strip() if tool.output == "json" else raw.strip()
        )
    missing = [f.name for f in files if f.stem not in run.texts]
    if missing and run.returncode == 0:
        run.returncode = -1
    run.detail = {"loadavg_1min": round(load, 2), "cpu_s": round(cpu, 2), "missing": missing}
    run.detail["stderr"] = stderr[-1500:]
    return run


def rounds(
    rows: list[Tool], files: list[Path], args: argparse.Namespace, n: int, tmp: Path
) -> list[Run]:
    """n rounds; round r starts with tool r-1 (rotation), so no tool always runs first."""
    runs: list[Run] = []
    for rnd in range(1, n + 1):
        shift = (rnd - 1) % len(rows)
        for tool in rows[shift:] + rows[:shift]:
            out = tmp / f"{tool.name}-{rnd}"
            run = run_once(tool, files, out, rnd, args)
            log(
                f"round {rnd} {tool.name}: {run.wall_s:.1f} s, {run.peak_rss_mib:.0f} MiB, "
                f"CPU {run.detail['cpu_s']:.1f} s, exit {run.returncode}, "
                f"load {run.detail['loadavg_1min']}"
            )
            runs.append(run)
    return runs


def summarize(rows: list[Tool], runs: list[Run], refs: dict[str, str], audio_s: float) -> dict:
    out: dict[str, Any] = {}
    for tool in rows:
        mine = [r for r in runs if r.tool == tool.name]
        good = [r for r in mine if r.returncode == 0] or mine
        walls = [r.wall_s for r in good]
        wall = statistics.median(walls)
        out[tool.name] = {
            "wall_s_median": wall,
            "wall_s_min": min(walls),
            "wall_s_max": max(walls),
            "wall_s_all": [round(r.wall_s, 2) for r in mine],
            "rtf": wall / audio_s,
            "x_realtime": audio_s / wall,
            "cpu_s_median": statistics.median(r.detail["cpu_s"] for r in good),
            "peak_rss_mib_median": statistics.median(r.peak_rss_mib for r in good),
            "peak_rss_mib_max": max(r.peak_rss_mib for r in good),
            "failed_runs": sum(r.returncode != 0 for r in mine),
            "texts_stable_across_rounds": all(r.texts == good[0].texts for r in good),
            "score": score(refs, good[0].texts),
        }
    base = out.get("transcribe")
    for row in out.values():
        row["wall_ratio"] = row["wall_s_median"] / base["wall_s_median"] if base else None
        rss = row["peak_rss_mib_median"]
        row["rss_ratio"] = rss / base["peak_rss_mib_median"] if base else None
    return out


def git_state() -> str:
    """`git log -1 --format=%h` of the tree transcribe runs from (an editable install), and a
    hash of the uncommitted changes outside bench/ that it runs with, if any."""
    repo = ["git", "-C", str(HERE.parent)]
    head = subprocess.run([*repo, "log", "-1", "--format=%h"], capture_output=True, text=True)
    diff = subprocess.run(
        [*repo, "diff", "HEAD", "--", ".", ":!bench"], capture_output=True, check=False
    ).stdout
    if not diff:
        return head.stdout.strip()
    digest = hashlib.sha1(diff).hexdigest()[:7]
    return f"{head.stdout.strip()} + uncommitted diff {digest}"


def wct2_version(bench_venv: Path) -> str:
    exe = bench_venv / "bin" / "whisper-ctranslate2"
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip() or "absent"


def inputs(args: argparse.Namespace, tmp: Path) -> tuple[list[Path], dict[str, str], str]:
    """The files to run, their references, and a label for the mode."""
    files, refs = corpus(args.corpus)
    if args.files:
        files = [Path(f).resolve() for f in args.files]
        refs = {f.stem: f.with_suffix(".txt").read_text("utf-8").strip() for f in files}
    mode = "hour" if args.memory_hour else "long" if args.long else "set"
    if mode == "set":
        return files, refs, f"set of {len(files)} files"
    seconds = args.long_seconds if mode == "long" else SECONDS["hour"]
    made = build(files, refs, tmp / f"compare_{mode}.wav", seconds=seconds)
    log(f"built {made.path}: {made.seconds:.1f} s from {len(made.pieces)} pieces")
    label = f"one {made.seconds / 60:.1f}-minute file ({len(made.pieces)} corpus pieces)"
    return [made.path], {made.path.stem: made.reference}, label


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from ffscribe.core.asr.models import resolve_model

    model_dir = resolve_model(args.model).path
    rows = tools(args, model_dir)
    commit_before = git_state()
    with tempfile.TemporaryDirectory(prefix="ffscribe-compare-") as tmpdir:
        tmp = Path(tmpdir)
        files, refs, label = inputs(args, tmp)
        audio_s = sum(duration(f) for f in files)
        log(f"model {args.model} -> {model_dir}; {label}, {audio_s:.1f} s; {commit_before}")
        n = 1 if args.memory_hour else args.rounds
        runs = rounds(rows, files, args, n, tmp)
    return {
        "model": args.model,
        "model_path": model_dir,
        "mode": label,
        "files": [f.name for f in files],
        "audio_seconds": audio_s,
        "commit": [commit_before, git_state()],
        "machine": machine(),
        "versions": {**versions(), "whisper-ctranslate2": wct2_version(args.bench_venv)},
        "loadavg_1min": [r.detail["loadavg_1min"] for r in runs] + [round(os.getloadavg()[0], 2)],
        "rounds": n,
        "tools": [asdict(t) for t in rows],
        "runs": [asdict(r) for r in runs],
        "summary": summarize(rows, runs, refs, audio_s),
    }


def markdown(result: dict[str, Any]) -> str:
    s, m, v = result["summary"], result["machine"], result["versions"]
    load = result["loadavg_1min"]
    lines = [
        f"Model `{result['model']}` ({result['model_path']}); {result['mode']}, "
        f"{result['audio_seconds']:.1f} s of audio; {result['rounds']} round(s); "
        f"commit {result['commit'][0]}"
        + (f" -> {result['commit'][1]}" if result["commit"][1] != result["commit"][0] else "")
        + f"; {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; faster-whisper "
        f"{v['faster-whisper']}, ctranslate2 {v['ctranslate2']}, {v['whisper-ctranslate2']}; "
        f"1-minute load before each run {min(load):.2f}-{max(load):.2f}.",
        "",
        "| tool | wall median (s) | min-max (s) | RTF | x real time | CPU (s) "
        "| peak RSS (MiB) | WER | wall / transcribe's | RSS / transcribe's |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in s.items():
        sc = row["score"]
        fails = f" ({row['failed_runs']} failed)" if row["failed_runs"] else ""
        lines.append(
            f"| {name}{fails} | {row['wall_s_median']:.2f} | {row['wall_s_min']:.2f}-"
            f"{row['wall_s_max']:.2f} | {row['rtf']:.3f} | {row['x_realtime']:.2f} "
            f"| {row['cpu_s_median']:.1f} "
            f"| {row['peak_rss_mib_median']:.0f} | {100 * sc['wer']:.2f} % "
            f"({sc['errors']}/{sc['ref_words']}) | {_ratio(row['wall_ratio'])} "
            f"| {_ratio(row['rss_ratio'])} |"
        )
    lines.append("")
    lines += [f"- {name}: every round {row['wall_s_all']} s" for name, row in s.items()]
    unstable = [n for n, row in s.items() if not row["texts_stable_across_rounds"]]
    if unstable:
        lines.append(f"- text differed between rounds: {', '.join(unstable)}")
    lines += goals(s)
    return "\n".join(lines)


def goals(s: dict[str, Any]) -> list[str]:
    """The issue's two speed/accuracy numbers, where the rows to compute them ran."""
    out = []
    a = s.get("transcribe")
    if a and "whisper-ctranslate2" in s:
        speed = s["whisper-ctranslate2"]["wall_s_median"] / a["wall_s_median"]
        out.append(f"- transcribe vs whisper-ctranslate2: {speed:.2f}x as fast (goal >= 1.5x)")
    if a and "bare" in s:
        delta = 100 * (a["score"]["wer"] - s["bare"]["score"]["wer"])
        out.append(f"- transcribe WER - bare sequential WER: {delta:+.2f} points (goal <= +0.3)")
    return out


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base", help="model name (default base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", nargs="+", help="media with NAME.txt references beside them")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--long", action="store_true", help="one ~10-minute file")
    mode.add_argument("--memory-hour", action="store_true", help="one 1-hour file, once")
    parser.add_argument("--long-seconds", type=float, default=SECONDS["long"])
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME=ARGS",
        help="another transcribe row with ARGS appended, e.g. 'jobs2=--jobs 2' (repeatable)",
    )  # fmt: skip
    parser.add_argument("--tools", help="comma-separated: transcribe," + ",".join(BASELINES))
    parser.add_argument("--batch-size", type=int, default=8, help="for bare-batched")
    parser.add_argument("--bench-venv", type=Path, default=Path("/work/bench-venv"))
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    args = parser.parse_args(argv)
    if args.tools is None:
        args.tools = "transcribe" if args.memory_hour else ",".join(("transcribe", *BASELINES))
    result = bench(args)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 1 if any(r["returncode"] != 0 for r in result["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
