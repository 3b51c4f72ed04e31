"""The service's throughput and latency, and its overhead over the CLI on the same files.

    python bench/bench_serve.py --model tiny.en --clips 12

Makes 10 s clips from the fixtures (long_speech.wav, cut at different offsets and looped),
starts `transcribe serve` on a free loopback port, and sends every clip through the official
`openai` client at concurrency 1, 2 and 4 (one client per thread): requests per minute, p50
and p95 latency. Then the CLI on the same clips: `transcribe --jobs 1` per file at
concurrency 1 (the model load removed: a run of one clip is subtracted), and `--jobs 2` over
all of them, against the service at concurrency 4. Results go into BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def cli_run(model: str, clips: list[Path], jobs: int, out: Path) -> tuple[float, list[float]]:
    """The CLI over every clip: its wall time, and each clip's seconds from its --report."""
    report = out / "report.json"
    mark = time.perf_counter()
    subprocess.run(
        [str(BIN / "transcribe"), *map(str, clips), "--model", model, "--jobs", str(jobs),
         "-f", "txt", "-o", str(out), "--overwrite", "--quiet", "--report", str(report)],
        check=True,
    )  # fmt: skip
    wall = time.perf_counter() - mark
    return wall, [r["seconds"] for r in json.loads(report.read_text())["inputs"]]


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2, help="the server's and the CLI's workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = make_clips(root, args.clips)
        out = root / "out"
        out.mkdir()
        single = serve_rounds(args.model, 1, clips, (1,))[1]
        rounds = serve_rounds(args.model, args.jobs, clips, (1, 2, 4))
        _, cli_single = cli_run(args.model, clips, 1, out)
        cli_wall, _ = cli_run(args.model, clips, args.jobs, out)
    n = len(clips)
    print(
        f"model {args.model}, {n} clips of 10 s, {os.cpu_count()} CPUs, server --jobs {args.jobs}"
    )
    print("| concurrency | requests/min | p50 s | p95 s |")
    print("|---|---|---|---|")
    for c, (wall, lat) in rounds.items():
        p95 = statistics.quantiles(lat, n=20)[-1]
        print(f"| {c} | {60 * n / wall:.1f} | {statistics.median(lat):.2f} | {p95:.2f} |")
    served = statistics.median(single[1])
    cli = statistics.median(cli_single[1:])  # the first clip carries the model load
    print(f"one worker, one at a time: service {served:.2f} s a clip (median, HTTP included), "
          f"CLI --jobs 1 {cli:.2f} s; overhead {100 * (served / cli - 1):+.1f} %")  # fmt: skip
    print(f"throughput: service at concurrency 4 {60 * n / rounds[4][0]:.1f}/min, "
          f"transcribe --jobs {args.jobs} {60 * n / cli_wall:.1f}/min (with its load)")  # fmt: skip


if __name__ == "__main__":
    main()
