"""A development set for diarization and known voices: conversations built from one-voice audio.

    .venv/bin/python bench/devset_speakers.py --out /tmp/wt18-devset [--seed 18]

Writes NAME.wav (16 kHz mono) and NAME.rttm (exact by construction) per conversation and
manifest.json (speakers, kind, split), plus enroll/SPEAKER/*.wav: samples of each voice made
from material that no conversation uses (other sentences of the same espeak-ng voice, another
stretch of the same real recording), for the known-voices benchmark.

Voices: espeak-ng voices (language, variant, pitch, speed) and the real one-voice recordings
of the corpus (asr_en and asr_multilingual, the stereo file's right channel). Voices are split
in two by the seed, "tune" and "report": a conversation draws its voices from one part only, so
the report part holds voices no setting was chosen on. Conversations: 2 to 8 synthetic voices
or 2 to 5 real ones; turns of lognormal length (median 2.5 s), pauses of 0.1-1.2 s, one turn
in ten a 0.3-0.8 s back-channel, one in eight starting up to 0.6 s before the last one ends
(overlap), each voice at its own level (-8 to +4 dB).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ffscribe.core.media.ffmpeg import load

RATE = 16000
CORPUS = Path("/work/shared/corpus")
Floats = npt.NDArray[np.float32]

VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "croak",
    "whisper",
    "Annie",
    "david",
    "belinda",
    "grandma",
    "john",
    "linda",
    "max",
    "paul",
    "edward",
    "iven",
    "michel",
    "pablo",
    "norbert",
)
LANGS = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbcwmd")
REAL = {
    "jfk": ("asr_en/jfk.flac", 0),
    "lj": ("asr_en/lj050-0131.wav", 0),
    "libri61": ("asr_en/librispeech_61-70968-0000.flac", 0),
    "quilter": ("asr_en/picovoice_en_quilter.wav", 0),
    "mfa": ("asr_en/mfa_acoustic_corpus.wav", 0),
    "de": ("asr_multilingual/de_simplicissimus.mp3", 0),
    "es": ("asr_multilingual/es_capitan_veneno.mp3", 0),
    "fr": ("asr_multilingual/fr_picovoice.wav", 0),
    "ja": ("asr_multilingual/ja_picovoice.wav", 0),
}
BACKCHANNELS = ("yeah", "right", "okay", "mm hm", "I see", "sure", "really?", "no")


@dataclass(frozen=True)
class Voice:
    name: str
    kind: str  # synthetic | real
    pieces: tuple[Floats, ...]  # conversation material, each trimmed of silence
    short: tuple[Floats, ...]  # back-channels
    enroll: tuple[Floats, ...]  # enrollment material, never in a conversation


def sentences() -> list[str]:
    text = " ".join(
        p.read_text() for p in sorted((CORPUS / "asr_en").glob("*.txt")) if "sonnet" in p.name
    )
    text += " " + (CORPUS / "asr_en" / "mfa_acoustic_corpus.txt").read_text()
    parts = [s.strip() for s in re.split(r"[.;:!?\n]", text) if len(s.split()) >= 4]
    return [" ".join(p.split()[:14]) for p in parts]


def trim(x: Floats) -> Floats:
    """Leading and trailing audio under -40 dB (20 ms frames) cut off."""
    frames = len(x) // 320
    if frames == 0:
        return x
    energy = np.sqrt(np.mean(x[: frames * 320].reshape(frames, 320) ** 2, axis=1))
    loud = np.flatnonzero(energy > 0.01 * max(float(energy.max()), 1e-9))
    if len(loud) == 0:
        return x[:0]
    return x[loud[0] * 320 : (loud[-1] + 1) * 320]


def speak(args: list[str], text: str) -> Floats:
    wav = subprocess.run(["espeak-ng", *args, "--stdout", text], capture_output=True, check=True)
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            str(RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed",
            "-t",
            "raw",
            "-",
        ],
        input=wav.stdout,
        capture_output=True,
        check=True,
    ).stdout
    return trim(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768)


def synthetic_voices(rng: np.random.Generator, count: int, texts: list[str]) -> list[Voice]:
    voices = []
    used: set[tuple[str, str, int, int]] = set()
    while len(voices) < count:
        lang, variant = str(rng.choice(LANGS)), str(rng.choice(VARIANTS))
        pitch, speed = int(rng.integers(20, 81)), int(rng.integers(130, 190))
        if (lang, variant, pitch // 15, speed // 20) in used:
            continue
        used.add((lang, variant, pitch // 15, speed // 20))
        args = ["-v", f"{lang}+{variant}", "-p", str(pitch), "-s", str(speed)]
        chosen = rng.choice(len(texts), size=14, replace=False)
        said = [speak(args, texts[i]) for i in chosen]
        short = [speak(args, b) for b in rng.choice(BACKCHANNELS, size=3, replace=False)]
        name = f"syn{len(voices):02d}_{lang}+{variant}_p{pitch}_s{speed}"
        pause = np.zeros(RATE // 4, dtype=np.float32)
        sample = np.concatenate([x for s in said[10:] for x in (s, pause)])
        voices.append(Voice(name, "synthetic", tuple(said[:10]), tuple(short), (sample,)))
    return voices


def real_voices() -> list[Voice]:
    """Each recording cut in two: the first 40 % (at most 20 s) for enrollment, the rest for
    conversations, in pieces of 1.5-5 s (a recording under 8 s: all of it for both, noted)."""
    voices = []
    sources = dict(REAL)
    for name, (rel, _) in sources.items():
        x = trim(load(str(CORPUS / rel)).samples.astype(np.float32))
        voices.append(_real(name, x))
    stereo = CORPUS / "diarization" / "stereo_two_speakers.wav"
    right = subprocess.run(
        ["sox", str(stereo), "-t", "raw", "-e", "signed", "-b", "16", "-", "remix", "2"],
        capture_output=True,
        check=True,
    ).stdout
    voices.append(_real("libri260", trim(np.frombuffer(right, "<i2").astype(np.float32) / 32768)))
    return voices


def _real(name: str, x: Floats) -> Voice:
    seconds = len(x) / RATE
    cut = int(min(0.4 * seconds, 20.0) * RATE) if seconds >= 8 else 0
    rest = x[cut:]
    step = 4 * RATE
    pieces = [trim(rest[i : i + step]) for i in range(0, max(len(rest) - RATE, 1), step)]
    pieces = [p for p in pieces if len(p) >= RATE // 2]
    short = [trim(p[: int(0.7 * RATE)]) for p in pieces[:3]]
    enroll = (x[:cut],) if cut else (x,)
    return Voice(name, "real", tuple(pieces), tuple(short), enroll)


def conversation(
    rng: np.random.Generator, voices: list[Voice], seconds: float
) -> tuple[Floats, list[tuple[float, float, str]]]:
    gains = {v.name: 10 ** (rng.uniform(-8, 4) / 20) for v in voices}
    out = np.zeros(int((seconds + 30) * RATE), dtype=np.float32)
    turns: list[tuple[float, float, str]] = []
    position, last = 0.5, -1
    order = list(range(len(voices)))
    rng.shuffle(order)
    queue = order[:]  # everyone speaks once first
    while position < seconds or queue:
        if queue:
            who = queue.pop(0)
        else:
            who = int(rng.choice([i for i in range(len(voices)) if i != last]))
        voice = voices[who]
        if turns and not queue and rng.random() < 0.1:
            piece = voice.short[int(rng.integers(len(voice.short)))]
        else:
            piece = _turn(rng, voice)
        if turns and rng.random() < 0.125:
            start = max(turns[-1][0] + 0.3, position - rng.uniform(0.1, 0.6))
        else:
            start = position + rng.uniform(0.1, 1.2)
        a = int(start * RATE)
        out[a : a + len(piece)] += gains[voice.name] * piece
        end = start + len(piece) / RATE
        turns.append((round(start, 3), round(end, 3), voice.name))
        position, last = max(position, end), who
    return out[: int((position + 0.5) * RATE)], turns


def _turn(rng: np.random.Generator, voice: Voice) -> Floats:
    """Pieces of one voice joined with short pauses to a lognormal length (median 2.5 s)."""
    target = float(np.clip(rng.lognormal(np.log(2.5), 0.6), 0.8, 12.0))
    parts: list[Floats] = []
    while sum(len(p) for p in parts) < target * RATE:
        piece = voice.pieces[int(rng.integers(len(voice.pieces)))]
        parts += [np.zeros(int(rng.uniform(0.1, 0.3) * RATE), np.float32)] if parts else []
        parts.append(piece)
    return np.concatenate(parts)


def write_wav(path: Path, x: Floats) -> None:
    import wave

    peak = max(float(np.abs(x).max()), 1e-9)
    data = (np.clip(x / max(peak, 1.0), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(RATE)
        fh.writeframes(data.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/wt18-devset"))
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--synthetic", type=int, default=48, help="synthetic conversations")
    parser.add_argument("--real", type=int, default=16, help="real-voice conversations")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    synthetic = synthetic_voices(rng, 40, sentences())
    real = real_voices()
    parts = {
        "synthetic": (synthetic[:20], synthetic[20:]),
        "real": (real[::2], real[1::2]),
    }
    manifest = []
    for kind, total in (("synthetic", args.synthetic), ("real", args.real)):
        for index in range(total):
            split = ("tune", "report")[index % 2]
            pool = parts[kind][index % 2]
            most = 8 if kind == "synthetic" else len(pool)
            count = int(rng.integers(2, most + 1))
            chosen = [pool[i] for i in rng.choice(len(pool), size=count, replace=False)]
            audio, turns = conversation(rng, chosen, float(rng.uniform(40, 90)))
            name = f"{kind[:3]}{index:02d}"
            write_wav(args.out / f"{name}.wav", audio)
            (args.out / f"{name}.rttm").write_text(
                "".join(
                    f"SPEAKER {name} 1 {a:.3f} {b - a:.3f} <NA> <NA> {who} <NA> <NA>\n"
                    for a, b, who in turns
                )
            )
            manifest.append(
                {
                    "name": name,
                    "kind": kind,
                    "split": split,
                    "speakers": [v.name for v in chosen],
                    "seconds": round(len(audio) / RATE, 2),
                }
            )
    for voice in synthetic + real:
        folder = args.out / "enroll" / voice.name
        folder.mkdir(parents=True, exist_ok=True)
        for i, sample in enumerate(voice.enroll):
            write_wav(folder / f"{i}.wav", sample)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} conversations in {args.out}")


if __name__ == "__main__":
    main()
