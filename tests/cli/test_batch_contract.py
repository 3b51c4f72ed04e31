"""The batch contract for pipelines and cron: re-runs skip, concurrent runs share the work,
signals stop cleanly, directories and lists on stdin feed the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import TEST_MODEL, run_cli, transcribe_exe

M = ("--model", TEST_MODEL)


def _report(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.name.endswith((".part", "-lock"))]


def _archive(tmp_path: Path, media: Path, names: list[str]) -> Path:
    archive = tmp_path / "archive"
    (archive / "sub").mkdir(parents=True)
    for i, name in enumerate(names):
        target = archive / ("sub" if i % 2 else "") / f"ep{i}{Path(name).suffix}"
        target.write_bytes((media / name).read_bytes())
    (archive / "notes.txt").write_text("not media")
    return archive


def test_directory_rerun_and_changed_formats(media: Path, tmp_path: Path) -> None:
    archive = _archive(tmp_path, media, ["speech.mp3", "speech.ogg", "video.mp4"])
    out = tmp_path / "out"
    first = run_cli(archive, "-f", "txt", "-o", out, "--report", tmp_path / "r1.json", *M)
    assert first.returncode == 0, first.stderr
    assert _report(tmp_path / "r1.json")["done"] == 3
    # A model that cannot load proves the re-run never loads one.
    again = run_cli(
        archive,
        "-f",
        "txt",
        "-o",
        out,
        "--report",
        tmp_path / "r2.json",
        "--model",
        tmp_path / "no-model",
    )
    assert again.returncode == 0
    assert _report(tmp_path / "r2.json")["skipped"] == 3
    assert "0 done, 3 skipped, 0 failed" in again.stderr
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    more = run_cli(archive, "-f", "txt,srt", "-o", out, *M)
    assert more.returncode == 0, more.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.txt")} == stamps
    assert len(list(out.glob("*.srt"))) == 3


def test_list_on_stdin_newline_and_nul(media: Path, tmp_path: Path) -> None:
    listing = f"{media / 'speech.wav'}\n\n{media / 'video.mp4'}\n"
    proc = run_cli("-", "-f", "txt", "-o", tmp_path / "a", *M, stdin=listing)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["speech.txt", "video.txt"]
    nul = f"{media / 'speech.wav'}\0{media / 'video.mp4'}\0"
    proc = run_cli("-", "-0", "-f", "txt", "-o", tmp_path / "b", *M, stdin=nul)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "b").iterdir())) == 2


def test_media_bytes_on_stdin(media: Path, tmp_path: Path) -> None:
    with (media / "speech.mp3").open("rb") as fh:
        proc = subprocess.run(
            [transcribe_exe(), "pipe:", "--stdout", "-f", "txt", *M],
            stdin=fh,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stderr
    assert "fox" in proc.stdout.lower()


def test_two_concurrent_runs_do_each_input_once(media: Path, tmp_path: Path) -> None:
    names = ["speech.mp3", "speech.ogg", "video.mp4", "speech.flac", "speech.m4a", "speech.wav"]
    archive = _archive(tmp_path, media, names)
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [
                transcribe_exe(),
                str(archive),
                "-f",
                "json,txt",
                "-o",
                str(out),
                "--report",
                str(tmp_path / f"r{i}.json"),
                "--quiet",
                *M,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    reports = [_report(tmp_path / f"r{i}.json") for i in range(2)]
    done = [r["input"] for rep in reports for r in rep["inputs"] if r["status"] == "done"]  # type: ignore[attr-defined]
    assert sorted(done) == sorted(set(done)) and len(done) == len(names)
    for js in out.glob("*.json"):
        assert json.loads(js.read_text())["segments"]
    assert len(list(out.glob("*.txt"))) == len(names)
    assert not _leftovers(out)


def _long_audio(media: Path, tmp_path: Path) -> Path:
    """About fifteen minutes of speech, so a signal lands mid-transcription on a fast machine
    too (three minutes were done within the 4 s on a 2-core Xeon)."""
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{media / 'long_speech.wav'}'\n" for _ in range(45)))
    dest = tmp_path / "long.wav"
    from ffscribe.core.media.ffmpeg import find_ffmpeg

    subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            str(dest),
        ],
        check=True,
    )
    return dest


def _interrupt(media: Path, tmp_path: Path, signum: int) -> None:
    audio = _long_audio(media, tmp_path)
    proc = subprocess.Popen(
        [
            transcribe_exe(),
            str(audio),
            "-f",
            "json,srt",
            "--no-vad",
            *M,
            "--report",
            str(tmp_path.parent / f"{tmp_path.name}-report.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4.0)
    assert proc.poll() is None, "finished before the signal: make the audio longer"
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["list.txt", "long.wav", "media"], err  # stderr says where it stopped
    assert "interrupted" in err
    report = _report(tmp_path.parent / f"{tmp_path.name}-report.json")
    assert report["interrupted"] is True and report["exit_code"] == 130


def test_ctrl_c_leaves_nothing_half_written(media: Path, tmp_path: Path) -> None:
    _interrupt(media, tmp_path, signal.SIGINT)


def test_sigterm_stops_the_same_way(media: Path, tmp_path: Path) -> None:
    _interrupt(media, tmp_path, signal.SIGTERM)


def test_dry_run_lists_a_directory(media: Path, tmp_path: Path) -> None:
    archive = _archive(tmp_path, media, ["speech.mp3", "video.mp4"])
    proc = run_cli(archive, "-f", "srt", "--dry-run", *M)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("stage ")]
    assert len(lines) == 2 and all(".srt" in ln for ln in lines)
    assert not list(archive.rglob("*.srt"))


def test_the_report_keeps_names_readable(media: Path, tmp_path: Path) -> None:
    named = media / "café.wav"
    (media / "speech.wav").rename(named)
    proc = run_cli(named, "-f", "txt", "--report", tmp_path / "r.json", *M)
    assert proc.returncode == 0, proc.stderr
    raw = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert "café.wav" in raw and "\\u00e9" not in raw
