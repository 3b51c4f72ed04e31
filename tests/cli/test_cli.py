"""End to end through the installed `transcribe` command: real ffmpeg, the real tiny.en model."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import srt

from ffscribe.formats import FORMAT_NAMES
from tests.conftest import KNOWN_WORDS, MEDIA, TEST_MODEL, run_cli

M = ("--model", TEST_MODEL)


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def _check_invariants(result: dict[str, object]) -> None:
    duration = float(result["duration"])  # type: ignore[arg-type]
    segments = result["segments"]
    assert isinstance(segments, list) and segments
    last = 0.0
    for seg in segments:
        assert last <= seg["start"] <= seg["end"] <= duration + 1e-6
        last = seg["start"]
        for word in seg["words"]:
            assert seg["start"] - 1e-6 <= word["start"] <= word["end"] <= seg["end"] + 1e-6


def test_srt_beside_a_video(media: Path) -> None:
    proc = run_cli(media / "video.mp4", "--format", "srt", *M)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    cues = list(srt.parse((media / "video.srt").read_text(encoding="utf-8")))
    text = " ".join(c.content for c in cues).lower()
    assert all(w in text for w in KNOWN_WORDS)
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))


def test_two_inputs_five_formats(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        media / "speech.mp3",
        media / "video.mp4",
        "--format",
        "json,srt,vtt,txt,tsv",
        "--output-dir",
        out,
        "--word-timestamps",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 done, 0 skipped, 0 failed" in proc.stderr
    exts = ("json", "srt", "vtt", "txt", "tsv")
    assert _files(out) == {f"{stem}.{ext}" for ext in exts for stem in ("speech", "video")}
    result = json.loads((out / "speech.json").read_text(encoding="utf-8"))
    _check_invariants(result)
    assert result["model"]["name"] == TEST_MODEL
    assert result["language"] == "en"
    assert (out / "speech.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert (out / "speech.tsv").read_text(encoding="utf-8").startswith("start\tend\ttext")


def test_same_stem_is_a_clash_not_an_overwrite(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(media / "speech.mp3", media / "speech.ogg", "-f", "txt", "-o", out, *M)
    assert proc.returncode == 1
    assert "speech.ogg" in proc.stderr and "--template" in proc.stderr
    named = run_cli(
        media / "speech.mp3",
        media / "speech.ogg",
        "-f",
        "txt",
        "-o",
        out,
        "--template",
        "{name}.{ext}",
        *M,
    )
    assert named.returncode == 0, named.stderr
    assert {"speech.txt", "speech.mp3.txt", "speech.ogg.txt"} <= _files(out)


def test_format_all_and_model_loaded_once(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "all"
    proc = run_cli(
        media / "speech.wav", media / "video.mp4", "--format", "all", "-o", out, "--verbose", *M
    )
    assert proc.returncode == 0, proc.stderr
    assert len(_files(out)) == 2 * len(FORMAT_NAMES)
    loads = [json.loads((out / f"{s}.json").read_text())["timings"] for s in ("speech", "video")]
    assert sum("model_load" in t for t in loads) == 1  # inputs may run side by side


def test_stdout_carries_only_data(media: Path) -> None:
    before = _files(media)
    proc = run_cli(media / "speech.flac", "--format", "txt", "--stdout", *M)
    assert proc.returncode == 0, proc.stderr
    assert all(w in proc.stdout.lower() for w in KNOWN_WORDS)
    assert "wrote" not in proc.stdout and _files(media) == before


def test_stdout_needs_one_format(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--format", "srt,vtt", "--stdout", *M)
    assert proc.returncode == 2
    assert "exactly one format" in proc.stderr


def test_rerender_saved_json_without_the_model(media: Path, tmp_path: Path) -> None:
    first = run_cli(media / "speech.wav", "--format", "json,srt", *M)
    assert first.returncode == 0, first.stderr
    saved = (media / "speech.srt").read_text(encoding="utf-8")
    (media / "speech.srt").unlink()
    # A model that cannot be loaded proves the re-render never touches one.
    proc = run_cli(media / "speech.json", "--format", "srt,vtt", "--model", tmp_path / "nope")
    assert proc.returncode == 0, proc.stderr
    assert (media / "speech.srt").read_text(encoding="utf-8") == saved
    assert (media / "speech.vtt").exists()


def test_rerun_skips_and_overwrite_redoes(media: Path) -> None:
    assert run_cli(media / "speech.wav", "--format", "txt", *M).returncode == 0
    stamp = (media / "speech.txt").stat().st_mtime_ns
    again = run_cli(media / "speech.wav", "--format", "txt", "--report", media / "r.json", *M)
    assert again.returncode == 0
    assert (media / "speech.txt").stat().st_mtime_ns == stamp
    report = json.loads((media / "r.json").read_text())
    assert report["skipped"] == 1 and report["inputs"][0]["status"] == "skipped"
    redo = run_cli(media / "speech.wav", "--format", "txt", "--overwrite", *M)
    assert redo.returncode == 0
    assert (media / "speech.txt").stat().st_mtime_ns != stamp


def test_clip_keeps_the_source_timeline(media: Path) -> None:
    proc = run_cli(
        media / "long_speech.wav",
        "--start",
        "6",
        "--duration",
        "6",
        "--format",
        "json",
        "--word-timestamps",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((media / "long_speech.json").read_text())
    _check_invariants(result)
    assert result["clip_start"] == 6.0
    starts = [s["start"] for s in result["segments"]]
    ends = [s["end"] for s in result["segments"]]
    assert min(starts) >= 6.0 and max(ends) <= 12.0 + 1e-6


def test_python_m_is_the_same_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ffscribe.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("transcribe (ffscribe)")


def test_dry_run_plans_and_writes_nothing(media: Path) -> None:
    before = _files(media)
    proc = run_cli(media / "speech.wav", "--format", "srt,txt", "--dry-run", *M)
    assert proc.returncode == 0, proc.stderr
    assert "stage decode" in proc.stdout and "stage transcribe" in proc.stdout
    assert str(media / "speech.srt") in proc.stdout
    assert _files(media) == before


def test_help_imports_no_model_code() -> None:
    code = (
        "import sys; from ffscribe.cli.app import app; "
        "heavy = ('faster_whisper', 'torch', 'ctranslate2', 'numpy'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print(bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
    help_proc = run_cli("--help")
    assert help_proc.returncode == 0
    assert "--format" in help_proc.stdout and "Exit status" in help_proc.stdout


def test_media_fixtures_are_untouched() -> None:
    assert not any(p.suffix in (".srt", ".json", ".txt") for p in MEDIA.iterdir())
