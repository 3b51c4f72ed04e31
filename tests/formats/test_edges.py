"""Edge cases the golden files do not show: rounding, clamping, empty input, markup in names."""

from __future__ import annotations

import pytest

from ffscribe.core.data.transcript import ModelInfo, Segment, Source, Transcript, Word
from ffscribe.formats import WriterOptions, render
from ffscribe.formats.base import format_timestamp, to_ms
from ffscribe.formats.cues import Cue, iter_cues


def _transcript(*segments: Segment) -> Transcript:
    return Transcript(
        input_path="a.wav",
        source=Source("file", "a.wav"),
        duration=10.0,
        language="en",
        language_probability=1.0,
        segments=segments,
        model=ModelInfo("tiny.en", "cpu", "int8"),
    )


@pytest.mark.parametrize(
    ("seconds", "srt_time", "vtt_time"),
    [
        (0.0, "00:00:00,000", "00:00.000"),
        (-0.01, "00:00:00,000", "00:00.000"),
        (59.9996, "00:01:00,000", "01:00.000"),
        (3599.9994, "00:59:59,999", "59:59.999"),
        (3723.4567, "01:02:03,457", "01:02:03.457"),
        (360000.0, "100:00:00,000", "100:00:00.000"),
    ],
)
def test_timestamps(seconds: float, srt_time: str, vtt_time: str) -> None:
    ms = to_ms(seconds)
    assert format_timestamp(ms, decimal_marker=",", always_hours=True) == srt_time
    assert format_timestamp(ms) == vtt_time


def test_empty_transcript() -> None:
    empty = _transcript()
    assert render(empty, "srt") == ""
    assert render(empty, "vtt") == "WEBVTT\n\n"
    assert render(empty, "txt") == ""
    assert render(empty, "tsv") == "start\tend\ttext\n"


def test_words_are_kept_inside_their_segment() -> None:
    words = (Word(0.5, 1.2, " early", 1.0), Word(1.1, 2.9, " late", 1.0))
    segment = Segment(id=0, start=1.0, end=2.0, text=" early late", words=words)
    cues = list(iter_cues([segment], WriterOptions(max_line_width=5, max_line_count=1)))
    assert cues == [
        Cue(1000, 1200, (("early",),)),
        Cue(1200, 2000, (("late",),)),
    ]


def test_highlight_skips_words_without_duration() -> None:
    words = (Word(0.0, 0.0, " a", 1.0), Word(0.5, 1.0, " b", 1.0))
    segment = Segment(id=0, start=0.0, end=1.0, text=" a b", words=words)
    cues = list(iter_cues([segment], WriterOptions(highlight_words=True)))
    lines = (("a", " b"),)
    assert cues == [Cue(0, 500, lines), Cue(500, 1000, lines, highlight=1)]


def test_no_words_wraps_text_without_splitting_time() -> None:
    segment = Segment(id=0, start=1.0, end=3.0, text=" one two three four five")
    options = WriterOptions(max_line_width=9, max_line_count=1)
    cues = list(iter_cues([segment], options))
    assert cues == [Cue(1000, 3000, (("one two",), ("three",), ("four five",)))]


def test_speaker_markup_is_escaped_in_vtt() -> None:
    segment = Segment(id=0, start=0.0, end=1.0, text=" hi", speaker="A&B <x>")
    assert render(_transcript(segment), "vtt").endswith("<v A&amp;B &lt;x&gt;>hi\n\n")
    assert render(_transcript(segment), "srt").endswith("[A&B <x>] hi\n\n")


def test_text_is_one_line_everywhere() -> None:
    segment = Segment(id=0, start=0.0, end=1.0, text=" tab\there\nnew  line ")
    transcript = _transcript(segment)
    assert render(transcript, "txt") == "tab here new line\n"
    assert render(transcript, "tsv").splitlines()[1] == "0\t1000\ttab here new line"
    assert render(transcript, "srt").splitlines()[2] == "tab here new line"
