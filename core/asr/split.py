"""Where to cut a long input so its parts can be transcribed side by side: at pauses, into
parts holding about equal speech, never inside it."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from typing import Any

# Below this an input is one part: the cut would cost context for little time saved.
MIN_SPLIT_SECONDS = 60.0
# Longer inputs get more parts than workers, so uneven parts still keep every worker busy,
# and each part's own decoding stays small (memory, time and errors of 5- against 10-minute
# parts: BENCHMARKS.md, "Figures behind the code's constants"). But every cut costs a context
# decode and about one more window (a part's short last window is encoded whole), so parts
# are as near this length as whole rounds of the workers allow (BENCHMARKS.md, "Issue 20,
# eighth session").
TARGET_PART_SECONDS = 300.0


def part_count(duration: float, workers: int) -> int:
    """How many parts an input of `duration` seconds is cut into for `workers` workers: a
    multiple of the workers (so none idles at the end), each part as near
    TARGET_PART_SECONDS long as that allows and at least half of MIN_SPLIT_SECONDS."""
    if workers <= 1 or duration < MIN_SPLIT_SECONDS:
        return 1
    rounds = max(1, round(duration / (workers * TARGET_PART_SECONDS)))
    return max(2, min(workers * rounds, int(duration // (MIN_SPLIT_SECONDS / 2))))


# A cut needs a pause at least this long (samples at 16 kHz): cut mid-sentence, Whisper
# finishes the sentence from its prompt with invented words (seen on the sonnets file).
MIN_PAUSE = int(0.6 * 16000)
CLEAR_PAUSE = 16000  # a pause of a second or more: a sentence or paragraph break
Gap = tuple[int, int, int, int]  # a pause's start and end, the speech before it, its context

# Given a candidate pause (start, end), the truly quiet sample ranges inside it. The energy
# floor finds pauses cheaply but calls quiet speech a pause: the TIMIT sentence of the long
# benchmark file sits 25 dB under the loud speech around it, and a cut in its middle lost it.
Check = Callable[[int, int], Sequence[tuple[int, int]]]


def cut_points(
    speech: Sequence[tuple[int, int]],
    total: int,
    parts: int,
    check: Check | None = None,
    lead: int = 0,
) -> list[tuple[int, int]]:
    """Sample ranges covering [0, total) in up to `parts` pieces, each cut in the middle of
    a pause within a third of a part's speech of an even split of the work (decoding time
    follows the speech a part holds, not its length; a later part first decodes the speech
    in the `lead` samples before its cut as its context, and the first part none): of
    the pauses of a second or more, the nearest (a sentence or paragraph break, where
    Whisper loses the least context, and parts stay even), else the longest. `speech` holds
    sorted (start, end) sample ranges of detected speech; `check`, when given, narrows each
    candidate pause to where it is really quiet (a voice detector), and a candidate with no
    quiet stretch of MIN_PAUSE left is passed over. A split with no pause near it is not
    made, so fewer pieces may come back."""
    if parts <= 1 or len(speech) < 2:
        return [(0, total)]
    # No later part under half of MIN_SPLIT_SECONDS (part_count's promise), at 16 kHz.
    lead = min(max(lead, 0), total // parts, max(0, total - parts * int(MIN_SPLIT_SECONDS * 8000)))
    starts = [a for a, _ in speech]
    heard_by_end = list(accumulate(b - a for a, b in speech))
    heard = heard_by_end[-1]

    def heard_by(sample: int) -> int:
        i = bisect_right(starts, sample) - 1
        if i < 0:
            return 0
        return (heard_by_end[i - 1] if i else 0) + min(sample, speech[i][1]) - speech[i][0]

    # Each pause with the speech heard before it, and the speech a part starting there
    # would decode first as its context (`lead` samples before the cut, at most).
    gaps: list[Gap] = []
    for (_, a_end), (b_start, _) in pairwise(speech):
        if b_start - a_end >= MIN_PAUSE:
            at = heard_by(a_end)
            gaps.append((a_end, b_start, at, at - heard_by((a_end + b_start) // 2 - lead)))
    slack = heard // parts // 3
    cuts: list[int] = []
    for k in range(1, parts):

        def off(gap: Gap, k: int = k) -> int:
            """How far a cut at `gap` is from giving part k its even share of the work."""
            return abs(gap[2] - (gap[3] + (heard - gap[3]) * k // parts))

        near = [g for g in gaps if off(g) <= slack]
        for start, end in _by_preference(near, off):
            quiet = [(start, end)] if check is None else check(start, end)
            longest = max(quiet, key=lambda q: q[1] - q[0], default=(0, 0))
            if longest[1] - longest[0] < MIN_PAUSE:
                continue
            cut = (longest[0] + longest[1]) // 2
            if cut > (cuts[-1] if cuts else 0):
                cuts.append(cut)
            break
    bounds = [0, *cuts, total]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def _by_preference(gaps: list[Gap], off: Callable[[Gap], int]) -> list[tuple[int, int]]:
    """Clear breaks nearest an even split first (by `off`), then the shorter pauses,
    longest first; each as (start, end)."""
    clear = sorted((g for g in gaps if g[1] - g[0] >= CLEAR_PAUSE), key=off)
    other = sorted((g for g in gaps if g[1] - g[0] < CLEAR_PAUSE), key=lambda g: g[0] - g[1])
    return [(g[0], g[1]) for g in clear + other]


FRAME = 320  # 20 ms at 16 kHz
QUIET_DB = 25.0  # a frame this far below the loud frames is a pause
MIN_QUIET_FRAMES = 15  # 0.3 s


def sounding(samples: Any, *, block_seconds: float = 60.0) -> list[tuple[int, int]]:
    """(start, end) sample ranges between pauses, found from frame energy.

    The cuts only need pauses, not speech: an energy floor finds them in one cheap pass over
    the audio, block by block, where running Silero VAD over a whole hour-long input took
    684 MiB and seconds of one core before any part could start (BENCHMARKS.md)."""
    import numpy as np

    audio = np.asarray(samples, dtype=np.float32)
    frames = audio.size // FRAME
    if frames == 0:
        return [(0, audio.size)]
    energy = np.empty(frames, dtype=np.float32)
    step = max(1, int(block_seconds * 16000) // FRAME)
    for first in range(0, frames, step):
        last = min(frames, first + step)
        block = audio[first * FRAME : last * FRAME].reshape(-1, FRAME)
        energy[first:last] = np.einsum("ij,ij->i", block, block) / FRAME
    loud = float(np.percentile(energy, 95))
    quiet = energy <= loud * 10 ** (-QUIET_DB / 10) if loud > 0 else np.ones(frames, bool)
    ranges: list[tuple[int, int]] = []
    start = 0
    for a, b in _runs(quiet):
        if b - a >= MIN_QUIET_FRAMES:
            if a > start:
                ranges.append((start * FRAME, a * FRAME))
            start = b
    if start < frames:
        ranges.append((start * FRAME, audio.size))
    return ranges or [(0, audio.size)]


def _runs(flags: Any) -> list[tuple[int, int]]:
    """(start, end) index ranges where `flags` is true."""
    import numpy as np

    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def speech_chunks(samples: Any, vad_parameters: Any) -> list[dict[str, int]]:
    """The voice detector's speech in `samples` with faster-whisper's `vad_parameters` (a
    dict, VadOptions or None for its defaults), as its VAD filter finds it."""
    from faster_whisper.vad import VadOptions

    from ffscribe.core.asr.silero import speech_timestamps

    options = VadOptions(**vad_parameters) if isinstance(vad_parameters, dict) else vad_parameters
    return list(speech_timestamps(samples, options or VadOptions()))


def split_chunks(
    voiced: list[dict[str, int]] | None, parts: list[tuple[int, int]]
) -> list[list[dict[str, int]] | None]:
    """`voiced` (speech over a whole input) for each part, cut at the part's ends and counted
    from its start: the parts' speech laid end to end is the whole's."""
    if voiced is None:
        return [None] * len(parts)
    out: list[list[dict[str, int]] | None] = []
    for a, b in parts:
        inside = [(max(c["start"], a), min(c["end"], b)) for c in voiced]
        out.append([{"start": x - a, "end": y - a} for x, y in inside if y > x])
    return out


def collected(samples: Any, voiced: list[dict[str, int]] | None) -> Any:
    """The speech of `samples` end to end (all of it when `voiced` is None)."""
    if voiced is None:
        return samples
    import numpy as np
    from faster_whisper.vad import collect_chunks

    return np.concatenate(collect_chunks(samples, voiced)[0])


def speech_head(samples: Any, voiced: list[dict[str, int]] | None, size: int) -> Any:
    """The first `size` samples of the speech of `samples` laid end to end (of `samples`
    itself when `voiced` is None), gathering no more of it than that."""
    if voiced is None:
        return samples[:size]
    import numpy as np

    head: list[Any] = []
    left = size
    for chunk in voiced:
        if left <= 0:
            break
        piece = samples[chunk["start"] : min(chunk["end"], chunk["start"] + left)]
        head.append(piece)
        left -= piece.size
    return np.concatenate(head) if head else samples[:0]


def collected_size(samples: Any, voiced: list[dict[str, int]] | None) -> int:
    """collected(samples, voiced).size, without gathering the samples."""
    if voiced is None:
        return int(samples.size)
    return sum(int(c["end"]) - int(c["start"]) for c in voiced)
