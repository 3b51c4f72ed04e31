"""Speaker-aware writing beyond the goldens: RTTM ids and fields, TXT paragraphs, TSV column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ffscribe.core.data.transcript import Transcript, Turn
from ffscribe.formats import render

GOLDEN = Path(__file__).parent / "golden"


def _dialogue() -> Transcript:
    return Transcript.from_json((GOLDEN / "dialogue.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("input_path", "file_id"),
    [
        ("/media/three friends.mp4", "three_friends"),
        ("https://example.org/ep/42.mp3?x=1", "42"),
        ("C:\\talks\\keynote.wav", "keynote"),
        ("pipe:", "pipe:"),
        ("", "transcript"),
    ],
)
def test_rttm_file_id_is_the_input_stem(input_path: str, file_id: str) -> None:
    first = render(replace(_dialogue(), input_path=input_path), "rttm").splitlines()[0]
    assert first.split()[1] == file_id


def test_rttm_fields_never_contain_spaces_and_lines_are_sorted() -> None:
    turns = (Turn(5.0, 6.25, "Ana Maria"), Turn(1.0, 2.0, "Ben"))
    text = render(replace(_dialogue(), turns=turns), "rttm")
    assert text == (
        "SPEAKER three_friends 1 1.000 1.000 <NA> <NA> Ben <NA> <NA>\n"
        "SPEAKER three_friends 1 5.000 1.250 <NA> <NA> Ana_Maria <NA> <NA>\n"
    )
    assert all(len(line.split()) == 10 for line in text.splitlines())


def test_without_diarization_rttm_is_empty_and_txt_is_line_per_segment() -> None:
    plain = replace(_dialogue(), speakers=None, turns=())
    assert render(plain, "rttm") == ""
    assert render(plain, "txt").count("\n\n") == 0
    assert render(plain, "tsv").startswith("start\tend\ttext\n")


def test_txt_joins_consecutive_segments_of_one_speaker() -> None:
    dialogue = _dialogue()
    segments = tuple(replace(s, speaker="SPEAKER_00") for s in dialogue.segments[:3])
    text = render(dialogue.with_segments(segments + dialogue.segments[3:]), "txt")
    assert text.count("[SPEAKER_00]") == 1 and text.count("\n\n") == 1


def test_diarized_but_silent_writes_nothing() -> None:
    empty = replace(_dialogue(), segments=(), turns=(), speakers=())
    assert render(empty, "txt") == ""
    assert render(empty, "rttm") == ""
