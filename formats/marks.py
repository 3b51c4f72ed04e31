"""Music marks: music-only stretches shown as `[music]` lines among the segments, for the
writers a person reads (TXT, SRT, VTT)."""

from __future__ import annotations

from ffscribe.core.data.transcript import Segment, Transcript

from .base import WriterOptions

MARK = "[music]"
MIN_MARK_SECONDS = 0.5  # a sliver of music between two segments is not worth a line


def with_music_marks(transcript: Transcript, options: WriterOptions) -> tuple[Segment, ...]:
    """The segments, with a `[music]` segment in each music-only gap when marks are on and
    music was detected. Music under speech is not marked: those segments carry `music`."""
    segments = transcript.segments
    if not options.music_marks or not transcript.music:
        return segments
    marks = []
    for region in transcript.music:
        if region.speech:
            continue
        start, end = region.start, region.end
        for seg in segments:  # keep the mark off the speech around it
            if seg.end <= start or seg.start >= end or not seg.text.strip():
                continue
            if seg.start <= start:
                start = max(start, seg.end)
            else:
                end = min(end, seg.start)
        if end - start >= MIN_MARK_SECONDS:
            marks.append(Segment(id=-1, start=start, end=end, text=f" {MARK}", music=True))
    merged = sorted((*segments, *marks), key=lambda s: (s.start, s.end))
    return tuple(merged)
