"""PaddleX's serving call exactly as its documentation shows it (requests + base64), and
its error shape, against a real server."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from tests.cli.serve.conftest import API_KEY, Server
from tests.conftest import MEDIA
from tests.core.httpserver import LocalServer

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def media_server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_file("/speech.mp3", MEDIA / "speech.mp3")
        yield srv


def test_documented_call_with_base64(server: Server, cli_outputs: dict[str, str]) -> None:
    api_url = server.url + "/multilingual-speech-recognition"
    with (MEDIA / "speech.wav").open("rb") as file:
        audio_bytes = file.read()
        audio_data = base64.b64encode(audio_bytes).decode("ascii")
    payload = {"audio": audio_data}
    response = requests.post(api_url, json=payload, headers=AUTH, timeout=120)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"logId", "errorCode", "errorMsg", "result"}
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success"
    result = body["result"]
    assert set(result) == {"text", "segments", "language"}
    assert result["text"] == cli_outputs["txt"].strip()
    assert result["language"] == "en"
    assert set(result["segments"][0]) == {
        "id", "seek", "start", "end", "text", "tokens", "temperature",
        "avgLogProb", "compressionRatio", "noSpeechProb",
    }  # fmt: skip
    assert server.leftovers() == []


def test_url_is_fetched(server: Server, media_server: LocalServer) -> None:
    payload = {"audio": media_server.url("/speech.mp3")}
    response = requests.post(
        server.url + "/multilingual-speech-recognition", json=payload, headers=AUTH, timeout=120
    )
    assert response.status_code == 200, response.text
    assert "fox" in response.json()["result"]["text"].lower()


def test_a_path_under_an_allowed_directory(server: Server) -> None:
    payload = {"audio": str(MEDIA / "speech.flac")}
    response = requests.post(
        server.url + "/multilingual-speech-recognition", json=payload, headers=AUTH, timeout=120
    )
    assert response.status_code == 200, response.text
    assert "fox" in response.json()["result"]["text"].lower()
    assert (MEDIA / "speech.flac").is_file()  # the operator's file stays where it is


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"audio": "not base64 at all!"}, 400),
        ({"audio": base64.b64encode(b"plain text, not audio").decode()}, 400),
        ({"audio": "/etc/passwd"}, 403),
        ({"audio": str(MEDIA / ".." / "README.md")}, 403),  # out of the directory by ..
        ({"audio": "ftp://127.0.0.1/speech.mp3"}, 400),
        ({}, 400),
    ],
)
def test_errors_in_paddlex_shape(server: Server, payload: dict[str, str], status: int) -> None:
    response = requests.post(
        server.url + "/multilingual-speech-recognition", json=payload, headers=AUTH, timeout=60
    )
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"logId", "errorCode", "errorMsg"}
    assert body["errorCode"] == status and body["errorMsg"] and body["logId"]


def test_wrong_key_in_paddlex_shape(server: Server) -> None:
    response = requests.post(server.url + "/multilingual-speech-recognition", json={"audio": ""})
    body = response.json()
    assert response.status_code == 401 and body["errorCode"] == 401 and body["logId"]
