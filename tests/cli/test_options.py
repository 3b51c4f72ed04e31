"""Options end to end: clipping, track choice, subtitle shaping, progress, the man page."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import threading
from pathlib import Path

import srt
import typer.main

from ffscribe.cli.app import app
from tests.conftest import TEST_MODEL, run_cli, transcribe_exe

M = ("--model", TEST_MODEL)
MAN = Path(__file__).resolve().parents[2] / "man" / "transcribe.1"


def _json(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_start_and_duration_cut_the_right_sentence(media: Path) -> None:
    # long_speech.wav: "Please remember ... umbrella tomorrow." is 12.22-15.3 s;
    # "Finally, the purple elephant ..." starts at 16.13 s.
    proc = run_cli(
        media / "long_speech.wav",
        "--start",
        "12",
        "--duration",
        "4",
        "-f",
        "json",
        "--word-timestamps",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    result = _json(media / "long_speech.json")
    text = str(result["text"]).lower()
    assert "umbrella" in text and "elephant" not in text and "paris" not in text
    words = [w for s in result["segments"] for w in s["words"]]  # type: ignore[attr-defined]
    umbrella = next(w for w in words if "umbrella" in w["word"].lower())
    assert abs(umbrella["start"] - 13.86) < 0.5  # on the file's own timeline


def test_audio_track_picks_the_track(media: Path) -> None:
    zero = run_cli(media / "two_tracks.mkv", "--audio-track", "0", "-f", "txt", "--stdout", *M)
    one = run_cli(media / "two_tracks.mkv", "--audio-track", "1", "-f", "txt", "--stdout", *M)
    assert zero.returncode == one.returncode == 0, zero.stderr + one.stderr
    assert "window" in zero.stdout.lower() and "fox" not in zero.stdout.lower()
    assert "fox" in one.stdout.lower() and "window" not in one.stdout.lower()


def test_normalize_runs(media: Path) -> None:
    proc = run_cli(media / "speech.m4a", "--normalize", "-f", "txt", "--stdout", *M)
    assert proc.returncode == 0, proc.stderr
    assert "fox" in proc.stdout.lower()


def test_silence_gives_no_text(media: Path) -> None:
    proc = run_cli(media / "silence.wav", "-f", "json", *M)
    assert proc.returncode == 0, proc.stderr
    assert _json(media / "silence.json")["text"] == ""


def test_subtitles_shaped_for_reading(media: Path) -> None:
    proc = run_cli(
        media / "speech.wav",
        "-f",
        "srt",
        "--stdout",
        "--max-line-width",
        "16",
        "--max-line-count",
        "1",
        *M,
    )
    assert proc.returncode == 0, proc.stderr
    cues = list(srt.parse(proc.stdout))
    assert len(cues) >= 4
    assert all(len(c.content) <= 16 or " " not in c.content for c in cues)
    highlighted = run_cli(media / "speech.wav", "-f", "vtt", "--stdout", "--highlight-words", *M)
    assert highlighted.returncode == 0
    assert highlighted.stdout.startswith("WEBVTT") and "<u>" in highlighted.stdout


def test_missing_ffmpeg_exits_3(media: Path) -> None:
    proc = run_cli(
        media / "speech.wav", "-f", "txt", *M, env={"FFSCRIBE_FFMPEG": str(media / "no-ffmpeg")}
    )
    assert proc.returncode == 3
    assert "ffmpeg" in proc.stderr.lower()


def test_no_cuda_exits_3_naming_the_fix(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--device", "cuda:0", "-f", "txt", *M)
    assert proc.returncode == 3
    assert "--device cpu" in proc.stderr


def test_progress_bar_only_on_a_terminal(media: Path) -> None:
    plain = run_cli(media / "long_speech.wav", "-f", "txt", *M)
    assert plain.returncode == 0
    assert "\x1b[" not in plain.stderr and "━" not in plain.stderr
    (media / "long_speech.txt").unlink()
    leader, follower = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        # Read while the child runs: a pty holds a few KiB, and a bar redrawn for longer than
        # that (a loaded machine) would block the child's writes until the timeout.
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [transcribe_exe(), str(media / "long_speech.wav"), "-f", "txt", *M],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            timeout=300,
            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
        )
        os.close(follower)
        reader.join(timeout=30)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert "━" in bytes(seen).decode("utf-8", "replace")


def test_every_option_is_in_the_man_page() -> None:
    command = typer.main.get_command(app)
    flags = {
        opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")
    }
    assert len(flags) > 30
    man = MAN.read_text(encoding="utf-8").replace("\\-", "-")
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", man))
    assert not missing, f"options missing from man/transcribe.1: {missing}"
    help_text = run_cli("--help", env={"COLUMNS": "200"}).stdout
    assert all(f in help_text for f in flags - {"--help"})
