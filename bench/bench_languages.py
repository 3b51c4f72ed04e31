"""Benchmark: every language in the file. Multilingual mixtures built from the corpus, with
exact references by construction; language accuracy per second of speech, and WER against
each stretch transcribed alone with its language given; the English set's WER and speed.

    .venv/bin/python bench/bench_languages.py --set tuning|report [--jobs 1] [--json out.json]
    .venv/bin/python bench/bench_languages.py --english [--rounds 2]

A mixture is whole corpus recordings (16 kHz mono, ffscribe.core.media.ffmpeg.load) laid end to end
with digital silence between them, so each stretch's span, language and text are known
exactly. The tuning set (thresholds were chosen on it) and the report set share no recording.
For each mixture: (a) `auto`, this code with --language auto; (b) `first window`, the same
with the screen off (Whisper's own: the language of the first 30 s for everything, as before
this change); (c) `alone`, each stretch decoded by itself with --language given.
Language accuracy: of the seconds each stretch overlaps the segments, the share in segments
labelled with the stretch's language. WER: hypothesis words go to the stretch holding their
segment's middle; whisper_normalizer's BasicTextNormalizer on both sides (EnglishTextNormalizer
for English), Japanese scored by character; errors summed over stretches (corpus-level).

--english: the 7 English corpus files, screen on vs off, alternating, sequential (jobs 1),
in one process: decode seconds and WER, and any segment labelled other than `en`.

Prints markdown on stdout; progress on stderr. Corpus files are read, never copied.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

CORPUS = Path("/work/shared/corpus")
RATE = 16000
EN = "asr_en/"
ML = "asr_multilingual/"
LANG = {
    "de_simplicissimus": "de",
    "es_capitan_veneno": "es",
    "fr_picovoice": "fr",
    "ja_picovoice": "ja",
}
EXT = {"jfk": ".flac", "librispeech_61-70968-0000": ".flac", "de_simplicissimus": ".mp3"}
EXT["es_capitan_veneno"] = ".mp3"

# (name, [(recording, pause after it in seconds)]). Tuning and report share no recording.
TUNING = [
    (
        "t1 de-en-fr-en",
        [
            ("de_simplicissimus", 1.0),
            ("mfa_acoustic_corpus", 0.5),
            ("fr_picovoice", 0.5),
            ("librispeech_61-70968-0000", 0.0),
        ],
    ),
    (
        "t2 en-de-en-fr",
        [
            ("mfa_acoustic_corpus", 0.8),
            ("de_simplicissimus", 0.5),
            ("ldc93s1_timit", 0.8),
            ("fr_picovoice", 0.0),
        ],
    ),
    (
        "t3 fr-en-de",
        [("fr_picovoice", 0.5), ("librispeech_61-70968-0000", 0.5), ("de_simplicissimus", 0.0)],
    ),
]
REPORT = [
    (
        "r1 en-es-ja-en",
        [("jfk", 1.0), ("es_capitan_veneno", 0.5), ("ja_picovoice", 0.5), ("lj050-0131", 0.0)],
    ),
    (
        "r2 es-en-ja-en",
        [
            ("es_capitan_veneno", 0.8),
            ("picovoice_en_quilter", 0.5),
            ("ja_picovoice", 0.8),
            ("jfk", 0.0),
        ],
    ),
    (
        "r3 ja-en-es-en",
        [
            ("ja_picovoice", 0.5),
            ("lj050-0131", 0.5),
            ("es_capitan_veneno", 0.5),
            ("picovoice_en_quilter", 0.0),
        ],
    ),
]
ENGLISH = [
    "jfk",
    "ldc93s1_timit",
    "librispeech_61-70968-0000",
    "lj050-0131",
    "mfa_acoustic_corpus",
    "picovoice_en_quilter",
    "sonnets001-003_concat",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def path_of(name: str) -> Path:
    folder = ML if name in LANG or name == "zh_chinese" else EN
    return CORPUS / f"{folder}{name}{EXT.get(name, '.wav')}"


def language_of(name: str) -> str:
    return LANG.get(name, "en")


def reference(name: str) -> str:
    return path_of(name).with_suffix(".txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Stretch:
    name: str
    language: str
    start: float
    end: float
    text: str


def build(recipe: list[tuple[str, float]]) -> tuple[Any, list[Stretch], dict[str, Any]]:
    from ffscribe.core.media import ffmpeg as media

    pieces, stretches, samples = [], [], {}
    at = 0
    for name, pause in recipe:
        audio = media.load(str(path_of(name))).samples
        samples[name] = audio
        stretches.append(
            Stretch(name, language_of(name), at / RATE, (at + audio.size) / RATE, reference(name))
        )
        pieces += [audio, np.zeros(int(pause * RATE), np.float32)]
        at += audio.size + int(pause * RATE)
    return np.concatenate(pieces), stretches, samples


def words(text: str, language: str) -> list[str]:
    from whisper_normalizer.basic import BasicTextNormalizer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()
    clean = norm(text)
    return [c for c in clean if not c.isspace()] if language in ("ja", "zh") else clean.split()


def errors(ref: list[str], hyp: list[str]) -> int:
    import jiwer

    if not ref:
        return len(hyp)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp) if hyp else "")
    return int(out.substitutions + out.deletions + out.insertions)


def score(segments: Any, stretches: list[Stretch]) -> dict[str, Any]:
    """Language accuracy (seconds) and errors per stretch, hypothesis by segment middle."""
    right = heard = 0.0
    errs = refs = 0
    per: list[dict[str, Any]] = []
    for st in stretches:
        inside = [s for s in segments if st.start <= (s.start + s.end) / 2 < st.end]
        overlap = [(s, max(0.0, min(s.end, st.end) - max(s.start, st.start))) for s in segments]
        here = sum(o for _, o in overlap)
        ok = sum(o for s, o in overlap if s.language == st.language)
        ref = words(st.text, st.language)
        err = errors(ref, words("".join(s.text for s in inside), st.language))
        right, heard, errs, refs = right + ok, heard + here, errs + err, refs + len(ref)
        langs = sorted({str(s.language) for s in inside})
        per.append(
            {
                "stretch": st.name,
                "language": st.language,
                "labelled": langs,
                "errors": err,
                "words": len(ref),
                "right_s": round(ok, 2),
                "heard_s": round(here, 2),
            }
        )
    return {"right_s": right, "heard_s": heard, "errors": errs, "words": refs, "per": per}


def recognizer(jobs: int) -> Any:
    from ffscribe.core.asr.models import resolve_model
    from ffscribe.core.asr.recognizer import Recognizer
    from ffscribe.core.data.options import ModelOptions

    return Recognizer(resolve_model("base").path, "base", ModelOptions(jobs=jobs))


CPU = [0.0]  # CPU seconds of every decode so far, all threads (steadier than wall time here)
PLANS = [0]  # how many times the input was looked at region by region


def count_plans() -> None:
    """Count calls of asr.plan: a monolingual input should make none."""
    from ffscribe.core.asr import recognizer as asr

    plan = asr.plan

    def counted(*args: Any, **kwargs: Any) -> Any:
        PLANS[0] += 1
        return plan(*args, **kwargs)

    asr.plan = counted  # type: ignore[assignment]


def decode(rec: Any, samples: Any, language: str | None, screen: bool, batch: int = 0) -> Any:
    from ffscribe.core.asr.languages import SwitchRule
    from ffscribe.core.data.options import DecodeOptions
    from ffscribe.core.media.ffmpeg import Audio

    rule = getattr(rec, "tuned", SwitchRule())
    # Off: no window ever leaves doubt or names another language (Whisper's own behaviour).
    rec.rule = rule if screen else replace(rule, screen=2.0, doubt=0.0, rival=2.0)
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="mix.wav")
    started, cpu = time.perf_counter(), time.process_time()
    found = rec.recognize(audio, DecodeOptions(language=language, batch_size=batch))
    CPU[0] += time.process_time() - cpu
    return found, time.perf_counter() - started


def mixtures(which: list[Any], jobs: int, batch: int, only_auto: bool) -> dict[str, Any]:
    rec = recognizer(jobs)
    count_plans()
    out: dict[str, Any] = {}
    for name, recipe in which:
        samples, stretches, alone_audio = build(recipe)
        log(f"{name}: {samples.size / RATE:.1f} s")
        result: dict[str, Any] = {"seconds": round(samples.size / RATE, 1)}
        labels = (("auto", True),) if only_auto else (("auto", True), ("first window", False))
        for label, screen in labels:
            before = PLANS[0]
            found, secs = decode(rec, samples, None, screen, batch)
            result[label] = {**score(found.segments, stretches), "decode_s": round(secs, 1)}
            result[label]["region_passes"] = PLANS[0] - before
            log(f"  {label}: {secs:.1f} s, " + _line(result[label]))
        out[name] = result
        if only_auto:
            continue
        segs = []
        for st in stretches:
            found, _ = decode(rec, alone_audio[st.name], st.language, False, batch)
            segs += [
                replace(s, start=s.start + st.start, end=s.end + st.start, language=st.language)
                for s in found.segments
            ]
        result["alone"] = score(segs, stretches)
        log("  alone: " + _line(result["alone"]))
        out[name] = result
    return out


def _line(r: dict[str, Any]) -> str:
    acc = 100 * r["right_s"] / r["heard_s"] if r["heard_s"] else 0.0
    wer = 100 * r["errors"] / r["words"]
    return f"language {acc:.1f} %, WER {wer:.1f} % ({r['errors']}/{r['words']})"


def english(rounds: int) -> dict[str, Any]:
    from ffscribe.core.media import ffmpeg as media

    rec = recognizer(1)
    count_plans()
    audio = {n: media.load(str(path_of(n))).samples for n in ENGLISH}
    runs: dict[str, list[float]] = {"on": [], "off": []}
    cpus: dict[str, list[float]] = {"on": [], "off": []}
    result: dict[str, Any] = {}
    for r in range(rounds):
        order = ("on", "off") if r % 2 == 0 else ("off", "on")
        for label in order:
            total = 0.0
            errs = refs = 0
            others = []
            plans, cpu = PLANS[0], CPU[0]
            for n, samples in audio.items():
                found, secs = decode(rec, samples, None, label == "on")
                total += secs
                ref = words(reference(n), "en")
                errs += errors(ref, words("".join(s.text for s in found.segments), "en"))
                refs += len(ref)
                others += [(n, s.start, s.language) for s in found.segments if s.language != "en"]
            runs[label].append(round(total, 2))
            cpus[label].append(round(CPU[0] - cpu, 2))
            passes = PLANS[0] - plans
            result[label] = {"errors": errs, "words": refs, "not_en": others, "passes": passes}
            log(
                f"round {r} {label}: {total:.2f} s, WER {errs}/{refs}, not en: {others}, "
                f"region passes {passes}"
            )
    for label in runs:
        result[label]["decode_s"] = runs[label]
        result[label]["median_s"] = statistics.median(runs[label])
        result[label]["cpu_s"] = cpus[label]
        result[label]["median_cpu_s"] = statistics.median(cpus[label])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=("tuning", "report"))
    parser.add_argument("--english", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--only-auto", action="store_true", help="skip the baselines")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.english:
        out = english(args.rounds)
    else:
        which = TUNING if args.set == "tuning" else REPORT
        out = mixtures(which, args.jobs, args.batch_size, args.only_auto)
        print("| mixture | s | auto: language, WER | first window: language, WER | alone: WER |")
        print("|---|---|---|---|---|")
        for name, r in out.items():
            rest = " | ".join(_line(r[k]) if k in r else "-" for k in ("first window", "alone"))
            print(f"| {name} | {r['seconds']} | {_line(r['auto'])} | {rest} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
