"""The service's throughput and latency, and its overhead over the CLI on the same files.

    python bench/bench_serve.py --model base --clips 13 --rounds 2

Makes 10 s clips from the fixtures (long_speech.wav, cut at different offsets and looped).
The overhead: the service and `transcribe`, one worker each (`--jobs 1`) and one input at a
time, on the same clips with the same options (text out), timed with the same boundaries:
from handing the input over to having its text, with the process start, the model load and a
first warm clip taken out of both (the CLI's cost is that of a run over the warm clip and the
timed ones less a run over the warm clip alone). Wall and CPU seconds a clip (the server's
CPU from /proc, its ffmpeg calls included; the CLI's from its rusage), in rounds interleaved
so a load that drifts hits both. The throughput: the service at concurrency 1, 2 and 4
through the official `openai` client (one client per thread), requests per minute, p50 and
p95 latency, against `transcribe --jobs 2` over the same clips. Results go into
BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
MEDIA = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "media"


def make_clips(root: Path, count: int) -> list[Path]:
    """`count` 10 s WAV clips of speech: long_speech.wav looped, from different offsets."""
    import imageio_ffmpeg

    ffmpeg = os.environ.get("FFSCRIBE_FFMPEG") or imageio_ffmpeg.get_ffmpeg_exe()
    clips = []
    for i in range(count):
        clip = root / f"clip{i:02d}.wav"
        subprocess.run(
            [ffmpeg, "-v", "error", "-stream_loop", "1", "-ss", str(i % 9), "-t", "10",
             "-i", str(MEDIA / "long_speech.wav"), "-ar", "16000", "-ac", "1", str(clip)],
            check=True,
        )  # fmt: skip
        clips.append(clip)
    return clips


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: str, jobs: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), "serve", "--model", model, "--port", str(port),
         "--jobs", str(jobs), "--quiet", "--max-queue", "64"],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)


def serve_round(url: str, clips: list[Path], concurrency: int) -> tuple[float, list[float]]:
    """Wall time for every clip at `concurrency`, and each request's latency."""
    import openai

    clients = [
        openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=600)
        for _ in range(concurrency)
    ]

    def one(i: int) -> float:
        mark = time.perf_counter()
        with clips[i].open("rb") as fh:
            clients[i % concurrency].audio.transcriptions.create(
                file=fh, model="whisper-1", response_format="text"
            )
        return time.perf_counter() - mark

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(len(clips))))
    return time.perf_counter() - started, latencies


def cli_run(model: str, clips: list[Path], jobs: int, out: Path) -> tuple[float, float]:
    """The CLI over every clip: its wall time, and its CPU time (ffmpeg's included)."""
    before = _children_cpu()
    mark = time.perf_counter()
    subprocess.run(
        [str(BIN / "transcribe"), *map(str, clips), "--model", model, "--jobs", str(jobs),
         "-f", "txt", "-o", str(out), "--overwrite", "--quiet"],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - mark, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """A running process's CPU seconds, with those of the children it has waited for
    (the server's ffmpeg calls)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # u, s, cu, cs


@dataclass(frozen=True)
class Side:
    """One side's cost of the timed clips, one at a time: wall and CPU seconds a clip."""

    wall: float
    cpu: float


def serve_one_at_a_time(model: str, warm: Path, clips: list[Path]) -> Side:
    """The service, one worker, one request at a time: from the first byte sent to the last
    result received, after one warm request; the server's CPU over the same span."""
    proc, url = start_server(model, 1)
    try:
        serve_round(url, [warm], 1)
        cpu = process_cpu(proc.pid)
        wall, _ = serve_round(url, clips, 1)
        cpu = process_cpu(proc.pid) - cpu
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    return Side(wall / len(clips), cpu / len(clips))


def cli_one_at_a_time(model: str, warm: Path, clips: list[Path], out: Path) -> Side:
    """`transcribe --jobs 1` (one input at a time) on the warm clip alone and on the warm
    clip then the timed ones: the difference is the timed clips' cost with the process start,
    the model load and the first (warm) clip taken out, the service's boundaries."""
    alone = cli_run(model, [warm], 1, out)
    both = cli_run(model, [warm, *clips], 1, out)
    n = len(clips)
    return Side((both[0] - alone[0]) / n, (both[1] - alone[1]) / n)


def serve_rounds(
    model: str, jobs: int, clips: list[Path], levels: tuple[int, ...]
) -> dict[int, tuple[float, list[float]]]:
    proc, url = start_server(model, jobs)
    try:
        serve_round(url, clips[:2], 2)  # warm
        return {c: serve_round(url, clips, c) for c in levels}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def overhead(model: str, clips: list[Path], out: Path, rounds: int) -> None:
    """Service against CLI, one at a time, interleaved A B A B so load drifts hit both."""
    warm, timed = clips[0], clips[1:]
    print(f"one at a time, one worker each, {len(timed)} clips after a warm one (s a clip):")
    print("| round | service wall | CLI wall | wall overhead | service CPU | CLI CPU | load |")
    print("|---|---|---|---|---|---|---|")
    for r in range(rounds):
        served = serve_one_at_a_time(model, warm, timed)
        cli = cli_one_at_a_time(model, warm, timed, out)
        print(
            f"| {r + 1} | {served.wall:.3f} | {cli.wall:.3f} | "
            f"{100 * (served.wall / cli.wall - 1):+.1f} % | {served.cpu:.3f} | {cli.cpu:.3f} | "
            f"{os.getloadavg()[0]:.1f} |"
        )


def throughput(model: str, jobs: int, clips: list[Path], out: Path) -> None:
    rounds = serve_rounds(model, jobs, clips, (1, 2, 4))
    cli_wall, _ = cli_run(model, clips, jobs, out)
    n = len(clips)
    print(f"server --jobs {jobs}, {n} clips")
    print("| concurrency | requests/min | p50 s | p95 s |")
    print("|---|---|---|---|")
    for c, (wall, lat) in rounds.items():
        p95 = statistics.quantiles(lat, n=20)[-1]
        print(f"| {c} | {60 * n / wall:.1f} | {statistics.median(lat):.2f} | {p95:.2f} |")
    print(f"throughput: service at concurrency 4 {60 * n / rounds[4][0]:.1f}/min, "
          f"transcribe --jobs {jobs} {60 * n / cli_wall:.1f}/min (with its load)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2, help="the server's and the CLI's workers")
    parser.add_argument("--rounds", type=int, default=2, help="service/CLI pairs, interleaved")
    parser.add_argument("--only", choices=("overhead", "throughput"), help="one part only")
    args = parser.parse_args()
    print(f"model {args.model}, 10 s clips, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = make_clips(root, args.clips)
        out = root / "out"
        out.mkdir()
        if args.only != "throughput":
            overhead(args.model, clips, out, args.rounds)
        if args.only != "overhead":
            throughput(args.model, args.jobs, clips, out)
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
