"""Where long inputs are cut for side-by-side transcription."""

from __future__ import annotations

import itertools

from ffscribe.core.split import MIN_PAUSE, cut_points, part_count

RATE = 16000


def test_part_count() -> None:
    assert part_count(30.0, 2) == 1  # short: one part
    assert part_count(159.0, 1) == 1  # one worker: one part
    assert part_count(159.0, 2) == 2
    assert part_count(3600.0, 2) == 7  # long: more parts than workers, to keep both busy


def test_cuts_fall_in_the_longest_pause_near_the_middle() -> None:
    s = RATE
    # Speech with a short pause at 49-50 s and a long one at 58-60 s.
    speech = [(0, 49 * s), (50 * s, 58 * s), (60 * s, 100 * s)]
    assert cut_points(speech, 100 * s, 2) == [(0, 59 * s), (59 * s, 100 * s)]


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
