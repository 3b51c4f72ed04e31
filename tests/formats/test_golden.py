"""Golden files: each Transcript JSON in golden/, rendered in every format, equals its output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import srt

from ffscribe.core.data.transcript import Transcript
from ffscribe.formats import FORMAT_NAMES, render, write

from .regen_golden import GoldenCase, cases, inputs

CASES = list(cases())


def test_every_input_has_every_format() -> None:
    assert [p.stem for p in inputs()] == ["basic", "dialogue", "music", "nowords"]
    for case in CASES:
        assert case.expected.is_file(), f"missing {case.expected.name}: run regen_golden"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_golden(case: GoldenCase) -> None:
    transcript = Transcript.from_json(case.source.read_text(encoding="utf-8"))
    expected = case.expected.read_bytes().decode("utf-8")
    assert render(transcript, case.fmt, case.options) == expected


@pytest.mark.parametrize("source", inputs(), ids=lambda p: p.stem)
def test_json_round_trip(source: Path) -> None:
    transcript = Transcript.from_json(source.read_text(encoding="utf-8"))
    text = render(transcript, "json")
    assert Transcript.from_json(text) == transcript
    assert text.endswith("}\n")
    assert "\\u" not in text  # UTF-8, not ASCII-escaped


@pytest.mark.parametrize("case", [c for c in CASES if c.fmt == "srt"], ids=lambda c: c.id)
def test_srt_goldens_parse(case: GoldenCase) -> None:
    text = case.expected.read_text(encoding="utf-8")
    subtitles = list(srt.parse(text))
    assert [s.index for s in subtitles] == list(range(1, len(subtitles) + 1))
    assert all(s.start <= s.end for s in subtitles)
    assert srt.compose(subtitles, reindex=False) == text  # nothing srt would normalise


@pytest.mark.parametrize("case", [c for c in CASES if c.fmt == "vtt"], ids=lambda c: c.id)
def test_vtt_goldens_have_header(case: GoldenCase) -> None:
    text = case.expected.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    assert "\n\n\n" not in text  # a blank line only ever ends a cue


def test_stream_and_render_agree() -> None:
    transcript = Transcript.from_json(inputs()[0].read_text(encoding="utf-8"))
    for fmt in FORMAT_NAMES:
        stream = io.StringIO()
        write(transcript, fmt, stream)
        assert stream.getvalue() == render(transcript, fmt)
