"""Speaker alignment: a speaker per word, segments split by speaker, stats and renaming."""

from __future__ import annotations

import itertools

import pytest

from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.transcript import Segment, Speaker, Turn, Word
from ffscribe.core.speakers.align import assign, rename_speakers, speaker_stats

A, B, C = "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"


def _segment(index: int, words: list[tuple[float, float, str]]) -> Segment:
    built = tuple(Word(s, e, w, 0.9) for s, e, w in words)
    text = "".join(w.word for w in built)
    return Segment(index, built[0].start, built[-1].end, text, tokens=(1, 2, 3), words=built)


def _check_invariants(segments: tuple[Segment, ...], speakers: set[str]) -> None:
    assert [s.id for s in segments] == list(range(len(segments)))
    for segment in segments:
        assert segment.speaker in speakers
        assert {w.speaker for w in segment.words} <= {segment.speaker}
        assert all(segment.start <= w.start and w.end <= segment.end for w in segment.words)
        assert segment.start <= segment.end
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start


def test_split_where_the_speaker_changes() -> None:
    segment = _segment(
        0, [(0.0, 0.4, " Hello"), (0.4, 0.9, " there."), (1.2, 1.5, " Hi"), (1.5, 2.0, " back.")]
    )
    turns = [Turn(0.0, 1.0, A), Turn(1.1, 2.1, B)]
    out = assign([segment], turns)
    assert [(s.text, s.speaker) for s in out] == [(" Hello there.", A), (" Hi back.", B)]
    assert (out[0].start, out[0].end, out[1].start, out[1].end) == (0.0, 0.9, 1.2, 2.0)
    assert all(s.tokens == () for s in out)  # tokens cannot be divided by word
    _check_invariants(out, {A, B})


def test_one_speaker_keeps_the_segment_whole() -> None:
    segments = [_segment(5, [(0.0, 0.5, " One"), (0.5, 1.0, " two.")])]
    out = assign(segments, [Turn(0.0, 3.0, B)])
    assert len(out) == 1 and out[0].id == 0
    assert out[0].tokens == (1, 2, 3) and out[0].text == segments[0].text
    assert out[0].speaker == B and {w.speaker for w in out[0].words} == {B}


def test_overlap_goes_to_the_speaker_active_at_the_midpoint() -> None:
    # B talks over A from 1.0 s; the word at 0.8-1.1 has its midpoint (0.95) in A's turn only.
    turns = [Turn(0.0, 2.0, A), Turn(1.0, 3.0, B)]
    words = [(0.8, 1.1, " edge"), (1.4, 1.9, " both"), (2.2, 2.6, " tail")]
    out = assign([_segment(0, words)], turns)
    speakers = [w.speaker for s in out for w in s.words]
    assert speakers[0] == A and speakers[2] == B
    assert speakers[1] in (A, B)  # both active at the midpoint: either is right
    _check_invariants(out, {A, B})


def test_overlap_prefers_who_talks_most_during_the_word() -> None:
    # Both active at the midpoint 1.5; A covers 1.0-2.0 wholly, B starts at 1.4.
    turns = [Turn(0.0, 2.5, A), Turn(1.4, 4.0, B)]
    out = assign([_segment(0, [(1.0, 2.0, " word")])], turns)
    assert out[0].speaker == A


def test_word_outside_every_turn_goes_to_the_nearest() -> None:
    turns = [Turn(0.0, 1.0, A), Turn(5.0, 6.0, B)]
    words = [(1.2, 1.4, " late"), (4.5, 4.8, " early"), (9.0, 9.5, " after")]
    out = assign([_segment(0, words)], turns)
    assert [w.speaker for s in out for w in s.words] == [A, B, B]
    _check_invariants(out, {A, B})


def test_segments_without_words_take_the_largest_overlap() -> None:
    segments = [Segment(0, 0.0, 2.0, " no words"), Segment(1, 7.0, 8.0, " far away")]
    out = assign(segments, [Turn(0.0, 0.5, A), Turn(0.5, 2.0, B), Turn(3.0, 4.0, A)])
    assert [s.speaker for s in out] == [B, A]


def test_zero_length_words_and_no_turns() -> None:
    segment = _segment(0, [(1.0, 1.0, " blink")])
    assert assign([segment], [Turn(0.5, 1.5, C)])[0].speaker == C
    assert assign([segment], []) == (segment,)


def test_many_changes_renumber_and_stay_monotonic() -> None:
    words = [(i * 0.5, i * 0.5 + 0.4, f" w{i}") for i in range(12)]
    turns = [Turn(i * 1.0, i * 1.0 + 1.0, (A, B, C)[i % 3]) for i in range(6)]
    segments = [_segment(0, words[:6]), _segment(1, words[6:])]
    out = assign(segments, turns)
    assert len(out) == 6
    assert "".join(s.text for s in out) == "".join(w for _, _, w in words)
    _check_invariants(out, {A, B, C})


def test_speaker_stats_counts_overlap_for_each() -> None:
    turns = [Turn(2.0, 4.0, B), Turn(0.0, 3.0, A), Turn(2.5, 3.5, A), Turn(6.0, 7.0, B)]
    assert speaker_stats(turns) == (Speaker(A, 3.5), Speaker(B, 3.0))
    assert speaker_stats([]) == ()


def test_rename_in_order_of_first_appearance() -> None:
    turns = (Turn(0.0, 1.0, A), Turn(1.0, 2.0, B), Turn(2.0, 3.0, C))
    segments = assign([_segment(0, [(0.2, 0.6, " a"), (1.2, 1.6, " b"), (2.2, 2.6, " c")])], turns)
    named, named_turns = rename_speakers(segments, turns, ["Ana", " Ben "])
    assert [s.speaker for s in named] == ["Ana", "Ben", C]
    assert [w.speaker for s in named for w in s.words] == ["Ana", "Ben", C]
    assert [t.speaker for t in named_turns] == ["Ana", "Ben", C]
    extra, _ = rename_speakers(segments, turns, ["x", "y", "z", "unused"])
    assert [s.speaker for s in extra] == ["x", "y", "z"]
    skipped, _ = rename_speakers(segments, turns, ["", "Ben"])
    assert [s.speaker for s in skipped] == [A, "Ben", C]


@pytest.mark.parametrize("names", [["Ana", "Ana"], ["SPEAKER_01"]])
def test_rename_refuses_to_merge_speakers(names: list[str]) -> None:
    turns = (Turn(0.0, 1.0, A), Turn(1.0, 2.0, B))
    with pytest.raises(UsageError):
        rename_speakers((), turns, names)
