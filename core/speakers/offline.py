"""The offline diarizer: Silero VAD speech, GE2E d-vectors on sliding windows, AHC clustering.

Needs no account and no network: the VAD ships with faster-whisper and the speaker encoder
with resemblyzer (run in numpy, see speaker_encoder). The speech regions are joined end to end
with the pauses cut out (as resemblyzer trims silences before it embeds, and as the encoder
was trained); windows of 1.6 s every 0.4 s along that speech are embedded and clustered
(speaker_clustering, count estimated from the data unless given); each 10 ms frame of speech
then goes to the cluster that the windows covering it vote for, weighted towards their
centres, and short flips are smoothed away.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.transcript import Turn
from ffscribe.core.speakers.clustering import cluster, reassign
from ffscribe.core.speakers.encoder import (
    HOP,
    PARTIAL_FRAMES,
    SAMPLE_RATE,
    Encoder,
    SpeakerEncoder,
    normalize_volume,
    unit_rows,
)
from ffscribe.core.speakers.turns import DiarizeOptions, merge_turns, relabel

if TYPE_CHECKING:
    from ffscribe.core.media.ffmpeg import Audio

Regions = list[tuple[int, int]]  # [start, end) in 10 ms frames

FRAME = HOP / SAMPLE_RATE  # seconds per frame
WINDOW_HOP = 40  # frames between window starts: 0.4 s
# Frames of speech: neighbours within 0.8 s (two windows each side) join a window's vector for
# clustering, across pauses. One window each side split pyannote_sample, paa, ami_dev00 and
# dialogue2 into too many speakers; three each side gave too few on pyannote_sample,
# ami_dev00, ami_tst00 and dialogue3: the count estimate depends on this.
CONTEXT = 80
# Windows whose mel slices are stacked for one call of the encoder: its own LSTM batch, so the
# d-vectors are the same as from stacking every window at once.
EMBED_BATCH = 128
MIN_RUN = 40  # frames: a speaker change shorter than 0.4 s inside speech is smoothed away
VAD_MIN_SILENCE_MS = 250  # split speech at pauses this long: turns end at pauses
VAD_PAD_MS = 60
# Seconds: one speaker's turns this close are one turn, the pause inside it included, as the
# references annotate a turn through short pauses (the DER for each gap: BENCHMARKS.md,
# "Figures behind the code's constants").
TURN_GAP = 1.0


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
        timeline, starts = windows(regions, len(mel))
        embeddings = embed_windows(self.encoder, mel, timeline, starts)
        labels = reassign(embeddings, cluster(in_context(embeddings, starts), options))
        frames = frame_labels(regions, timeline, starts, labels, len(mel))
        turns = to_turns(regions, frames, audio.offset, audio.duration)
        return relabel(merge_turns(turns, gap=TURN_GAP))


def speech_regions(samples: npt.NDArray[np.float32]) -> Regions:
    """Speech as [start, end) frame ranges, from the Silero VAD that ships with faster-whisper."""
    from faster_whisper.vad import VadOptions

    from ffscribe.core.asr import silero

    vad = VadOptions(min_silence_duration_ms=VAD_MIN_SILENCE_MS, speech_pad_ms=VAD_PAD_MS)
    found = silero.speech_timestamps(samples, vad)
    regions: Regions = []
    for item in found:
        start, end = int(item["start"]) // HOP, -(-int(item["end"]) // HOP)
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        elif end > start:
            regions.append((start, end))
    return regions


def windows(regions: Regions, total: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The frames the windows run along and each window's first position on them.

    The speech frames joined end to end, so that no window holds a pause (a window centred on
    a short region was mostly silence: on ami_dev00 such windows went to the wrong speaker);
    windows every WINDOW_HOP frames, the last flush with the end. Where all the speech is
    shorter than one window, the whole recording, with windows placed as window_starts does.
    """
    speech = np.concatenate([np.arange(a, min(b, total)) for a, b in regions])
    if len(speech) >= PARTIAL_FRAMES:
        return speech, window_starts([(0, len(speech))], len(speech))
    return np.arange(total), window_starts(regions, total)


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


def embed_windows(
    encoder: Encoder,
    mel: npt.NDArray[np.float32],
    timeline: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """The d-vector of each window (PARTIAL_FRAMES frames of `mel` along `timeline` from each
    of `starts`), their mel slices stacked EMBED_BATCH windows at a time: all at once, they
    took 230 MB per hour of speech."""
    batches = (starts[i : i + EMBED_BATCH] for i in range(0, len(starts), EMBED_BATCH))
    parts = [
        encoder.embed(np.stack([mel[timeline[s : s + PARTIAL_FRAMES]] for s in batch]))
        for batch in batches
    ]
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dimension), dtype=np.float32)


def in_context(
    embeddings: npt.NDArray[np.float32], starts: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Each window's d-vector averaged with its neighbours' up to CONTEXT frames of speech away:
    3.2 s of voice per vector, much steadier for clustering than 1.6 s. Neighbours across a
    pause count too: kept to one speech region, the many short regions of a meeting had one
    window each and no context (ami_dev00 3 speakers for 2, paa 5 for 4).

    The neighbours of a window are a run of the windows sorted by start, so each sum is the
    difference of two running totals, kept in float64 so that the difference loses nothing at
    float32 precision: linear in the number of windows, so an hour gets the same context as a
    minute."""
    order = np.argsort(starts, kind="stable")
    ordered = starts[order]
    first = np.searchsorted(ordered, ordered - CONTEXT, side="left")
    stop = np.searchsorted(ordered, ordered + CONTEXT, side="right")
    totals = np.zeros((len(starts) + 1, embeddings.shape[1]), dtype=np.float64)
    np.cumsum(embeddings[order], axis=0, dtype=np.float64, out=totals[1:])
    sums = np.empty_like(embeddings)
    sums[order] = totals[stop] - totals[first]
    return unit_rows(sums)


def frame_labels(
    regions: Regions,
    timeline: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    total: int,
) -> npt.NDArray[np.int64]:
    """Per frame, the label the covering windows vote for (Hann-weighted to their centres);
    -1 outside speech. Windows vote along `timeline` (positions `starts` on it); frames no
    window covers take the nearest window's label."""
    k = int(labels.max()) + 1
    votes = np.zeros((len(timeline) + PARTIAL_FRAMES, k), dtype=np.float32)
    weight = np.hanning(PARTIAL_FRAMES + 2)[1:-1].astype(np.float32)
    for start, label in zip(starts, labels, strict=True):
        votes[start : start + PARTIAL_FRAMES, label] += weight
    on_timeline = np.zeros((total, k), dtype=np.float32)
    on_timeline[timeline] = votes[: len(timeline)]
    centres = timeline[np.minimum(starts + PARTIAL_FRAMES // 2, len(timeline) - 1)]
    out = np.full(total, -1, dtype=np.int64)
    for a, b in regions:
        idx = np.arange(a, min(b, total))
        chosen = np.argmax(on_timeline[idx], axis=1)
        empty = on_timeline[idx].sum(axis=1) == 0
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
