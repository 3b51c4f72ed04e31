"""The offline diarizer: Silero VAD speech, GE2E d-vectors on sliding windows, spectral clustering.

Needs no account and no network: the VAD ships with faster-whisper and the speaker encoder
with resemblyzer (run in numpy, see speaker_encoder). Windows of 1.6 s every 0.4 s over the
speech are embedded and clustered (speaker_clustering, count estimated from the eigengap
unless given); each 10 ms frame of speech then goes to the cluster that the windows covering
it vote for, weighted towards their centres, and short flips are smoothed away.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .diarize import DiarizeOptions, merge_turns, relabel
from .speaker_clustering import cluster
from .speaker_encoder import (
    HOP,
    PARTIAL_FRAMES,
    SAMPLE_RATE,
    SpeakerEncoder,
    normalize_volume,
    unit_rows,
)
from .transcript import Turn

if TYPE_CHECKING:
    from .media import Audio

Regions = list[tuple[int, int]]  # [start, end) in 10 ms frames

FRAME = HOP / SAMPLE_RATE  # seconds per frame
WINDOW_HOP = 40  # frames between window starts: 0.4 s
CONTEXT = 80  # frames: neighbours within 0.8 s join a window's vector for clustering
MIN_RUN = 40  # frames: a speaker change shorter than 0.4 s inside speech is smoothed away
VAD_MIN_SILENCE_MS = 250  # split speech at pauses this long: turns end at pauses
VAD_PAD_MS = 60


@dataclass(frozen=True, eq=False)
class OfflineDiarizer:
    """The loaded speaker encoder; one per process, reused for every input."""

    encoder: SpeakerEncoder
    name: str = "offline"

    @classmethod
    def load(cls, options: DiarizeOptions) -> OfflineDiarizer:
        return cls(SpeakerEncoder.load())

    def run(self, audio: Audio, options: DiarizeOptions) -> tuple[Turn, ...]:
        """Speaker turns of `audio` on the source's timeline, labelled by first appearance."""
        samples = np.asarray(audio.samples, dtype=np.float32)
        regions = speech_regions(samples)
        if not regions:
            return ()
        speech = np.concatenate([samples[a * HOP : b * HOP] for a, b in regions])
        samples = normalize_volume(samples, float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))))
        mel = self.encoder.mel(samples)
        starts = window_starts(regions, len(mel))
        embeddings = self.encoder.embed(np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts]))
        labels = cluster(in_context(embeddings, starts, regions), options)
        frames = frame_labels(regions, starts, labels, len(mel))
        turns = to_turns(regions, frames, audio.offset, audio.duration)
        return relabel(merge_turns(turns))


def speech_regions(samples: npt.NDArray[np.float32]) -> Regions:
    """Speech as [start, end) frame ranges, from the Silero VAD that ships with faster-whisper."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(min_silence_duration_ms=VAD_MIN_SILENCE_MS, speech_pad_ms=VAD_PAD_MS)
    found = get_speech_timestamps(samples, vad, sampling_rate=SAMPLE_RATE)
    regions: Regions = []
    for item in found:
        start, end = int(item["start"]) // HOP, -(-int(item["end"]) // HOP)
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        elif end > start:
            regions.append((start, end))
    return regions


def window_starts(regions: Regions, total: int) -> npt.NDArray[np.int64]:
    """First frame of each window: every WINDOW_HOP frames along each speech region, the last
    flush with its end; a region shorter than a window gets one window centred on it."""
    last = max(total - PARTIAL_FRAMES, 0)
    starts: list[int] = []
    for a, b in regions:
        if b - a <= PARTIAL_FRAMES:
            starts.append((a + b - PARTIAL_FRAMES) // 2)
            continue
        count = -(-(b - a - PARTIAL_FRAMES) // WINDOW_HOP)
        starts.extend(round(a + i * (b - a - PARTIAL_FRAMES) / count) for i in range(count + 1))
    return np.clip(np.array(starts, dtype=np.int64), 0, last)


def in_context(
    embeddings: npt.NDArray[np.float32], starts: npt.NDArray[np.int64], regions: Regions
) -> npt.NDArray[np.float32]:
    """Each window's d-vector averaged with its neighbours' up to CONTEXT frames away in the
    same speech region: 3.2 s of voice per vector, much steadier for clustering than 1.6 s."""
    if len(starts) > 4000:  # a dense mask would be too big; clustering groups them anyway
        return embeddings
    ends = np.array([b for _, b in regions])
    region = np.searchsorted(ends, starts + PARTIAL_FRAMES // 2, side="right")
    near = (region[:, None] == region[None, :]) & (
        np.abs(starts[:, None] - starts[None, :]) <= CONTEXT
    )
    return unit_rows(near.astype(np.float32) @ embeddings)


def frame_labels(
    regions: Regions, starts: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], total: int
) -> npt.NDArray[np.int64]:
    """Per frame, the label the covering windows vote for (Hann-weighted to their centres);
    -1 outside speech. Frames no window covers take the nearest window's label."""
    k = int(labels.max()) + 1
    votes = np.zeros((total + PARTIAL_FRAMES, k), dtype=np.float32)
    weight = np.hanning(PARTIAL_FRAMES + 2)[1:-1].astype(np.float32)
    for start, label in zip(starts, labels, strict=True):
        votes[start : start + PARTIAL_FRAMES, label] += weight
    centres = starts + PARTIAL_FRAMES // 2
    out = np.full(total, -1, dtype=np.int64)
    for a, b in regions:
        idx = np.arange(a, min(b, total))
        chosen = np.argmax(votes[idx], axis=1)
        empty = votes[idx].sum(axis=1) == 0
        if empty.any():
            nearest = np.abs(idx[empty, None] - centres[None, :]).argmin(axis=1)
            chosen[empty] = labels[nearest]
        out[idx] = _smooth(chosen)
    return out


def _smooth(run_labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Runs shorter than MIN_RUN frames inside one speech region given to a neighbouring run."""
    labels: npt.NDArray[np.int64] = run_labels.copy()
    while True:
        edges = np.flatnonzero(np.diff(labels)) + 1
        bounds = np.concatenate(([0], edges, [len(labels)]))
        lengths = np.diff(bounds)
        if len(lengths) < 2 or lengths.min() >= MIN_RUN:
            return labels
        i = int(np.argmin(lengths))
        neighbour = (
            i - 1
            if i == len(lengths) - 1 or (i > 0 and lengths[i - 1] >= lengths[i + 1])
            else i + 1
        )
        labels[bounds[i] : bounds[i + 1]] = labels[bounds[neighbour]]


def to_turns(
    regions: Regions, frames: npt.NDArray[np.int64], offset: float, duration: float
) -> list[Turn]:
    """Runs of one label inside each speech region as Turns, in seconds plus `offset`, never
    past the end of the audio."""
    turns: list[Turn] = []
    for a, b in regions:
        b = min(b, len(frames))
        if b <= a:
            continue
        segment = frames[a:b]
        edges = np.concatenate(([0], np.flatnonzero(np.diff(segment)) + 1, [len(segment)]))
        for lo, hi in itertools.pairwise(edges):
            start = min((a + lo) * FRAME, duration) + offset
            end = min((a + hi) * FRAME, duration) + offset
            if end <= start:
                continue
            turns.append(Turn(round(start, 3), round(end, 3), f"S{int(segment[lo])}"))
    return turns
