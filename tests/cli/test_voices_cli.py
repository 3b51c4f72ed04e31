"""Known voices end to end: --voices names dialogue3's enrolled speakers, --speaker-vectors
puts their vectors in the JSON, and --enroll grows the directory from the finished JSON
(that the sample it writes names the speaker is tested in tests/core/test_voices.py)."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

from tests.conftest import TEST_MODEL, run_cli

VOICES = Path(__file__).resolve().parents[1] / "fixtures" / "voices"


def test_voices_vectors_and_enroll(media: Path, tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    shutil.copytree(VOICES, voices)
    dialogue = media / "dialogue3.wav"
    common = ("--diarizer", "offline", "--model", TEST_MODEL, "--overwrite")
    proc = run_cli(dialogue, "--voices", voices, "--speaker-vectors", "-f", "json", *common)
    assert proc.returncode == 0, proc.stderr
    speakers = json.loads((media / "dialogue3.json").read_text())["speakers"]
    assert [s["id"] for s in speakers] == ["Ana", "Ben", "SPEAKER_02"]  # C is enrolled nowhere
    assert speakers[0]["label"] == "SPEAKER_00" and speakers[0]["similarity"] > 0.5
    assert all(s["vector"]["dimension"] == len(s["vector"]["values"]) == 256 for s in speakers)
    assert all("margin" in s and "nearest" in s for s in speakers)

    proc = run_cli(dialogue, "--voices", voices, "--enroll", "SPEAKER_02=Cy", *common)
    assert proc.returncode == 0, proc.stderr
    assert (voices / "Cy" / "dialogue3-SPEAKER_02.wav").is_file()
    with wave.open(str(voices / "Cy" / "dialogue3-SPEAKER_02.wav")) as sample:
        assert 3 < sample.getnframes() / sample.getframerate() <= 30  # C's turns, no more


def test_enroll_needs_a_finished_transcript(media: Path, tmp_path: Path) -> None:
    proc = run_cli(media / "dialogue2.wav", "--voices", tmp_path, "--enroll", "SPEAKER_00=Ana")
    assert proc.returncode == 2 and "no finished transcript" in proc.stderr
    proc = run_cli(media / "dialogue2.wav", "--voices", tmp_path, "--enroll", "Ana")
    assert proc.returncode == 2 and "SPEAKER=NAME" in proc.stderr
