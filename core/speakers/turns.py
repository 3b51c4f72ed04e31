"""What every diarization backend shares: the options, and the helpers that order, join and
count speaker turns. The backends import this module, never the stage that picks them
(speakers/diarize.py), so their imports run one way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Turn

BACKENDS = ("auto", "pyannote", "offline")


@dataclass(frozen=True)
class DiarizeOptions:
    """How to diarize: the backend, the speaker count (exact or bounds) and pyannote's settings."""

    backend: str = "auto"  # auto | pyannote | offline
    speakers: int | None = None  # exact count (--speakers N)
    min_speakers: int | None = None
    max_speakers: int | None = None
    model: str | None = None  # pyannote pipeline name or local directory (--diarization-model)
    hf_token: str | None = None  # else the HF_TOKEN environment variable
    device: str = "cpu"  # --device: auto, cpu, cuda, cuda:N or gpu:N (pyannote only)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(
                f"unknown diarizer {self.backend!r}: choose from {', '.join(BACKENDS)}"
            )
        for flag, value in (
            ("--speakers", self.speakers),
            ("--min-speakers", self.min_speakers),
            ("--max-speakers", self.max_speakers),
        ):
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be a positive whole number, not {value}")
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise UsageError(f"--min-speakers {low} is more than --max-speakers {high}")
        if self.speakers is not None and (
            (low is not None and self.speakers < low) or (high is not None and self.speakers > high)
        ):
            raise UsageError(f"--speakers {self.speakers} is outside --min/--max-speakers")


def relabel(turns: Iterable[Turn]) -> tuple[Turn, ...]:
    """Turns sorted by time, speakers renamed SPEAKER_00, SPEAKER_01... by first appearance."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    names: dict[str, str] = {}
    for turn in ordered:
        names.setdefault(turn.speaker, f"SPEAKER_{len(names):02d}")
    return tuple(Turn(t.start, t.end, names[t.speaker]) for t in ordered)


def count_bounds(options: DiarizeOptions, limit: int) -> tuple[int, int]:
    """The speaker counts allowed (low, high), given at most `limit` distinguishable items."""
    if options.speakers is not None:
        exact = min(options.speakers, max(limit, 1))
        return exact, exact
    high = min(options.max_speakers or limit, max(limit, 1))
    low = min(options.min_speakers or 1, high)
    return low, high


def merge_turns(turns: Sequence[Turn], gap: float = 0.0) -> tuple[Turn, ...]:
    """One speaker's consecutive turns joined where less than `gap` seconds apart."""
    out: list[Turn] = []
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        last = out[-1] if out else None
        if last is not None and last.speaker == turn.speaker and turn.start - last.end <= gap:
            out[-1] = Turn(last.start, max(last.end, turn.end), last.speaker)
        else:
            out.append(turn)
    return tuple(out)
