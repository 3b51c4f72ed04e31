"""Speaker alignment: a speaker for every word from the diarization turns, segments split by it.

Pure functions of the data model. A word goes to the speaker active at its midpoint (in
overlapping speech, the one of those who talks most during the word), else to the speaker who
overlaps it most, else to the nearest turn; a segment is then cut wherever its words change
speaker, so no segment (and so no subtitle) ever spans two speakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Segment, Speaker, Turn, Word

_Floats = npt.NDArray[np.float64]


class _Timeline:
    """The turns as arrays, with each speaker's rank in order of first appearance."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        ordered = sorted(turns, key=lambda t: (t.start, t.end))
        self.labels = _first_appearance(ordered)
        rank = {label: i for i, label in enumerate(self.labels)}
        self.starts: _Floats = np.array([t.start for t in ordered], dtype=np.float64)
        self.ends: _Floats = np.array([t.end for t in ordered], dtype=np.float64)
        self.who = np.array([rank[t.speaker] for t in ordered], dtype=np.int64)

    def speaker(self, start: float, end: float) -> str:
        """Who speaks in [start, end]: active at the midpoint, else most overlap, else nearest."""
        mid = (start + end) / 2
        overlap = self._per_speaker(np.minimum(self.ends, end) - np.maximum(self.starts, start))
        active = self._per_speaker(
            np.where((self.starts <= mid) & (self.ends >= mid), 1.0, 0.0), total=False
        )
        if active.any():
            # Several voices at the midpoint (overlapped speech): the one talking most in the span.
            return self.labels[int(np.argmax(np.where(active > 0, overlap + 1.0, -1.0)))]
        if overlap.max() > 0:
            return self.labels[int(np.argmax(overlap))]
        gaps = np.maximum(self.starts - mid, mid - self.ends)
        return self.labels[int(self.who[int(np.argmin(gaps))])]

    def _per_speaker(self, values: _Floats, *, total: bool = True) -> _Floats:
        out = np.zeros(len(self.labels), dtype=np.float64)
        clipped = np.maximum(values, 0.0)
        if total:
            np.add.at(out, self.who, clipped)
        else:
            np.maximum.at(out, self.who, clipped)
        return out


def assign(segments: Sequence[Segment], turns: Sequence[Turn]) -> tuple[Segment, ...]:
    """Segments with a speaker on every word and segment, split where the speaker changes.

    With no turns (diarization found no speech) the segments come back unchanged. Split
    pieces take their times and text from their words, drop the Whisper tokens (which cannot
    be divided by word reliably) and are renumbered from 0 with the rest.
    """
    if not turns:
        return tuple(segments)
    timeline = _Timeline(turns)
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            speaker = timeline.speaker(segment.start, segment.end)
            out.append(replace(segment, speaker=speaker))
            continue
        words = tuple(replace(w, speaker=timeline.speaker(w.start, w.end)) for w in segment.words)
        out.extend(_split(segment, words))
    return tuple(replace(s, id=i) for i, s in enumerate(out))


def _split(segment: Segment, words: tuple[Word, ...]) -> list[Segment]:
    """`segment` cut into runs of words of one speaker; a single run keeps text and tokens."""
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [replace(segment, words=words, speaker=words[0].speaker)]
    pieces: list[Segment] = []
    for index, run in enumerate(runs):
        start = segment.start if index == 0 else max(run[0].start, pieces[-1].end)
        end = segment.end if index == len(runs) - 1 else max(run[-1].end, start)
        text = "".join(w.word for w in run)
        if index == 0 and segment.text[:1].isspace() and not text[:1].isspace():
            text = " " + text
        piece = replace(
            segment,
            start=start,
            end=end,
            text=text,
            tokens=(),
            words=tuple(run),
            speaker=run[0].speaker,
        )
        pieces.append(piece)
    return pieces


def speaker_stats(turns: Sequence[Turn]) -> tuple[Speaker, ...]:
    """Seconds of speech per speaker, in order of first appearance.

    A speaker's own overlapping turns count once; time where two speakers overlap counts for
    each of them. Rounded to milliseconds.
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    stats: list[Speaker] = []
    for label in _first_appearance(ordered):
        total, reach = 0.0, float("-inf")
        for turn in (t for t in ordered if t.speaker == label):
            start = max(turn.start, reach)
            if turn.end > start:
                total += turn.end - start
            reach = max(reach, turn.end)
        stats.append(Speaker(label, round(total, 3)))
    return tuple(stats)


def rename_speakers(
    segments: Sequence[Segment], turns: Sequence[Turn], names: Sequence[str]
) -> tuple[tuple[Segment, ...], tuple[Turn, ...]]:
    """Speakers renamed in order of first appearance (`--speaker-names "Ana,Ben"`).

    Extra names are ignored; speakers beyond the names (or given an empty name) keep their
    label. Two speakers given one name would merge them, so a repeated name is a UsageError.
    """
    cleaned = [n.strip() for n in names]
    given = [n for n in cleaned if n]
    if len(set(given)) != len(given):
        raise UsageError(f"--speaker-names repeats a name: {', '.join(cleaned)}")
    labels = _first_appearance(sorted(turns, key=lambda t: (t.start, t.end)))
    for segment in segments:
        for label in [segment.speaker, *(w.speaker for w in segment.words)]:
            if label is not None and label not in labels:
                labels.append(label)
    mapping = {label: name for label, name in zip(labels, cleaned, strict=False) if name}
    clash = set(mapping.values()) & (set(labels) - set(mapping))
    if clash:
        raise UsageError(f"--speaker-names gives a name another speaker has: {sorted(clash)[0]}")

    def new(label: str | None) -> str | None:
        return None if label is None else mapping.get(label, label)

    renamed = tuple(
        replace(
            s,
            speaker=new(s.speaker),
            words=tuple(replace(w, speaker=new(w.speaker)) for w in s.words),
        )
        for s in segments
    )
    return renamed, tuple(replace(t, speaker=mapping.get(t.speaker, t.speaker)) for t in turns)


def _first_appearance(ordered: Sequence[Turn]) -> list[str]:
    labels: list[str] = []
    for turn in ordered:
        if turn.speaker not in labels:
            labels.append(turn.speaker)
    return labels
