"""Long test audio for compare.py: corpus files decoded by ffmpeg, joined and repeated.

    python bench/compare_longfile.py --seconds 600 --out /tmp/long.wav

Each corpus file is decoded once to 16 kHz mono 16-bit PCM (ffmpeg, argv list, no shell);
the set is laid end to end with 1 s of silence between pieces, and repeated, the order
rotated on each pass, until the file is at least `seconds` long. The reference is the
pieces' references joined in the same order. Written to a temporary directory of the
caller's choosing, never into the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 16000
GAP_S = 1.0


@dataclass(frozen=True)
class LongFile:
    """The joined audio on disk, its length, its reference and which pieces made it."""

    path: Path
    seconds: float
    reference: str
    pieces: tuple[str, ...]


def decode_pcm(path: Path) -> bytes:
    """16 kHz mono s16le samples of `path`; raises with ffmpeg's last stderr line."""
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path)]
    argv += ["-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"]
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise RuntimeError(f"ffmpeg failed on {path}: {' '.join(last)}")
    return done.stdout


def build(files: list[Path], refs: dict[str, str], out: Path, *, seconds: float) -> LongFile:
    """Write `out` (WAV): `files` end to end, rotated and repeated to reach `seconds`."""
    pcm = {f.stem: decode_pcm(f) for f in files}
    gap = b"\0\0" * int(GAP_S * RATE)
    order = [f.stem for f in files]
    pieces: list[str] = []
    total = 0
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        turn = 0
        while total < seconds * RATE * 2:
            shift = turn % len(order)
            for stem in order[shift:] + order[:shift]:
                wav.writeframes(pcm[stem] + gap)
                total += len(pcm[stem]) + len(gap)
                pieces.append(stem)
            turn += 1
    reference = " ".join(refs[stem] for stem in pieces)
    return LongFile(out, total / 2 / RATE, reference, tuple(pieces))


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_asr import DEFAULT_CORPUS, corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, required=True, help="WAV to write (not in the repo)")
    args = parser.parse_args(argv)
    files, refs = corpus(args.corpus)
    made = build(files, refs, args.out, seconds=args.seconds)
    args.out.with_suffix(".txt").write_text(made.reference + "\n", encoding="utf-8")
    print(f"{made.path}: {made.seconds:.1f} s from {len(made.pieces)} pieces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
