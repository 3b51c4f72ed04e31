"""Where a run's wall time goes, per thread: runs `transcribe` with FFSCRIBE_TIMELINE set
(core/engine/timeline.py records named spans of wall and thread CPU time) and prints, per thread,
each span's own time (its children's taken out), the time no span covers (idle: waiting
for work or for another thread), and a chart of the top-level spans over the run.

    python bench/timeline.py FILE -- --model base --language en
    python bench/timeline.py --spans RUN.jsonl      # summarize spans recorded before

Arguments after `--` go to `transcribe` (the output goes to a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

Span = dict[str, Any]


def record(media: str, extra: list[str], spans: Path, keep: Path | None = None) -> float:
    """Run transcribe on `media` with spans written to `spans` (its text to `keep`, when
    given); its wall time."""
    exe = Path(sys.executable).with_name("transcribe")
    with tempfile.TemporaryDirectory() as scratch:
        out = str(keep or scratch)
        argv = [str(exe), media, "--format", "txt", "-o", out, "--overwrite", "--quiet", *extra]
        env = {**os.environ, "FFSCRIBE_TIMELINE": str(spans)}
        started = time.perf_counter()
        subprocess.run(argv, check=True, env=env)
        wall = time.perf_counter() - started
        for text in Path(out).glob("*.txt"):
            print(f"{text.name}: {len(text.read_text().split())} words", file=sys.stderr)
    return wall


def load(path: Path) -> tuple[list[Span], list[Span]]:
    """The spans, and each OS thread's CPU time at exit."""
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if "start" in r], [r for r in records if "cpu_total" in r]


def own_times(spans: list[Span]) -> tuple[dict[str, dict[str, list[float]]], list[Span]]:
    """Per thread, per span name, [own wall, own CPU, count, wall] (own: its children's
    time taken out; a recursive span's wall counts each level),
    and the top-level spans (those inside no other span of their thread)."""
    table: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    top: list[Span] = []
    by_thread: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_thread[s["thread"]].append(s)
    for thread, own in by_thread.items():
        own.sort(key=lambda s: (s["start"], -s["end"]))
        stack: list[Span] = []
        for s in own:
            while stack and stack[-1]["end"] <= s["start"]:
                stack.pop()
            row = table[thread][s["name"]]
            row[0] += s["end"] - s["start"]
            row[1] += s["cpu"]
            row[2] += 1
            row[3] += s["end"] - s["start"]
            if stack:
                parent = table[thread][stack[-1]["name"]]
                parent[0] -= s["end"] - s["start"]
                parent[1] -= s["cpu"]
            else:
                top.append(s)
            stack.append(s)
    return table, top


def report(spans: list[Span], *, width: int = 100) -> str:
    """The per-thread table and the chart, as text (markdown table)."""
    zero = min(s["start"] for s in spans)
    end = max(s["end"] for s in spans)
    table, top = own_times(spans)
    lines = [f"run: {end - zero:.2f} s from the first span to the last", ""]
    lines += ["| thread | span | wall (s) | own wall (s) | own CPU (s) | count |"]
    lines += ["|---|---|---|---|---|---|"]
    for thread in sorted(table):
        rows = table[thread]
        for name, (own, cpu, count, wall) in sorted(rows.items(), key=lambda kv: -kv[1][3]):
            cells = f"{wall:.2f} | {own:.2f} | {cpu:.2f} | {count:.0f}"
            lines.append(f"| {thread} | {name} | {cells} |")
        covered = sum(s["end"] - s["start"] for s in top if s["thread"] == thread)
        lines.append(f"| {thread} | (no span: idle) | {end - zero - covered:.2f} | | | |")
    lines += ["", _chart(top, zero, end, width)]
    return "\n".join(lines)


def _chart(top: list[Span], zero: float, end: float, width: int) -> str:
    """One row per thread, one column per (end - zero) / width seconds: the letter of the
    top-level span covering most of it ('.' none), with a key."""
    step = (end - zero) / width
    letters: dict[str, str] = {}
    rows = []
    for thread in sorted({s["thread"] for s in top}):
        cells = []
        mine = [s for s in top if s["thread"] == thread]
        for column in range(width):
            a, b = zero + column * step, zero + (column + 1) * step
            best, most = ".", 0.0
            for s in mine:
                overlap = min(b, s["end"]) - max(a, s["start"])
                if overlap > most:
                    most = overlap
                    best = letters.setdefault(s["name"], _letter(s["name"], letters))
            cells.append(best if most >= step / 2 else ("." if most == 0 else best.lower()))
        rows.append(f"{thread:>22} |{''.join(cells)}|")
    key = ", ".join(f"{v} {k}" for k, v in letters.items())
    return "\n".join([f"one column = {step:.2f} s; {key}", *rows])


def _letter(name: str, taken: dict[str, str]) -> str:
    used = set(taken.values())
    for ch in name.upper() + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        if ch.isalnum() and ch not in used:
            return ch
    return "#"


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("media", nargs="?", help="the input to transcribe")
    parser.add_argument("--spans", type=Path, help="spans recorded before (JSON lines)")
    parser.add_argument("--keep", type=Path, help="where to keep this run's spans")
    parser.add_argument("--out", type=Path, help="where to keep the transcript")
    parser.add_argument("--width", type=int, default=100)
    args = parser.parse_args(args_in)
    if args.spans is None and args.media is None:
        parser.error("give a media file or --spans")
    path = args.spans
    if path is None:
        path = args.keep or Path(tempfile.mkstemp(suffix=".jsonl")[1])
        path.write_text("")
        wall = record(args.media, extra, path, args.out)
        print(f"transcribe: {wall:.2f} s wall, process start to exit")
    spans, threads = load(path)
    print(report(spans, width=args.width))
    busy = sorted(threads, key=lambda t: -t["cpu_total"])
    print(
        "CPU by OS thread (s):",
        ", ".join(f"{t['os_thread']} {t['cpu_total']:.1f}" for t in busy[:6]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
