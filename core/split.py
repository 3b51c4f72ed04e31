"""Where to cut a long input so its parts can be transcribed side by side: at pauses, into
parts of about equal length, never inside speech."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

# Below this an input is one part: the cut would cost context for little time saved.
MIN_SPLIT_SECONDS = 60.0
# Longer inputs get more parts than workers, so uneven parts still keep every worker busy.
TARGET_PART_SECONDS = 600.0


def part_count(duration: float, workers: int) -> int:
    """How many parts an input of `duration` seconds is cut into for `workers` workers."""
    if workers <= 1 or duration < MIN_SPLIT_SECONDS:
        return 1
    by_length = int(duration // TARGET_PART_SECONDS) + 1
    return max(min(workers, int(duration // (MIN_SPLIT_SECONDS / 2))), by_length)


# A cut needs a pause at least this long (samples at 16 kHz): cut mid-sentence, Whisper
# finishes the sentence from its prompt with invented words (seen on the sonnets file).
MIN_PAUSE = int(0.6 * 16000)


def cut_points(speech: Sequence[tuple[int, int]], total: int, parts: int) -> list[tuple[int, int]]:
    """Sample ranges covering [0, total) in up to `parts` pieces, each cut in the middle of
    the longest pause within a third of a part's length of an even split: a sentence or
    paragraph break, where Whisper loses the least context. `speech` holds sorted
    (start, end) sample ranges of detected speech. A split with no pause of MIN_PAUSE near
    it is not made, so fewer pieces may come back."""
    if parts <= 1 or len(speech) < 2:
        return [(0, total)]
    gaps = [
        (b_start - a_end, (a_end + b_start) // 2)
        for (_, a_end), (b_start, _) in pairwise(speech)
        if b_start - a_end >= MIN_PAUSE
    ]
    slack = total // parts // 3
    cuts: list[int] = []
    for k in range(1, parts):
        target = total * k // parts
        near = [g for g in gaps if abs(g[1] - target) <= slack]
        if near and (best := max(near)[1]) > (cuts[-1] if cuts else 0):
            cuts.append(best)
    bounds = [0, *cuts, total]
    return [(a, b) for a, b in pairwise(bounds) if b > a]
