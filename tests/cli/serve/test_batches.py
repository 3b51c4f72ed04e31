"""DashScope-style batches against a real server: URLs in, each file's state and result URL
out, a bad file failing alone, and batches that survive a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.serve.conftest import Server, start
from tests.conftest import MEDIA
from tests.core.httpserver import LocalServer

WAIT_SECONDS = 300.0


@pytest.fixture(scope="module")
def media_server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_file("/speech.mp3", MEDIA / "speech.mp3")
        srv.add_file("/long.wav", MEDIA / "long_speech.wav")
        yield srv


def _wait_done(server: Server, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        output: dict[str, Any] = httpx.get(f"{server.v1}/batches/{task_id}").json()["output"]
        if output["task_status"] in ("SUCCEEDED", "FAILED"):
            return output
        time.sleep(0.3)
    raise AssertionError("the batch never finished")


def test_batch_results_and_a_bad_file(tmp_path: Path, media_server: LocalServer) -> None:
    server = start(tmp_path)
    try:
        urls = [media_server.url("/speech.mp3"), media_server.url("/gone.mp3")]
        answer = httpx.post(
            f"{server.v1}/batches", json={"model": "whisper-1", "input": {"file_urls": urls}}
        )
        assert answer.status_code == 200, answer.text
        task_id = answer.json()["output"]["task_id"]
        output = _wait_done(server, task_id)
        good, bad = output["results"]
        assert output["task_status"] == "SUCCEEDED"
        assert output["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}
        assert good["subtask_status"] == "SUCCEEDED" and good["file_url"] == urls[0]
        assert bad["subtask_status"] == "FAILED" and bad["message"]
        result = httpx.get(good["transcription_url"]).json()
        assert "fox" in result["text"].lower()
        assert "-->" in httpx.get(good["transcription_url"], params={"format": "srt"}).text
        refused = httpx.post(
            f"{server.v1}/batches", json={"input": {"file_urls": ["file:///etc/passwd"]}}
        )
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "file_urls"
        assert httpx.get(f"{server.v1}/batches/{'0' * 32}").status_code == 404
        assert server.leftovers() == []
    finally:
        assert server.stop() == 0


def test_a_batch_survives_a_restart(tmp_path: Path, media_server: LocalServer) -> None:
    server = start(tmp_path, "--jobs", "1", "--shutdown-grace", "0")
    urls = [media_server.url("/long.wav"), media_server.url("/speech.mp3")]
    task_id = httpx.post(f"{server.v1}/batches", json={"input": {"file_urls": urls}}).json()[
        "output"
    ]["task_id"]
    assert server.stop() == 0  # at once: the batch is at most part done
    server = start(tmp_path)
    try:
        output = _wait_done(server, task_id)
        assert output["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
        texts = [
            httpx.get(r["transcription_url"]).json()["text"].lower() for r in output["results"]
        ]
        assert "elephant" in texts[0] and "fox" in texts[1]
    finally:
        assert server.stop() == 0
    server = start(tmp_path)  # and the finished batch is still there after another restart
    try:
        assert (
            httpx.get(f"{server.v1}/batches/{task_id}").json()["output"]["task_status"]
            == "SUCCEEDED"
        )
    finally:
        assert server.stop() == 0
