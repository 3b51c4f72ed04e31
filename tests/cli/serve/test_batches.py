"""DashScope-style batches against a real server: URLs in, each file's state and result URL
out, a bad file failing alone, and batches that survive a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.serve.conftest import API_KEY, Server, start
from tests.conftest import MEDIA
from tests.core.httpserver import LocalServer

WAIT_SECONDS = 300.0
AUTH = {"Authorization": f"Bearer {API_KEY}"}  # the shared server's; others take any


@pytest.fixture(scope="module")
def media_server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_file("/speech.mp3", MEDIA / "speech.mp3")
        srv.add_file("/long.wav", MEDIA / "long_speech.wav")
        yield srv


def _wait_done(server: Server, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.v1}/batches/{task_id}", headers=AUTH)
        output: dict[str, Any] = answer.json()["output"]
        if output["task_status"] in ("SUCCEEDED", "FAILED"):
            return output
        time.sleep(0.3)
    raise AssertionError("the batch never finished")


def test_batch_results_and_a_bad_file(server: Server, media_server: LocalServer) -> None:
    urls = [media_server.url("/speech.mp3"), media_server.url("/gone.mp3")]
    body = {"model": "whisper-1", "input": {"file_urls": urls}}
    answer = httpx.post(f"{server.v1}/batches", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["output"]["task_id"]
    output = _wait_done(server, task_id)
    good, bad = output["results"]
    assert output["task_status"] == "SUCCEEDED"
    assert output["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}
    assert good["subtask_status"] == "SUCCEEDED" and good["file_url"] == urls[0]
    assert bad["subtask_status"] == "FAILED" and bad["message"]
    result = httpx.get(good["transcription_url"], headers=AUTH).json()
    assert "fox" in result["text"].lower()
    srt = httpx.get(good["transcription_url"], params={"format": "srt"}, headers=AUTH)
    assert "-->" in srt.text
    body = {"input": {"file_urls": ["file:///etc/passwd"]}}
    refused = httpx.post(f"{server.v1}/batches", json=body, headers=AUTH)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "file_urls"
    assert httpx.get(f"{server.v1}/batches/{'0' * 32}", headers=AUTH).status_code == 404
    assert httpx.get(f"{server.v1}/batches/{task_id}").status_code == 401


def test_batches_survive_a_restart(tmp_path: Path, media_server: LocalServer) -> None:
    server = start(tmp_path, "--jobs", "1", "--shutdown-grace", "0")
    done = _submit(server, [media_server.url("/speech.mp3")])
    _wait_done(server, done)
    cut = _submit(server, [media_server.url("/long.wav"), media_server.url("/speech.mp3")])
    assert server.stop() == 0  # at once: the second batch is at most part done
    server = start(tmp_path)
    try:
        status = httpx.get(f"{server.v1}/batches/{done}").json()["output"]
        assert status["task_status"] == "SUCCEEDED"  # a finished batch is still there
        output = _wait_done(server, cut)  # and the cut one is run again to the end
        assert output["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
        texts = [
            httpx.get(r["transcription_url"]).json()["text"].lower() for r in output["results"]
        ]
        assert "elephant" in texts[0] and "fox" in texts[1]
        assert server.leftovers() == []
    finally:
        assert server.stop() == 0


def _submit(server: Server, urls: list[str]) -> str:
    answer = httpx.post(f"{server.v1}/batches", json={"input": {"file_urls": urls}})
    assert answer.status_code == 200, answer.text
    task_id: str = answer.json()["output"]["task_id"]
    return task_id
