"""The server under stress and at its end: a bounded load answered correctly or with 429,
SIGTERM letting a running request finish (or cancelling it past the grace period), and no
upload left on disk either way."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.cli.serve.conftest import Server, start
from tests.conftest import MEDIA

SPEECH = MEDIA / "speech.wav"
LONG = MEDIA / "long_speech.wav"
MEMORY_SLACK_KIB = 64 * 1024  # allocator and thread-stack noise, far below 20 uploads' worth


def _post(server: Server, path: Path, results: list[object]) -> None:
    client = openai.OpenAI(base_url=server.v1, api_key="none", max_retries=0, timeout=300)
    try:
        with path.open("rb") as fh:
            results.append(client.audio.transcriptions.create(file=fh, model="whisper-1"))
    except (openai.APIError, httpx.HTTPError) as exc:
        results.append(exc)


def _wait_for_upload(server: Server) -> None:
    """Until a request's upload is on disk, so SIGTERM finds it running (no time assumed)."""
    deadline = time.monotonic() + 120
    while not any(n.startswith("ffscribe-") for n in server.leftovers()):
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.05)


def test_bounded_load(tmp_path: Path) -> None:
    server = start(tmp_path, "--jobs", "1", "--max-queue", "1", "--max-duration", "10")
    try:
        clients = [
            openai.OpenAI(base_url=server.v1, api_key="none", max_retries=0, timeout=300)
            for _ in range(4)
        ]

        def one(i: int) -> object:
            try:
                with SPEECH.open("rb") as fh:
                    return clients[i % 4].audio.transcriptions.create(file=fh, model="whisper-1")
            except openai.RateLimitError as exc:
                return exc

        one(0)  # warm: the first request allocates the model's buffers
        before = server.rss_kib()
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(one, range(20)))
        done = [a for a in answers if isinstance(a, openai.types.audio.Transcription)]
        refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
        assert len(done) + len(refused) == 20
        assert done and all("fox" in a.text.lower() for a in done)
        for exc in refused:
            assert exc.status_code == 429
            assert int(exc.response.headers["retry-after"]) >= 1
            assert exc.body["code"] == "queue_full"  # type: ignore[index]
        assert server.leftovers() == []
        assert server.rss_kib() <= before + MEMORY_SLACK_KIB
        with LONG.open("rb") as fh, pytest.raises(openai.APIStatusError) as caught:
            clients[0].audio.transcriptions.create(file=fh, model="whisper-1")
        assert caught.value.status_code == 413  # 19.6 s of media, over --max-duration 10
        assert caught.value.body["code"] == "audio_too_long"  # type: ignore[index]
    finally:
        assert server.stop() == 0


def test_sigterm_lets_a_running_request_finish(tmp_path: Path) -> None:
    server = start(tmp_path, "--jobs", "1", "--shutdown-grace", "300")
    results: list[object] = []
    client = threading.Thread(target=_post, args=(server, LONG, results))
    client.start()
    _wait_for_upload(server)
    code = server.stop()
    client.join()
    assert code == 0, server.log.read_text()
    assert isinstance(results[0], openai.types.audio.Transcription), results
    assert "elephant" in results[0].text.lower()  # the last sentence: the whole input ran
    assert server.leftovers() == []
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/health")


def test_sigterm_past_the_grace_cancels_and_cleans_up(tmp_path: Path) -> None:
    server = start(tmp_path, "--jobs", "1", "--shutdown-grace", "0")
    results: list[object] = []
    client = threading.Thread(target=_post, args=(server, LONG, results))
    client.start()
    _wait_for_upload(server)
    code = server.stop()
    client.join()
    assert code == 0, server.log.read_text()
    assert server.leftovers() == []
