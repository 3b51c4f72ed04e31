"""The writer registry: names, --format parsing, options checks, and a light import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from ffscribe.core.data.errors import ExitCode, UsageError
from ffscribe.formats import FORMAT_NAMES, WRITERS, WriterOptions, get_writer, parse_formats


def test_registry_names() -> None:
    assert FORMAT_NAMES == ("json", "srt", "vtt", "txt", "tsv", "rttm")
    for name, writer in WRITERS.items():
        assert writer.name == name
        assert writer.extension == name
        assert writer.description and "\n" not in writer.description


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("srt", ("srt",)),
        ("SRT, json", ("srt", "json")),
        ("  vtt ,TXT,, tsv ", ("vtt", "txt", "tsv")),
        ("srt,json,srt,SRT", ("srt", "json")),
        ("all", FORMAT_NAMES),
        ("ALL", FORMAT_NAMES),
        ("tsv,all", ("tsv", "json", "srt", "vtt", "txt", "rttm")),
        ("all,srt", FORMAT_NAMES),
    ],
)
def test_parse_formats(spec: str, expected: tuple[str, ...]) -> None:
    assert parse_formats(spec) == expected


@pytest.mark.parametrize("spec", ["docx", "srt,pdf", "srt json"])
def test_parse_formats_unknown(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_formats(spec)
    assert info.value.exit_code == ExitCode.USAGE
    for name in FORMAT_NAMES:
        assert name in info.value.message


@pytest.mark.parametrize("spec", ["", " ", ",", " , "])
def test_parse_formats_empty(spec: str) -> None:
    with pytest.raises(UsageError, match="no output format"):
        parse_formats(spec)


def test_get_writer_unknown() -> None:
    with pytest.raises(UsageError, match="unknown format 'docx'"):
        get_writer("docx")


@pytest.mark.parametrize("field", ["max_line_width", "max_line_count", "max_words_per_line"])
def test_options_must_be_positive(field: str) -> None:
    bad: dict[str, Any] = {field: 0}
    with pytest.raises(UsageError, match="--" + field.replace("_", "-")):
        WriterOptions(**bad)


def test_import_is_light() -> None:
    code = (
        "import sys, ffscribe.formats; "
        "heavy = {'faster_whisper', 'numpy', 'torch', 'ctranslate2'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
