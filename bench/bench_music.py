"""Benchmark: music detection (YAMNet) accuracy, speed and loader start, and what it saves Whisper.

    /work/venv/bin/python bench/bench_music.py [--rounds 3] [--asr] [--json out.json]

Detection, on the corpus (/work/shared/corpus, decoded with ffscribe.core.media.ffmpeg.load):
- frame-level (10 ms) precision, recall and F1 of the music regions on
  music/mix_jfk_over_brahms.wav against its exact mix_jfk_over_brahms.music.txt;
- the share of music/brahms_hungarian_dance_5.ogg found to be music (all of it is, by label);
- the regions found on video/big_buck_bunny_0_30.webm (soundtrack not annotated);
- music seconds found on speech-only files (asr_en, diarization): false alarms;
- music-only seconds (what --skip-music skips), and the mix's labelled speech inside them;
- the same figures for four ways of combining the music classes into one score per patch;
- speed: detect() on each file, median of --rounds, as x real time, beside YAMNet alone
  (its speech scores only, no voice detector: the rule before 7f17ae9);
- loader start in fresh processes: cold (empty cache: extraction, hashing, session) and warm.

With --asr, also runs `transcribe` (defaults, then --detect-music --skip-music) and bare
faster-whisper (model base, its default options) on the two inputs without speech (words
there are invented) and on the mix and jfk.flac (WER, whisper_normalizer + jiwer).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ffscribe.core.data.transcript import MusicRegion
from ffscribe.core.media import ffmpeg as media
from ffscribe.core.music import detect as music
from ffscribe.core.music.detect import MusicDetector, MusicOptions

CORPUS = Path("/work/shared/corpus")
MIX = CORPUS / "music/mix_jfk_over_brahms.wav"
BRAHMS = CORPUS / "music/brahms_hungarian_dance_5.ogg"
BUNNY = CORPUS / "video/big_buck_bunny_0_30.webm"
MUSAN = CORPUS / "music/musanmix.wav"  # music 0-22.5 s, then quiet music, noise, speech
MUSAN_NOT_MUSIC = 23.5  # from here on: no music (its approximate labels and an energy check)
JFK = CORPUS / "asr_en/jfk.flac"
SPEECH_ONLY = sorted(
    p
    for folder in ("asr_en", "diarization")
    for p in (CORPUS / folder).iterdir()
    if p.suffix in {".wav", ".flac"}
)
STEP = 0.01  # seconds per frame for frame-level scores
Scores = np.ndarray
COMBOS: dict[str, Callable[[Scores], Scores]] = {
    "Music class only": lambda s: s[:, 132],
    "max (chosen)": lambda s: s[:, music.MUSIC_CLASSES].max(axis=1),
    "noisy-or": lambda s: 1 - np.prod(1 - s[:, music.MUSIC_CLASSES], axis=1),
    "sum, clipped to 1": lambda s: np.minimum(1.0, s[:, music.MUSIC_CLASSES].sum(axis=1)),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reference(path: Path, label: str = "music") -> list[tuple[float, float]]:
    spans = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip() == label:
            spans.append((float(parts[0]), float(parts[1])))
    return spans


def frames(spans: list[tuple[float, float]], duration: float) -> np.ndarray:
    flags = np.zeros(round(duration / STEP), dtype=bool)
    for start, end in spans:
        flags[round(start / STEP) : round(end / STEP)] = True
    return flags


def prf(found: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    hits = float((found & truth).sum())
    precision = hits / found.sum() if found.any() else 1.0
    recall = hits / truth.sum() if truth.any() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def spans_of(regions: tuple[MusicRegion, ...]) -> list[tuple[float, float]]:
    return [(r.start, r.end) for r in regions]


def seconds(regions: tuple[MusicRegion, ...]) -> float:
    return sum(r.end - r.start for r in regions)


def regions_for(
    scores: Scores, combine: Callable[[Scores], Scores], audio: media.Audio, threshold: float
) -> tuple[MusicRegion, ...]:
    # Without the voice detector's spans: they set the speech flags, never where music is.
    speech = scores[:, music.SPEECH_CLASSES].max(axis=1)
    options = MusicOptions(threshold=threshold)
    return music.analyse(combine(scores), speech, audio.duration, audio.offset, options).regions


def detection(detector: MusicDetector, audios: dict[str, media.Audio]) -> dict[str, Any]:
    """Accuracy per combination and threshold, from one pass of the model over every file."""
    scores = {name: detector.scores(a.samples) for name, a in audios.items()}
    truth = frames(reference(MIX.with_suffix(".music.txt")), audios["mix"].duration)
    out: dict[str, Any] = {}
    for combo, combine in COMBOS.items():
        for threshold in (0.3, 0.5, 0.7):
            found = {n: regions_for(s, combine, audios[n], threshold) for n, s in scores.items()}
            mix = prf(frames(spans_of(found["mix"]), audios["mix"].duration), truth)
            false_alarm = sum(seconds(found[n]) for n in found if n.startswith("speech:"))
            out[f"{combo} @ {threshold}"] = {
                "mix_precision_recall_f1": mix,
                "brahms_share": seconds(found["brahms"]) / audios["brahms"].duration,
                "bunny_seconds": seconds(found["bunny"]),
                "speech_only_music_seconds": false_alarm,
                "musanmix_seconds_after_23_5": sum(
                    max(0.0, r.end - max(r.start, MUSAN_NOT_MUSIC)) for r in found["musanmix"]
                ),
                "max_raw_score_on_speech_only": max(
                    float(combine(s).max()) for n, s in scores.items() if n.startswith("speech:")
                ),
            }
    return out


def music_only(regions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """What --skip-music skips (regions without speech), in seconds per file; on the mix, how
    much of that is labelled speech (should be none) and how much of its music-only truth
    (music 0-20 s less speech 4-15 s) it covers."""
    spans = {
        n: [(r["start"], r["end"]) for r in rs if not r["speech"]] for n, rs in regions.items()
    }
    talk = reference(MIX.with_name(f"{MIX.stem}.speech.txt"), "speech")
    alone = [(0.0, talk[0][0]), (talk[-1][1], 20.0)]

    def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
        return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)

    return {
        "seconds": {n: sum(e - s for s, e in sp) for n, sp in spans.items()},
        "mix_speech_skipped_s": overlap(spans["mix"], talk),
        "mix_music_only_found_s": overlap(spans["mix"], alone),
        "mix_music_only_truth_s": sum(e - s for s, e in alone),
    }


def speed(detector: MusicDetector, audios: dict[str, media.Audio], rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("mix", "brahms", "bunny", "musanmix"):
        audio, times, feature_times, yamnet_times = audios[name], [], [], []
        for _ in range(rounds):  # interleaved: a change of load hits all three alike
            t0 = time.perf_counter()
            music.log_mel_patches(audio.samples)
            t1 = time.perf_counter()
            detector.detect(audio)
            t2 = time.perf_counter()
            regions_for(detector.scores(audio.samples), COMBOS["max (chosen)"], audio, 0.5)
            t3 = time.perf_counter()
            feature_times.append(t1 - t0)
            times.append(t2 - t1)
            yamnet_times.append(t3 - t2)
        wall = statistics.median(times)
        out[name] = {
            "audio_s": audio.duration,
            "detect_s": wall,
            "features_s": statistics.median(feature_times),
            "yamnet_only_s": statistics.median(yamnet_times),
            "x_real_time": audio.duration / wall,
        }
    return out


_LOADER = """
import json, time
t0 = time.perf_counter()
from ffscribe.core.music.detect import MusicDetector
t1 = time.perf_counter()
MusicDetector()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "init_s": t2 - t1}))
"""


def loader(rounds: int) -> dict[str, list[dict[str, float]]]:
    """MusicDetector() in fresh processes: cold (new cache each time), then warm (same cache)."""
    out: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("cold", "warm"):
            for k in range(rounds):
                cache = Path(tmp) / (f"cold{k}" if kind == "cold" else "cold0")
                env = {**os.environ, "FFSCRIBE_CACHE_DIR": str(cache)}
                proc = subprocess.run(
                    [sys.executable, "-c", _LOADER], env=env, capture_output=True, text=True
                )
                out[kind].append(json.loads(proc.stdout))
    return out


def load_all() -> dict[str, media.Audio]:
    audios = {"mix": media.load(str(MIX)), "brahms": media.load(str(BRAHMS))}
    audios["bunny"] = media.load(str(BUNNY))
    audios["musanmix"] = media.load(str(MUSAN))
    for path in SPEECH_ONLY:
        audios[f"speech:{path.parent.name}/{path.name}"] = media.load(str(path))
    return audios


NO_SPEECH = (BRAHMS, BUNNY)
TRANSCRIBE = str(Path(sys.executable).parent / "transcribe")


def run_transcribe(files: list[Path], model: str, extra: list[str]) -> dict[str, str]:
    """Texts by file stem from one `transcribe` process over `files`."""
    with tempfile.TemporaryDirectory() as out:
        argv = [TRANSCRIBE, *map(str, files), "--model", model, "--format", "json"]
        argv += ["--output-dir", out, "--overwrite", "--quiet", *extra]
        subprocess.run(argv, check=True)
        return {
            f.stem: json.loads((Path(out) / f"{f.stem}.json").read_text(encoding="utf-8"))["text"]
            for f in files
        }


def run_bare(files: list[Path], model: str) -> dict[str, str]:
    """Texts from faster-whisper itself: its default options, the same model directory."""
    from faster_whisper import WhisperModel

    from ffscribe.core.asr.models import resolve_model

    whisper = WhisperModel(resolve_model(model).path)
    texts = {}
    for f in files:
        segments, _ = whisper.transcribe(str(f))
        texts[f.stem] = "".join(s.text for s in segments).strip()
    return texts


def whisper_figures(model: str) -> dict[str, Any]:
    """Invented words where nobody speaks, and WER on the mix beside the clean speech."""
    files = [*NO_SPEECH, MIX, JFK]
    runs = {
        "transcribe (defaults)": run_transcribe(files, model, []),
        "transcribe --detect-music --skip-music": run_transcribe(
            files, model, ["--detect-music", "--skip-music"]
        ),
        f"bare faster-whisper ({model}, defaults)": run_bare(files, model),
    }
    return {"table": asr_table(runs), "texts": runs}


def asr_table(runs: dict[str, dict[str, str]]) -> str:
    """Words where nobody speaks (as written: a bracketed invented title counts) and WER."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    rows: dict[str, list[str]] = {f"words on {f.name}": [] for f in NO_SPEECH}
    rows |= {f"WER {MIX.name}": [], f"WER {JFK.name}": []}
    for texts in runs.values():
        for f in NO_SPEECH:
            rows[f"words on {f.name}"].append(str(len(texts[f.stem].split())))
        for f in (MIX, JFK):
            ref = norm(f.with_suffix(".txt").read_text(encoding="utf-8"))
            rows[f"WER {f.name}"].append(f"{jiwer.wer(ref, norm(texts[f.stem])):.1%}")
    table = ["| | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    table += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return "\n".join(table)


def report(results: dict[str, Any]) -> str:
    lines = ["## Detection (combination @ threshold)", ""]
    lines.append(
        "| combination @ threshold | mix P / R / F1 | brahms music share | bunny music s "
        "| music s on speech-only | max score on speech-only | musanmix music s after 23.5 s |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for key, r in results["detection"].items():
        p, rc, f1 = r["mix_precision_recall_f1"]
        lines.append(
            f"| {key} | {p:.3f} / {rc:.3f} / {f1:.3f} | {r['brahms_share']:.1%} "
            f"| {r['bunny_seconds']:.2f} | {r['speech_only_music_seconds']:.2f} "
            f"| {r['max_raw_score_on_speech_only']:.2f} | {r['musanmix_seconds_after_23_5']:.2f} |"
        )
    lines += ["", "## Regions (defaults)", ""]
    for name, regions in results["regions"].items():
        shown = ", ".join(
            f"{r['start']:.2f}-{r['end']:.2f} ({r['confidence']:.2f}"
            + (", speech)" if r["speech"] else ")")
            for r in regions
        )
        lines.append(f"- {name}: {shown or 'none'}")
    if "music_only" in results:
        m = results["music_only"]
        shown = ", ".join(f"{n} {v:.2f} s" for n, v in m["seconds"].items())
        lines += [
            "",
            f"Music-only (what --skip-music skips): {shown}. Mix: "
            f"{m['mix_music_only_found_s']:.2f} of its {m['mix_music_only_truth_s']:.2f} s "
            f"music-only found, {m['mix_speech_skipped_s']:.2f} s of its speech inside.",
        ]
    lines += ["", "## Speed", ""]
    lines.append("| file | audio s | features s | YAMNet alone s | detect s | x real time |")
    lines.append("|---|---|---|---|---|---|")
    for name, s in results["speed"].items():
        lines.append(
            f"| {name} | {s['audio_s']:.1f} | {s['features_s']:.3f} | {s['yamnet_only_s']:.3f} "
            f"| {s['detect_s']:.3f} | {s['x_real_time']:.0f} |"
        )
    lines += ["", "## Loader (fresh process)", ""]
    for kind, runs in results["loader"].items():
        shown = ", ".join(f"{r['import_s']:.2f} + {r['init_s']:.2f}" for r in runs)
        lines.append(f"- {kind} (import + MusicDetector() s): {shown}")
    if "asr" in results:
        lines += ["", "## Whisper with and without music detection", "", results["asr"]["table"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--asr", action="store_true", help="also run transcribe and Whisper")
    parser.add_argument("--model", default="base")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    log(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    detector = MusicDetector()
    audios = load_all()
    log("detection ...")
    results: dict[str, Any] = {"detection": detection(detector, audios)}
    results["regions"] = {
        name: [r.to_dict() for r in detector.detect(audios[name]).regions]
        for name in ("mix", "brahms", "bunny", "musanmix")
    }
    results["music_only"] = music_only(results["regions"])
    log("speed ...")
    results["speed"] = speed(detector, audios, args.rounds)
    log("loader ...")
    results["loader"] = loader(args.rounds)
    if args.asr:
        log("whisper ...")
        results["asr"] = whisper_figures(args.model)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
