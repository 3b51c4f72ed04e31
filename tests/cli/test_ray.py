"""`transcribe --executor ray`: the batch contract over Ray actors, on one local Ray instance
with 2 CPUs started once for the module (the drivers under test join it by address)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MEDIA, TEST_MODEL, run_cli, transcribe_exe

ray = pytest.importorskip("ray")

from ffscribe.core.batch.contract import OutputOptions, run_batch  # noqa: E402
from ffscribe.core.batch.inputs import resolve  # noqa: E402
from ffscribe.core.batch.ray_executor import RayExecutor, RayOptions  # noqa: E402
from ffscribe.core.data.options import ModelOptions  # noqa: E402
from ffscribe.core.data.transcript import Transcript  # noqa: E402
from ffscribe.core.engine.pipeline import PipelineOptions  # noqa: E402
from ffscribe.formats import write  # noqa: E402

# speech in three containers and the 20 s file: each a different decode path, none long enough
# to be cut into parts, so a local run with two one-thread workers does what two actors do.
FILES = {"a.wav": "speech.wav", "b.mp3": "speech.mp3", "c.flac": "speech.flac"}
LONG = "long_speech.wav"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray instance (2 CPUs, no dashboard) in a short folder: Ray's socket paths
    must stay under ~107 bytes, which pytest's tmp paths exceed."""
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    context = ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder, log_to_driver=False)
    try:
        yield str(context.address_info["address"])
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for name, fixture in FILES.items():
        shutil.copy(MEDIA / fixture, folder / name)
    return folder


def _segments(path: Path) -> list[dict[str, Any]]:
    return [
        {k: s[k] for k in ("text", "start", "end", "avg_logprob")}
        for s in json.loads(path.read_text(encoding="utf-8"))["segments"]
    ]


def test_same_outputs_as_a_local_run_and_a_rerun_never_starts_ray(
    cluster: str, archive: Path, tmp_path: Path
) -> None:
    model = ("--model", TEST_MODEL, "--threads", "1")
    local = run_cli(archive, "-o", tmp_path / "local", *model, "--jobs", "2")
    assert local.returncode == 0, local.stderr
    report = tmp_path / "r.json"
    env = {"FFSCRIBE_EXECUTOR": "ray"}  # the environment's way of asking, covered here
    remote = run_cli(
        archive,
        "-o",
        tmp_path / "ray",
        *model,
        "--ray-address",
        cluster,
        "--report",
        report,
        env=env,
    )
    assert remote.returncode == 0, remote.stderr
    for name in FILES:
        stem = Path(name).stem
        ours, theirs = (
            _segments(tmp_path / "ray" / f"{stem}.json"),
            _segments(tmp_path / "local" / f"{stem}.json"),
        )
        # The same one-thread model on the same CPU, but Ray runs actors with one BLAS thread
        # (OMP_NUM_THREADS=1), so the features differ in their last bits and int8 activations
        # can round the other way: the text and the timestamps (0.02 s tokens) agree, the
        # log-probabilities within 0.05 (0.008 seen).
        assert [s["text"] for s in ours] == [s["text"] for s in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert a["start"] == pytest.approx(b["start"], abs=0.02), name
            assert a["end"] == pytest.approx(b["end"], abs=0.02), name
            assert a["avg_logprob"] == pytest.approx(b["avg_logprob"], abs=0.05), name
    results = json.loads(report.read_text(encoding="utf-8"))["inputs"]
    assert {r["status"] for r in results} == {"done"} and len(results) == len(FILES)
    assert all(r["node"] for r in results)  # each names the machine that ran it
    # A re-run over the done archive, pointed at a port where no Ray listens: it would fail
    # (exit 1 or 3) had it tried to start or join Ray; it skips everything instead.
    again = run_cli(
        archive, "-o", tmp_path / "ray", *model, "--ray-address", "127.0.0.1:9", "-v", env=env
    )
    assert again.returncode == 0, again.stderr
    assert f"0 done, {len(FILES)} skipped, 0 failed" in again.stderr


def test_an_actor_killed_mid_input_is_retried_and_the_input_done_once(
    cluster: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy(MEDIA / LONG, tmp_path / LONG)
    options = PipelineOptions(model=ModelOptions(name=TEST_MODEL))
    outputs = OutputOptions(output_dir=tmp_path / "out")
    executor = RayExecutor(options, RayOptions(actors=1, retries=1))
    items = resolve([str(tmp_path / LONG)])
    killed: list[str] = []

    def kill_when_busy() -> None:
        ends = time.monotonic() + 60
        while time.monotonic() < ends and not killed:
            for actor in list(executor.actors):
                if ray.get(actor.busy.remote()):  # inside the input: decoding or the model
                    ray.kill(actor)
                    killed.append(str(actor))
            time.sleep(0.05)

    def render(transcript: Transcript, fmt: str, stream: Any) -> None:
        write(transcript, fmt, stream)

    with caplog.at_level(logging.WARNING, logger="ffscribe.ray"), executor:
        executor.workers  # noqa: B018 - starts the actor, so the killer can find it
        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        report = run_batch(items, executor, render, outputs)
        killer.join()
    assert killed, "the actor was never seen busy"
    assert [r.status for r in report.results] == ["done"], report.results
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 1  # killed once, run once more: one output, written once
    text = " ".join(s["text"] for s in _segments(tmp_path / "out" / "long_speech.json"))
    assert all(word in text.lower() for word in ("morning", "umbrella", "elephant"))


def test_sigint_leaves_nothing_half_written(cluster: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        shutil.copy(MEDIA / LONG, src / f"long{i}.wav")
    out = tmp_path / "out"
    report = tmp_path / "r.json"
    args = ["-o", str(out), "--model", TEST_MODEL, "--executor", "ray", "--report", str(report)]
    proc = subprocess.Popen(
        [transcribe_exe(), str(src), *args, "--ray-address", cluster],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ends = time.monotonic() + 120
        while not (out.exists() and any(out.iterdir())):  # a lock: an input under way
            assert proc.poll() is None and time.monotonic() < ends, "no input ever started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    left = sorted(p.name for p in out.iterdir())
    assert all(name.endswith(".json") and not name.startswith(".") for name in left), left
    for name in left:  # whatever was finished is whole
        assert json.loads((out / name).read_text(encoding="utf-8"))["segments"]
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and summary["done"] == len(left) < 6


def test_without_ray_installed_the_run_names_the_install_command(
    archive: Path, tmp_path: Path
) -> None:
    """The one fake here: an import fault, the only way to lack ray where the tests run."""
    code = (
        "import sys; sys.modules['ray'] = None; "
        "from ffscribe.cli.app import main; sys.argv[0] = 'transcribe'; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(archive), "-o", str(tmp_path), "--executor", "ray"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FFSCRIBE_MODEL": TEST_MODEL},
    )
    assert done.returncode == 3, done.stderr
    assert "pip install 'ffscribe[ray]'" in done.stderr


def test_a_head_nobody_listens_at_fails_at_once(archive: Path, tmp_path: Path) -> None:
    done = run_cli(
        archive, "-o", tmp_path, "--model", TEST_MODEL, "--executor", "ray",
        "--ray-address", "127.0.0.1:9", timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "no Ray cluster answers at 127.0.0.1:9" in done.stderr
