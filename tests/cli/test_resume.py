"""A run killed with SIGKILL half way through a long input resumes from its finished parts,
and gives what an uninterrupted run gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from tests.conftest import MEDIA, TEST_MODEL, run_cli, transcribe_exe

ARGS = ("--model", TEST_MODEL, "--language", "en", "--jobs", "2", "-f", "json")


def long_input(dest: Path) -> Path:
    """82 s: 41 s of silence around one sentence, then the five sentences twice. Cut in two
    with two workers, the first part is quick to decode (the voice detector drops its
    silence) and the second is not, so a run can be killed between their ends."""
    with wave.open(str(MEDIA / "long_speech.wav"), "rb") as src:
        params = src.getparams()
        speech = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    rate = params.framerate
    quiet = np.zeros(20 * rate, dtype="<i2")
    first = speech[: int(3.5 * rate)]  # the first sentence
    samples = np.concatenate([quiet, first, quiet, speech, speech])
    with wave.open(str(dest), "wb") as out:
        out.setparams(params)
        out.writeframes(samples.tobytes())
    return dest


def segments(path: Path) -> list[tuple[float, float, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(s["start"], s["end"], s["text"]) for s in data["segments"]]


def test_a_killed_run_resumes_from_the_parts_it_finished(tmp_path: Path) -> None:
    source = long_input(tmp_path / "long.wav")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    sidecar = killed / ".long.ffscribe-parts.json"
    proc = subprocess.Popen(
        [transcribe_exe(), str(source), *ARGS, "-o", str(killed), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while not sidecar.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert sidecar.exists(), "no part finished before the run ended"
    kept = json.loads(sidecar.read_text(encoding="utf-8"))["parts"]
    assert not (killed / "long.json").exists() and len(kept) == 1

    again = run_cli(source, *ARGS, "-o", killed, "--verbose")
    assert again.returncode == 0, again.stderr
    assert "1 of 2 parts were done before" in again.stderr
    assert not sidecar.exists()  # gone with the outputs written
    fresh = run_cli(source, *ARGS, "-o", whole)
    assert fresh.returncode == 0, fresh.stderr
    assert "parts were done before" not in fresh.stderr
    resumed, expected = segments(killed / "long.json"), segments(whole / "long.json")
    assert len(expected) > 5 and resumed == expected
