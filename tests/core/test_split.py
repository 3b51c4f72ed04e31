"""Where long inputs are cut for side-by-side transcription."""

from __future__ import annotations

import itertools

import numpy as np

from ffscribe.core.asr.split import MIN_PAUSE, cut_points, part_count, sounding

RATE = 16000


def test_part_count() -> None:
    assert part_count(30.0, 2) == 1  # short: one part
    assert part_count(159.0, 1) == 1  # one worker: one part
    assert part_count(159.0, 2) == 2
    assert part_count(676.0, 2) == 2  # parts as near 5 minutes as a multiple of workers allows
    assert part_count(900.0, 2) == 4
    assert part_count(3600.0, 2) == 12
    assert part_count(3600.0, 4) == 12
    assert part_count(70.0, 4) == 2  # no part under 30 s


def test_cuts_prefer_a_clear_break_near_the_middle() -> None:
    s = RATE
    # A 0.7 s pause right at the middle, a 2 s break at 58-60 s: the break wins.
    speech = [(0, 49_650 * s // 1000), (50_350 * s // 1000, 58 * s), (60 * s, 100 * s)]
    assert cut_points(speech, 100 * s, 2) == [(0, 59 * s), (59 * s, 100 * s)]
    # Two clear breaks: the one nearer an even split.
    speech = [(0, 40 * s), (42 * s, 51 * s), (53 * s, 100 * s)]
    assert cut_points(speech, 100 * s, 2) == [(0, 52 * s), (52 * s, 100 * s)]
    # The first part decodes no context first: given a 20 s lead, the split it aims at is
    # 60 s, and the break at 59 s is nearer than the one at 41 s.
    speech = [(0, 40 * s), (42 * s, 58 * s), (60 * s, 100 * s)]
    assert cut_points(speech, 100 * s, 2) == [(0, 41 * s), (41 * s, 100 * s)]
    assert cut_points(speech, 100 * s, 2, lead=20 * s) == [(0, 59 * s), (59 * s, 100 * s)]


def test_parts_hold_even_speech_not_even_length() -> None:
    s = RATE
    # Dense speech for 58 s, then two short sentences in 42 s of quiet: half the speech is
    # heard by 32 s, so the cut is the break at 34-36 s, not the one nearest 50 s.
    speech = [(a * s, (a + 10) * s) for a in (0, 12, 24, 36, 48)] + [(70 * s, 75 * s)]
    speech.append((90 * s, 95 * s))
    assert cut_points(speech, 100 * s, 2) == [(0, 35 * s), (35 * s, 100 * s)]


def test_pauses_from_energy() -> None:
    rng = np.random.default_rng(0)
    loud = rng.standard_normal(10 * RATE).astype(np.float32) * 0.3
    audio = np.concatenate(
        [loud, np.zeros(RATE, np.float32), loud, np.zeros(RATE // 10, np.float32), loud]
    )
    ranges = sounding(audio)
    assert len(ranges) == 2  # the 0.1 s dip is no pause
    assert abs(ranges[0][1] - 10 * RATE) <= 320 and abs(ranges[1][0] - 11 * RATE) <= 320


def test_no_cut_without_a_real_pause() -> None:
    s = RATE
    speech = [(0, 50 * s), (50 * s + MIN_PAUSE // 2, 100 * s)]
    assert cut_points(speech, 100 * s, 2) == [(0, 100 * s)]
    assert cut_points([(0, 100 * s)], 100 * s, 2) == [(0, 100 * s)]


def test_parts_cover_everything_in_order() -> None:
    s = RATE
    speech = [(i * 10 * s, (i * 10 + 8) * s) for i in range(60)]  # 2 s pauses every 10 s
    parts = cut_points(speech, 600 * s, 4)
    assert len(parts) == 4
    assert parts[0][0] == 0 and parts[-1][1] == 600 * s
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))


def test_a_check_narrows_a_pause_or_passes_it_over() -> None:
    s = RATE
    speech = [(0, 40 * s), (42 * s, 49 * s), (51 * s, 100 * s)]  # breaks at 40-42 and 49-51 s
    # A voice detector hears quiet speech in the first 1.2 s of the 49-51 s "pause".
    heard = {(49 * s, 51 * s): [(49 * s + 6 * s // 5, 51 * s)], (40 * s, 42 * s): []}
    parts = cut_points(speech, 100 * s, 2, lambda a, b: heard[(a, b)])
    assert parts == [(0, 50_600 * s // 1000), (50_600 * s // 1000, 100 * s)]
    # Nothing left that is quiet enough: the pause is passed over for the next one.
    heard[(49 * s, 51 * s)] = [(50 * s, 50 * s + MIN_PAUSE - 1)]
    heard[(40 * s, 42 * s)] = [(40 * s, 42 * s)]
    assert cut_points(speech, 100 * s, 2, lambda a, b: heard[(a, b)])[0] == (0, 41 * s)
