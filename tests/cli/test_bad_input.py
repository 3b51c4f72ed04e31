"""Bad input: one clear line naming the input and the cause; the rest of the batch goes on;
no partial file is left and no good output is replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TEST_MODEL, run_cli

M = ("--model", TEST_MODEL)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("missing.wav", "no such file"),
        ("not_media.mp3", "not a media file"),
        ("empty.wav", "empty"),
        ("video_noaudio.mp4", "no audio"),
    ],
)
def test_each_bad_input_is_named_with_its_cause(media: Path, name: str, cause: str) -> None:
    before = _snapshot(media)
    proc = run_cli(media / name, "--format", "srt,json", *M)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1, proc.stderr
    assert name in lines[0] and cause in lines[0].lower(), lines[0]
    assert "Traceback" not in proc.stderr
    assert _snapshot(media) == before


def test_a_batch_goes_on_past_bad_inputs(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    bad = ["missing.wav", "not_media.mp3", "empty.wav", "video_noaudio.mp4", "truncated.m4a"]
    proc = run_cli(
        *(media / b for b in bad),
        media / "nope*.wav",
        media / "speech.wav",
        "-f",
        "txt",
        "-o",
        out,
        *M,
    )
    assert proc.returncode == 1
    assert "1 done, 0 skipped, 6 failed" in proc.stderr
    assert "no file matches" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["speech.txt"]


def test_a_failed_input_never_replaces_a_good_output(media: Path) -> None:
    good = media / "not_media.srt"
    good.write_text("1\n00:00:00,000 --> 00:00:01,000\nkeep me\n", encoding="utf-8")
    proc = run_cli(media / "not_media.mp3", "--format", "srt", "--overwrite", *M)
    assert proc.returncode == 1
    assert good.read_text(encoding="utf-8").endswith("keep me\n")
    assert not [p for p in media.iterdir() if p.name.endswith(".part")]


def test_audio_track_out_of_range(media: Path) -> None:
    proc = run_cli(media / "two_tracks.mkv", "--audio-track", "5", "-f", "txt", *M)
    assert proc.returncode == 1
    assert "two_tracks.mkv" in proc.stderr and "audio track" in proc.stderr.lower()


def test_start_past_the_end(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--start", "999", "-f", "txt", *M)
    assert proc.returncode == 1
    assert "speech.wav" in proc.stderr and "past the end" in proc.stderr


def test_unwritable_output_directory(media: Path) -> None:
    blocker = media / "a-file"
    blocker.write_text("x")
    proc = run_cli(media / "speech.wav", "-f", "txt", "-o", blocker / "sub", *M)
    assert proc.returncode == 1
    assert "cannot write" in proc.stderr and "a-file" in proc.stderr


def test_unknown_format_is_a_usage_error(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--format", "srt,docx", *M)
    assert proc.returncode == 2
    assert "docx" in proc.stderr


def test_unknown_model_offline_exits_3_naming_the_fix(media: Path, tmp_path: Path) -> None:
    proc = run_cli(
        media / "speech.wav", "--model", "small", "-f", "txt", "--report", tmp_path / "r.json"
    )
    assert proc.returncode == 3
    assert "--model DIR" in proc.stderr and "done" not in proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 3 and "--model DIR" in report["error"]
    assert not (media / "speech.txt").exists()


def test_english_only_model_refuses_another_language(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--language", "fr", "-f", "txt", *M)
    assert proc.returncode == 2
    assert "English-only" in proc.stderr
