"""How soon `stream=true` answers: the first `transcript.text.delta` against the done event
and against the same request without streaming, on one long file.

    python bench/bench_stream.py FILE --model base --jobs 1 --rounds 2

Starts `transcribe serve` on a free loopback port and sends FILE through the official
`openai` client, streamed and not, interleaved (S N S N ...): per round, seconds to the first
delta, to the done event, and the plain request's seconds. Results go into BENCHMARKS.md by
hand (issue 15, "Streaming").
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import start_server


def streamed(client: object, path: Path) -> tuple[float, float, int]:
    """Seconds to the first delta and to the done event, and the number of deltas."""
    started = time.perf_counter()
    first, deltas = None, 0
    with path.open("rb") as fh:
        stream = client.audio.transcriptions.create(  # type: ignore[attr-defined]
            file=fh, model="whisper-1", language="en", stream=True
        )
        for event in stream:
            if event.type == "transcript.text.delta":
                deltas += 1
                first = first or time.perf_counter() - started
    done = time.perf_counter() - started
    return first or done, done, deltas


def plain(client: object, path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as fh:
        client.audio.transcriptions.create(  # type: ignore[attr-defined]
            file=fh, model="whisper-1", language="en"
        )
    return time.perf_counter() - started


def main() -> None:
    import openai

    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--model", default="base")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    proc, url = start_server(args.model, args.jobs)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=3600)
        rows = []
        for n in range(args.rounds):
            first, done, deltas = streamed(client, args.file)
            whole = plain(client, args.file)
            rows.append((first, done, whole))
            print(f"round {n}: first delta {first:.1f} s, done {done:.1f} s ({deltas} deltas), "
                  f"not streamed {whole:.1f} s", flush=True)  # fmt: skip
        for name, i in (("first delta", 0), ("done", 1), ("not streamed", 2)):
            print(f"median {name}: {statistics.median(r[i] for r in rows):.1f} s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


if __name__ == "__main__":
    main()
