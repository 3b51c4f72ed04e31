"""Speakers end to end: --diarize with the offline backend on the two-voice dialogue."""

from __future__ import annotations

import json
from pathlib import Path

import srt

from tests.conftest import TEST_MODEL, run_cli

M = ("--model", TEST_MODEL)


def test_diarize_a_dialogue(media: Path) -> None:
    proc = run_cli(
        media / "dialogue2.wav",
        "--diarize",
        "--diarizer",
        "offline",
        "-f",
        "json,srt,vtt,txt,rttm",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((media / "dialogue2.json").read_text())
    assert [s["id"] for s in result["speakers"]] == ["SPEAKER_00", "SPEAKER_01"]
    assert all(s["speaker"] for s in result["segments"])
    for seg in result["segments"]:  # a segment never spans two speakers
        assert {w["speaker"] for w in seg["words"]} <= {seg["speaker"]}
    cues = list(srt.parse((media / "dialogue2.srt").read_text()))
    assert all(c.content.startswith("[SPEAKER_0") for c in cues)
    assert "<v SPEAKER_01>" in (media / "dialogue2.vtt").read_text()
    rttm = (media / "dialogue2.rttm").read_text().splitlines()
    assert len(rttm) >= 4 and all(line.startswith("SPEAKER dialogue2 1 ") for line in rttm)


def test_speaker_count_and_names(media: Path) -> None:
    proc = run_cli(
        media / "dialogue3.wav",
        "--speakers",
        "3",
        "--diarizer",
        "offline",
        "--speaker-names",
        "Ana,Ben,Cy",
        "-f",
        "txt",
        "--stdout",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    paragraphs = proc.stdout.strip().split("\n\n")
    assert {p.split("]")[0] + "]" for p in paragraphs} == {"[Ana]", "[Ben]", "[Cy]"}
    assert paragraphs[0].startswith("[Ana]")


def test_contradictory_counts_are_a_usage_error(media: Path) -> None:
    proc = run_cli(media / "dialogue2.wav", "--min-speakers", "3", "--max-speakers", "2", *M)
    assert proc.returncode == 2


def test_speaker_counts_that_contradict_are_usage_errors(media: Path) -> None:
    proc = run_cli(media / "dialogue2.wav", *M, "--min-speakers", "3", "--max-speakers", "2")
    assert proc.returncode == 2
    assert "--min-speakers 3 is more than --max-speakers 2" in proc.stderr
    proc = run_cli(media / "dialogue2.wav", *M, "--diarize", "--diarizer", "nemo")
    assert proc.returncode == 2 and "unknown diarizer 'nemo'" in proc.stderr


def test_an_empty_speaker_name_keeps_the_label(media: Path) -> None:
    from ffscribe.cli.app import _names

    assert _names("Ana,,Ben") == ("Ana", "", "Ben")
    assert _names(" Ana , Ben ") == ("Ana", "Ben") and _names(None) == ()
