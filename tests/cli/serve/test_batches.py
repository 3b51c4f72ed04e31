"""DashScope-style batches against a real server: URLs in, each file's state and result URL
out, a bad file failing alone, and batches that survive a restart."""

from __future__ import annotations

import os
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
        assert answer.status_code == 200, answer.text
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


def test_finished_batches_are_removed_after_the_retention(
    multilingual: Server, media_server: LocalServer
) -> None:
    """The multilingual server keeps a finished batch a few seconds (BATCH_RETENTION), then
    the batch and its folder are gone (404). A file that fails (no model work) ends it."""
    task_id = _submit(multilingual, [media_server.url("/gone.mp3")])
    assert _wait_done(multilingual, task_id)["task_status"] == "FAILED"
    folder = multilingual.tmp.parent / "data" / "batches" / task_id
    assert folder.is_dir()
    deadline = time.monotonic() + WAIT_SECONDS
    while httpx.get(f"{multilingual.v1}/batches/{task_id}").status_code == 200:
        assert time.monotonic() < deadline, "the batch was never removed"
        time.sleep(0.3)
    assert httpx.get(f"{multilingual.v1}/batches/{task_id}").status_code == 404
    assert not folder.exists() and f"removed batch {task_id}" in multilingual.log.read_text()


def test_only_batches_finished_past_the_retention_are_removed(tmp_path: Path) -> None:
    """A batch's age counts from its last outcome; a batch with a file still to run is kept
    however old; a removal cut short by a kill is finished at the next sweep."""
    from ffscribe.cli.serve.batches import BatchStore
    from ffscribe.cli.serve.errors import ApiError

    store = BatchStore(tmp_path)
    old, recent, running = (store.create(["https://a/1", "https://a/2"], {}) for _ in range(3))
    now = time.time()
    for task_id, ended in ((old, now - 100), (recent, now - 100), (running, now - 100)):
        store.save_failure(task_id, 0, ApiError(400, "bad"))
        os.utime(tmp_path / task_id / "0.error.json", (ended, ended))
    for task_id, ended in ((old, now - 61), (recent, now - 59)):
        store.result(task_id, 1).write_text("{}")
        os.utime(store.result(task_id, 1), (ended, ended))
    (tmp_path / ".removing-cut").mkdir()
    assert store.remove_expired(60.0, now) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recent, running])
    assert store.remove_expired(0.0, now + 10**6) == []  # 0: kept for ever
    assert store.remove_expired(60.0, now + 10**6) == [recent]  # `running` has no end
