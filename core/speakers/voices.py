"""Known voices: speakers found in a recording named after enrolled samples of people's voices.

A voice directory holds samples of people (`DIR/Ana.wav`, or several in `DIR/Ana/`), 5-30 s
of one voice each. Each sample's GE2E d-vector (the mean over 1.6 s windows of its speech)
is cached under the cache directory, keyed by the sample's SHA-256 and the encoder's name, so
a directory is embedded once. A speaker found in a recording gets the mean d-vector of the
speech only they hold (overlaps left out); it takes a person's name when that is at least
`SIMILARITY` alike (cosine), at least `MARGIN` more alike than the next person, and no other
speaker is closer to that person; otherwise it keeps its label. An unknown guest so keeps
SPEAKER_nn instead of taking the nearest host's name, which is what nearest-name matching does.
"""

from __future__ import annotations

import hashlib
import re
import wave
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Segment, Speaker, Turn
from ffscribe.core.speakers.encoder import (
    HIDDEN,
    HOP,
    PARTIAL_FRAMES,
    SAMPLE_RATE,
    SpeakerEncoder,
    normalize_volume,
    unit_rows,
)

Floats = npt.NDArray[np.float32]

ENCODER = "resemblyzer-ge2e-0.1.4"  # recorded with every vector; part of the cache key
DIMENSION = HIDDEN
# Chosen on the tune half of bench/devset_speakers.py's voices (BENCHMARKS.md, "Speakers on
# unseen conversations"): the lowest identification error that keeps unenrolled guests
# unnamed; looser settings named guests after a similar voice.
SIMILARITY = 0.925
MARGIN = 0.04
VECTOR_HOP = 80  # frames between windows for a speaker's vector: 0.8 s, half the window
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"}
MAX_SAMPLE_SECONDS = 30.0  # what write_sample keeps of a speaker: enough for a steady vector


@dataclass(frozen=True)
class Voice:
    """One enrolled person: the name and the mean of their samples' unit d-vectors."""

    name: str
    vector: tuple[float, ...]
    samples: int


@dataclass(frozen=True)
class Match:
    """A speaker's nearest person: its similarity, the margin over the next one, and the
    name when the thresholds accept it (None: the speaker keeps its label)."""

    label: str
    nearest: str | None
    similarity: float
    margin: float
    name: str | None


def samples_of(directory: Path) -> dict[str, list[Path]]:
    """Each person's sample files: `DIR/NAME.ext` and `DIR/NAME/*.ext`, names sorted."""
    if not directory.is_dir():
        raise UsageError(f"--voices {directory}: not a directory of voice samples")
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            if files:
                found.setdefault(path.name, []).extend(files)
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            found.setdefault(path.stem, []).append(path)
    return found


def load_voices(directory: Path, encoder: SpeakerEncoder, cache: Path) -> tuple[Voice, ...]:
    """The people of a voice directory with their vectors, embedding only uncached samples."""
    from ffscribe.core.media.ffmpeg import load

    voices = []
    for name, paths in samples_of(directory).items():
        vectors = []
        for path in paths:
            key = hashlib.sha256(path.read_bytes() + ENCODER.encode()).hexdigest()
            stored = cache / f"{key[:32]}.npy"
            if stored.is_file():
                vectors.append(np.load(stored))
                continue
            vector = speech_vector(encoder, load(str(path)).samples)
            stored.parent.mkdir(parents=True, exist_ok=True)
            np.save(stored, vector)
            vectors.append(vector)
        mean = unit_rows(np.mean(vectors, axis=0, keepdims=True))[0]
        voices.append(Voice(name, tuple(float(v) for v in mean), len(vectors)))
    return tuple(voices)


def speech_vector(encoder: SpeakerEncoder, samples: Floats) -> Floats:
    """The unit mean d-vector of one voice's audio: windows every VECTOR_HOP frames along it
    (level raised as the diarizer does), the last flush with the end."""
    samples = np.asarray(samples, dtype=np.float32)
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
    mel = encoder.mel(normalize_volume(samples, rms))
    if len(mel) < PARTIAL_FRAMES:
        mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
    last = len(mel) - PARTIAL_FRAMES
    starts = sorted({*range(0, last + 1, VECTOR_HOP), last})
    windows = np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])
    vector: Floats = unit_rows(encoder.embed(windows).mean(axis=0, keepdims=True))[0]
    return vector


def speaker_vectors(
    encoder: SpeakerEncoder, samples: Floats, turns: Sequence[Turn], offset: float = 0.0
) -> dict[str, Floats]:
    """Per speaker label, the unit mean d-vector of the speech that only that speaker holds
    (turns on the source timeline, `offset` seconds at samples[0])."""
    frames = len(samples) // HOP
    owner = np.full(frames, -1, dtype=np.int64)
    labels = sorted({t.speaker for t in turns})
    count = np.zeros(frames, dtype=np.int64)
    for turn in turns:
        a, b = _frame_span(turn, offset, frames)
        count[a:b] += 1
        owner[a:b] = labels.index(turn.speaker)
    out: dict[str, Floats] = {}
    for index, label in enumerate(labels):
        mine = np.flatnonzero((owner == index) & (count == 1))
        if len(mine) == 0:  # all of it overlapped: use it all the same
            spans = [_frame_span(t, offset, frames) for t in turns if t.speaker == label]
            mine = np.concatenate([np.arange(a, b) for a, b in spans] or [np.zeros(0, np.int64)])
        if len(mine):
            speech = samples[(mine[:, None] * HOP + np.arange(HOP)).ravel()]
            out[label] = speech_vector(encoder, speech)
    return out


def _frame_span(turn: Turn, offset: float, frames: int) -> tuple[int, int]:
    a = round((turn.start - offset) * SAMPLE_RATE / HOP)
    b = round((turn.end - offset) * SAMPLE_RATE / HOP)
    return max(a, 0), min(b, frames)


def identify(
    vectors: Mapping[str, Floats],
    voices: Sequence[Voice],
    *,
    similarity: float = SIMILARITY,
    margin: float = MARGIN,
) -> dict[str, Match]:
    """Per speaker label, its nearest person and whether it takes that name: similarity at
    least `similarity`, `margin` over the next person (a lone person: over nothing, so the
    margin is the similarity itself), and the closest of the speakers to that person."""
    if not voices or not vectors:
        return {label: Match(label, None, 0.0, 0.0, None) for label in vectors}
    names = [v.name for v in voices]
    people = unit_rows(np.array([v.vector for v in voices], dtype=np.float32))
    matches: dict[str, Match] = {}
    for label, vector in vectors.items():
        scores = people @ vector
        order = np.argsort(-scores)
        best = float(scores[order[0]])
        second = float(scores[order[1]]) if len(order) > 1 else 0.0
        ok = best >= similarity and best - second >= margin
        name = names[int(order[0])]
        matches[label] = Match(
            label, name, round(best, 4), round(best - second, 4), name if ok else None
        )
    for name in names:  # no two speakers take one name: the closest keeps it
        claims = [m for m in matches.values() if m.name == name]
        for loser in sorted(claims, key=lambda m: -m.similarity)[1:]:
            matches[loser.label] = Match(
                loser.label, loser.nearest, loser.similarity, loser.margin, None
            )
    return matches


def write_sample(
    samples: Floats,
    turns: Sequence[Turn],
    label: str,
    name: str,
    directory: Path,
    *,
    offset: float = 0.0,
    stem: str = "sample",
) -> Path:
    """`label`'s longest turns of a finished transcript (overlaps included, at most
    MAX_SAMPLE_SECONDS) written as DIR/NAME/STEM-LABEL.wav, 16 kHz 16-bit: a sample the next
    run enrolls. A sample rather than a vector, so that it outlives a change of encoder."""
    if not re.fullmatch(r"[^/\\\x00]+", name) or name in {".", ".."}:
        raise UsageError(f"--enroll: {name!r} cannot be a file name")
    own = sorted((t for t in turns if t.speaker == label), key=lambda t: t.start - t.end)
    if not own:
        known = ", ".join(sorted({t.speaker for t in turns})) or "none"
        raise UsageError(f"--enroll: no speaker {label!r} in the transcript (speakers: {known})")
    pieces: list[Floats] = []
    kept = 0.0
    for turn in own:
        a = max(int((turn.start - offset) * SAMPLE_RATE), 0)
        b = min(int((turn.end - offset) * SAMPLE_RATE), len(samples))
        take = min(b - a, int((MAX_SAMPLE_SECONDS - kept) * SAMPLE_RATE))
        if take > 0:
            pieces.append(samples[a : a + take])
            kept += take / SAMPLE_RATE
    path = directory / name / f"{stem}-{label}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(SAMPLE_RATE)
        fh.writeframes(pcm.tobytes())
    return path


@dataclass(frozen=True)
class VoiceOptions:
    """--voices DIR and --speaker-vectors: name known people, keep each speaker's vector."""

    directory: Path | None = None
    vectors: bool = False
    similarity: float = SIMILARITY
    margin: float = MARGIN
    cache: Path | None = None  # enrolled vectors; default: the ffscribe cache directory

    def describe(self) -> str:
        """The plan's line for this stage (--dry-run)."""
        named = (
            f"speakers named from {self.directory} (similarity >= {self.similarity},"
            f" margin >= {self.margin})"
            if self.directory is not None
            else ""
        )
        vectors = f"{DIMENSION}-dim {ENCODER} vector per speaker" if self.vectors else ""
        return "; ".join(part for part in (named, vectors) if part)

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, eq=False)
class KnownVoices:
    """The encoder and the enrolled people, loaded once per process."""

    encoder: SpeakerEncoder
    voices: tuple[Voice, ...]
    options: VoiceOptions

    @classmethod
    def load(cls, options: VoiceOptions, encoder: SpeakerEncoder | None = None) -> KnownVoices:
        from ffscribe.core.asr.models import cache_dir

        encoder = encoder or SpeakerEncoder.load()
        cache = options.cache or cache_dir() / "voices"
        directory = options.directory
        voices = load_voices(directory, encoder, cache) if directory is not None else ()
        return cls(encoder, voices, options)

    def apply(
        self, samples: Floats, offset: float, segments: Sequence[Segment], turns: Sequence[Turn]
    ) -> tuple[tuple[Segment, ...], tuple[Turn, ...], tuple[Speaker, ...]]:
        """Segments, turns and speakers with known people named (first appearance order
        kept) and, with `vectors`, each speaker's vector."""
        from ffscribe.core.speakers.align import rename_speakers, speaker_stats

        vectors = speaker_vectors(self.encoder, samples, turns, offset)
        matches = identify(
            vectors, self.voices, similarity=self.options.similarity, margin=self.options.margin
        )
        stats = speaker_stats(turns)
        names = tuple(matches[s.id].name or "" if s.id in matches else "" for s in stats)
        if any(names):
            segments, turns = rename_speakers(segments, turns, names)
        speakers = []
        for stat, name in zip(stats, names, strict=True):
            match = matches.get(stat.id)
            vector = vectors.get(stat.id) if self.options.vectors else None
            speakers.append(
                Speaker(
                    name or stat.id,
                    stat.speech_seconds,
                    label=stat.id if name else None,
                    nearest=match.nearest if match and self.voices else None,
                    similarity=match.similarity if match and self.voices else None,
                    margin=match.margin if match and self.voices else None,
                    vector=None if vector is None else tuple(round(float(v), 6) for v in vector),
                    encoder=ENCODER if vector is not None else None,
                )
            )
        return tuple(segments), tuple(turns), tuple(speakers)


def enroll_from_transcript(
    media: Path, transcript: Path, label: str, name: str, directory: Path
) -> Path:
    """`label`'s speech in `media`, as its finished JSON `transcript` times it, saved as a
    sample of `name` in the voices `directory` (see write_sample)."""
    from ffscribe.core.data.transcript import Transcript
    from ffscribe.core.media.ffmpeg import load

    if not transcript.is_file():
        raise UsageError(
            f"--enroll: no finished transcript at {transcript}: run with --diarize first"
        )
    turns = Transcript.from_json(transcript.read_text(encoding="utf-8")).turns
    if not turns:
        raise UsageError(f"--enroll: {transcript} has no speaker turns: run with --diarize first")
    audio = load(str(media))
    return write_sample(audio.samples, turns, label, name, directory, stem=media.stem)
