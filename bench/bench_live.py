"""Benchmark: live transcription at real speed, against the offline result of the same model.

    .venv/bin/python bench/bench_live.py --model base [--methods live,gradio,la2] [--json out]
    .venv/bin/python bench/bench_live.py --model base --methods live --long 1800   # flatness
    .venv/bin/python bench/bench_live.py --model base --methods live --files heldout --window 30
    .venv/bin/python bench/bench_live.py --model base --methods live --files heldout --repeat 4
    .venv/bin/python bench/bench_live.py --methods live --set trim_after=6 --set sentence_cuts=true

Each corpus file (default: the English files with a reference, /work/shared/corpus/asr_en) is
decoded once offline as `transcribe` does (Pipeline, default options, word timestamps), then
fed at real speed, 0.1 s at a time from a pacing thread, to each method; the decoding thread
takes all audio that came while it worked, as `transcribe live` does on a paced source:

- live: ffscribe's LiveSession (core/asr/live.py) with the CLI's defaults (greedy, 0.5 s
  steps); --window, --beam and --set NAME=VALUE (a LiveOptions field) change them.
- gradio: the Gradio streaming-ASR tutorial's method: every step, transcribe all audio so far.
  A word counts as committed from the step after which it never changed again.
- greedy: not live, the whole file decoded offline greedy (what greedy alone costs).
- la2: LocalAgreement-2 as packaged on PyPI (`whisper-streaming` 0.1.0, a fork of
  ufal/whisper_streaming; pass its unpacked wheel with --la2-path): its TranscriptionBuffer
  decides the commits; the loop around it (1 s steps, whole buffer decoded without VAD, the
  buffer cut at the last committed word past 15 s, committed text as prompt) is ufal's.

Per word committed: latency = wall time of the commit - the end of the word in the audio (the
offline word it aligns to, else its own time); p50 and p95. WER of the committed text against
the reference beside the offline WER (whisper_normalizer + jiwer, as bench_asr.py). CPU: the
process's user+system seconds over the wall time (cores busy). The JSON also holds each
method's text and, per committed word, its end in the audio, its latency and its commit time.
--simulate LOW HIGH replaces real speed with seeded steps (a policy comparison without noise).
--long N loops the files into one N-second stream and compares the first five minutes'
latency with the last five's.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import queue
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_asr import corpus, machine, score

from ffscribe.core.asr.live import WINDOW

RATE = 16000
CHUNK = RATE // 10
# The English files not used to tune the live session (the sonnets were): `--files heldout`.
HELD_OUT = [
    "jfk",
    "mfa_acoustic_corpus",
    "ldc93s1_timit",
    "librispeech_61-70968-0000",
    "lj050-0131",
    "picovoice_en_quilter",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Pacer:
    """Puts `samples` into a queue 0.1 s at a time, at the speed they play."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.chunks: queue.Queue[np.ndarray | None] = queue.Queue()
        self.start = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for i in range(0, self.samples.size, CHUNK):
            due = self.start + i / RATE
            time.sleep(max(0.0, due - time.monotonic()))
            self.chunks.put(self.samples[i : i + CHUNK])
        self.chunks.put(None)

    def take(self) -> tuple[np.ndarray, bool]:
        """All audio that has come (waiting for some), and whether the end has come."""
        parts = [self.chunks.get()]
        while True:
            try:
                parts.append(self.chunks.get_nowait())
            except queue.Empty:
                break
        ended = parts[-1] is None
        got = [p for p in parts if p is not None]
        return (np.concatenate(got) if got else np.zeros(0, np.float32)), ended

    def now(self) -> float:
        return time.monotonic() - self.start


class Simulated:
    """A Pacer that does not wait: each take hands the next step of audio at once, its length
    drawn from [low, high] seconds by a seeded generator (what a decode of that length lets
    through at real speed), and `now` is the audio's time. A run depends only on the seed,
    so two policies can be compared without run-to-run noise; its latencies leave the
    decodes' own time out."""

    def __init__(self, samples: np.ndarray, low: float, high: float, seed: int) -> None:
        self.samples = samples
        self.rng = np.random.default_rng(seed)
        self.low, self.high = low, high
        self.fed = 0

    def take(self) -> tuple[np.ndarray, bool]:
        step = int(self.rng.uniform(self.low, self.high) * RATE)
        chunk = self.samples[self.fed : self.fed + step]
        self.fed += chunk.size
        return chunk, self.fed >= self.samples.size

    def now(self) -> float:
        return self.fed / RATE


Commits = list[tuple[str, float, float]]  # (word, its own end in the audio, wall time)


def run_live(
    model: Any,
    decode: Any,
    samples: np.ndarray,
    window: float,
    simulate: Simulated | None = None,
    **options: Any,
) -> Commits:
    from ffscribe.core.asr.live import LiveOptions, LiveSession, WhisperDecoder

    settings = LiveOptions(window=window, **options)
    session = LiveSession(WhisperDecoder(model, decode), settings)
    pacer = simulate or Pacer(samples)
    out: Commits = []
    ended = False
    while not ended:
        chunk, ended = pacer.take()
        session.feed(chunk)
        if ended:
            session.finish()
        now = pacer.now()
        out += [(w.word, w.end, now) for w in session.committed_words[len(out) :]]
    return out


def run_gradio(model: Any, kwargs: dict[str, Any], samples: np.ndarray) -> Commits:
    pacer = Pacer(samples)
    heard = np.zeros(0, np.float32)
    history: list[tuple[float, list[tuple[str, float]]]] = []
    ended = False
    while not ended:
        chunk, ended = pacer.take()
        heard = np.concatenate([heard, chunk])
        if heard.size < RATE:
            continue
        segments, _ = model.model.transcribe(heard, **kwargs)
        words = [(w.word, float(w.end)) for s in segments for w in s.words or ()]
        history.append((pacer.now(), words))
    final = history[-1][1] if history else []
    out: Commits = []
    for i, (word, end) in enumerate(final):
        since = history[-1][0]
        for wall, words in reversed(history):
            if len(words) > i and _norm(words[i][0]) == _norm(word):
                since = wall
            else:
                break
        out.append((word, end, since))
    return out


def run_greedy(model: Any, kwargs: dict[str, Any], samples: np.ndarray) -> Commits:
    """Not live: the whole file decoded offline as live decodes (greedy, this model), to
    tell what greedy decoding costs from what decoding fragments costs."""
    start = time.monotonic()
    segments, _ = model.model.transcribe(samples, **{**kwargs, "vad_filter": True})
    words = [(w.word, float(w.end)) for s in segments for w in s.words or ()]
    return [(w, end, time.monotonic() - start) for w, end in words]


def run_la2(model: Any, kwargs: dict[str, Any], samples: np.ndarray, path: str) -> Commits:
    sys.path.insert(0, path)
    sys.modules.setdefault("mosestokenizer", type(sys)("mosestokenizer"))  # unused by the buffer
    sys.modules["mosestokenizer"].MosesTokenizer = object  # type: ignore[attr-defined]
    from whisper_streaming.base import Word as LaWord
    from whisper_streaming.processor import TranscriptionBuffer

    buffer = TranscriptionBuffer(TranscriptionBuffer.Config())
    pacer = Pacer(samples)
    audio = np.zeros(0, np.float32)
    offset = 0.0
    out: Commits = []
    ended = False
    while not ended:
        chunk, ended = pacer.take()
        audio = np.concatenate([audio, chunk])
        prompt = "".join(w for w, _, _ in out)[-200:]
        segments, _ = model.model.transcribe(audio, **{**kwargs, "initial_prompt": prompt or None})
        words = [
            LaWord(float(w.start) + offset, float(w.end) + offset, w.word)
            for s in segments
            for w in s.words or ()
        ]
        done = buffer.insert(words)
        if ended:
            done += buffer.transcriptions_in_limbo
        now = pacer.now()
        out += [(w.word, w.end, now) for w in done]
        if audio.size > 15 * RATE and out:
            cut = max(0, int((out[-1][1] - offset) * RATE))
            audio, offset = audio[cut:], offset + cut / RATE
            buffer.trim(offset)
    return out


NEAR = 10.0  # seconds: Whisper's word times, live or offline, are off by a second or two


def _norm(word: str) -> str:
    return re.sub(r"[^\w']+", "", word.lower())


def latencies(commits: Commits, offline: list[tuple[str, float]]) -> list[float]:
    """Per committed word: commit wall time - end of the word in the audio (offline timing
    where the word aligns with the offline result, else the live one). An aligned word more
    than NEAR seconds from the live word's own time is another occurrence (a looped stream
    says the same words every period, and the matcher may pair them across periods)."""
    a = [_norm(w) for w, _, _ in commits]
    b = [_norm(w) for w, _ in offline]
    ends = [end for _, end, _ in commits]
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            if abs(offline[block.b + k][1] - ends[block.a + k]) <= NEAR:
                ends[block.a + k] = offline[block.b + k][1]
    return [wall - end for (_, _, wall), end in zip(commits, ends, strict=True)]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(name: str, run: Callable[[], Commits]) -> tuple[Commits, dict[str, float]]:
    cpu0, wall0 = os.times(), time.monotonic()
    commits = run()
    cpu1, wall = os.times(), time.monotonic() - wall0
    busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    log(f"  {name}: {len(commits)} words, {wall:.1f} s wall, {busy / wall:.2f} cores")
    return commits, {"wall_s": wall, "cpu_cores": busy / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus/asr_en"))
    parser.add_argument("--files", default="sonnets001-003_concat,mfa_acoustic_corpus,jfk")
    parser.add_argument("--methods", default="live,gradio,la2")
    parser.add_argument("--window", type=float, default=WINDOW, help="live: --window (10-30)")
    parser.add_argument("--beam", type=int, default=1, help="live: --beam-size (1: greedy)")
    parser.add_argument("--la2-path", default="/tmp/wt16-pkg/ws")
    parser.add_argument("--long", type=float, default=0.0, help="one looped stream this long")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="each file streamed K times, a session each (NAME#k): a live run's text "
        "depends on when its decodes fall, and repeats average that out",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="live: a LiveOptions field (step, patience, trim_after, sentence_cuts, ...)",
    )
    parser.add_argument(
        "--simulate",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="live: no pacing; steps of LOW-HIGH s drawn from a seed per repeat (latency is "
        "then in audio time, the decodes' own time left out)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}

    from ffscribe.core.asr.recognizer import _transcribe_kwargs
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
    from ffscribe.core.media.ffmpeg import load

    media, refs = corpus(args.corpus)
    if args.files != "all":
        wanted = HELD_OUT if args.files == "heldout" else args.files.split(",")
        media = [p for p in media if p.stem in wanted]
    offline_pipe = Pipeline(
        PipelineOptions(
            model=ModelOptions(name=args.model), decode=DecodeOptions(word_timestamps=True)
        )
    )
    greedy = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,), word_timestamps=True)
    live_decode = replace(greedy, beam_size=args.beam)
    live_pipe = Pipeline(
        PipelineOptions(model=ModelOptions(name=args.model, jobs=1), decode=live_decode)
    )
    model = live_pipe.recognizer
    kwargs = {**_transcribe_kwargs(greedy), "vad_filter": False, "vad_parameters": None}
    result: dict[str, Any] = {
        "machine": machine(), "model": args.model, "window": args.window, "beam": args.beam,
        "set": settings, "simulate": args.simulate,
        "files": {},
    }  # fmt: skip
    texts: dict[str, dict[str, str]] = {m: {} for m in ["offline", *args.methods.split(",")]}
    lat: dict[str, list[float]] = {m: [] for m in args.methods.split(",")}
    usage: dict[str, list[dict[str, float]]] = {m: [] for m in args.methods.split(",")}
    streams = [(p.stem, load(str(p)).samples) for p in media]
    if args.repeat > 1:  # each run a session of its own: one stream of repeats would prompt
        # Whisper with the words it is about to hear, and it skips them
        streams = [(f"{n}#{k}", x) for n, x in streams for k in range(1, args.repeat + 1)]
    decoded: dict[str, list[tuple[str, float]]] = {}

    def offline_words(samples: np.ndarray) -> list[tuple[str, float]]:
        segments, _ = offline_pipe.recognizer.model.transcribe(
            samples, **_transcribe_kwargs(offline_pipe.options.decode)
        )
        return [(w.word, float(w.end)) for s in segments for w in s.words or ()]

    if args.long:
        # The loop's offline words are one pass's, shifted: the stream repeats it exactly, and
        # decoding half an hour offline would double the run.
        whole = np.concatenate([s for _, s in streams])
        reps = int(np.ceil(args.long * RATE / whole.size))
        once, period = offline_words(whole), whole.size / RATE
        decoded["long"] = [
            (word, end + k * period) for k in range(reps) for word, end in once
            if end + k * period <= args.long
        ]  # fmt: skip
        streams = [("long", np.tile(whole, reps)[: int(args.long * RATE)])]
    for name, samples in streams:
        log(f"{name}: {samples.size / RATE:.1f} s")
        stem = name.split("#")[0]
        if stem not in decoded:
            decoded[stem] = offline_words(samples)
        offline = decoded[stem]
        texts["offline"][name] = "".join(w for w, _ in offline)
        repeat = int(name.split("#")[1]) if "#" in name else 1
        for method in args.methods.split(","):
            simulate = Simulated(samples, *args.simulate, repeat) if args.simulate else None
            runs = {
                "live": lambda s=samples, p=simulate: run_live(
                    model, live_decode, s, args.window, p, **settings
                ),
                "gradio": lambda s=samples: run_gradio(model, kwargs, s),
                "greedy": lambda s=samples: run_greedy(model, kwargs, s),
                "la2": lambda s=samples: run_la2(model, kwargs, s, args.la2_path),
            }
            commits, use = measure(method, runs[method])
            texts[method][name] = "".join(w for w, _, _ in commits)
            these = latencies(commits, offline)
            lat[method] += these
            words = result.setdefault("words", {}).setdefault(method, {})
            words[name] = [  # (word, its own end, latency, commit wall time)
                (w, round(e, 2), round(x, 2), round(wall, 2))
                for (w, e, wall), x in zip(commits, these, strict=True)
            ]
            usage[method].append(use)
            ends = [e for _, e, _ in commits]
            length = samples.size / RATE
            result["files"].setdefault(name, {})[method] = {
                "p50": pct(these, 50),
                "p95": pct(these, 95),
                "words": len(these),
                **use,
                "first5_p50": pct([x for x, e in zip(these, ends, strict=True) if e < 300], 50),
                "last5_p50": pct(
                    [x for x, e in zip(these, ends, strict=True) if e > length - 300], 50
                ),
            }
    if not args.long:
        chosen = {n: refs[n.split("#")[0]] for n in texts["offline"]}
        result["wer"] = {m: score(chosen, t) for m, t in texts.items()}
        result["texts"] = texts
    result["summary"] = {
        m: {"p50": pct(v, 50), "p95": pct(v, 95), "words": len(v),
            "cpu_cores": statistics.mean(u["cpu_cores"] for u in usage[m])}
        for m, v in lat.items()
    }  # fmt: skip
    result["python"] = platform.python_version()
    text = json.dumps(result, indent=2, default=float)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
