"""`WS /v1/live` with a real WebSocket client (websocket-client) against the real server:
PCM frames and a container stream in, partial / segment / done events out, and its errors."""

from __future__ import annotations

import itertools
import json
import struct
import time
import wave
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.cli.serve.conftest import API_KEY, Server
from tests.conftest import MEDIA

FRAME = 3200  # bytes: 100 ms of 16 kHz s16le, as a browser or `arecord` sends it


def _connect(server: Server, query: str = "", key: str | None = API_KEY) -> websocket.WebSocket:
    url = server.url.replace("http://", "ws://") + "/v1/live" + query
    header = [f"Authorization: Bearer {key}"] if key else []
    return websocket.create_connection(url, header=header, timeout=300)


def _events(ws: websocket.WebSocket) -> tuple[list[dict[str, Any]], int]:
    """Every JSON event up to the server's close, and the close code."""
    events: list[dict[str, Any]] = []
    while True:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return events, struct.unpack("!H", frame.data[:2])[0]
        if opcode == websocket.ABNF.OPCODE_TEXT:
            events.append(json.loads(frame.data))


def _pcm(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def _port(ws: websocket.WebSocket) -> int:
    """The client's port, which names the connection in the server's access log."""
    assert ws.sock is not None
    return int(ws.sock.getsockname()[1])


def _access(server: Server, port: int) -> dict[str, Any]:
    """The server's access-log line for the connection from `port`, waited for: the server
    writes it once the connection is over."""
    client = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in server.log.read_text().splitlines():
            if line.startswith("{") and json.loads(line)["client"] == client:
                return dict(json.loads(line))
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {client}: {server.log.read_text()}")


def test_pcm_frames_in_partials_segments_and_done_out(server: Server) -> None:
    ws = _connect(server, "?language=en")
    assert json.loads(ws.recv())["type"] == "ready"
    audio = _pcm(MEDIA / "speech.wav")
    for at in range(0, len(audio), FRAME):
        ws.send_binary(audio[at : at + FRAME])
    ws.send(json.dumps({"type": "end"}))
    port = _port(ws)
    events, code = _events(ws)
    logged = _access(server, port)
    assert logged["method"] == "WEBSOCKET" and logged["path"] == "/v1/live"
    assert (logged["status"], logged["close_code"], logged["closed_by"]) == (101, 1000, "server")
    assert logged["audio_seconds"] == round(len(audio) / 32000, 3) and logged["seconds"] > 0
    assert logged["bytes_in"] == len(audio) + len(json.dumps({"type": "end"}))
    kinds = [e["type"] for e in events]
    assert code == 1000 and kinds[-1] == "done" and "partial" in kinds, kinds
    done = events[-1]
    segments = [e for e in events if e["type"] == "segment"]
    assert segments == [{"type": "segment", **s} for s in done["segments"]] and segments
    assert "".join(s["text"] for s in segments).strip() == done["text"]
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(segments))
    text = done["text"].lower()
    # Greedy, VAD-cut decoding of espeak's voice: these come back every time, the rest varies
    # ("the quick round-foc-stump, silver mule in dog, the low-world, this is a test.").
    assert all(word in text for word in ("quick", "world", "test")), text
    assert 5.7 < done["duration"] < 5.8 and done["language"] == "en"
    assert segments[0]["start"] < 0.5 and 5.0 < segments[-1]["end"] <= done["duration"]


def test_a_container_stream_in(server: Server) -> None:
    ws = _connect(server, "?format=container&window=15")  # the shorter encoder read, too
    assert json.loads(ws.recv())["type"] == "ready"
    data = (MEDIA / "truncated.mp3").read_bytes()  # 2.85 s: "the quick brown fox jumped..."
    for at in range(0, len(data), 1000):
        ws.send_binary(data[at : at + 1000])
    ws.send(json.dumps({"type": "end"}))
    events, code = _events(ws)
    assert code == 1000 and events[-1]["type"] == "done"
    assert "quick" in events[-1]["text"].lower(), events[-1]["text"]


@pytest.mark.parametrize(
    ("query", "key", "status", "code"),
    [
        ("", "wrong", "authentication_error", 1008),
        ("?format=flac", API_KEY, "invalid_request_error", 1003),
        ("?window=5", API_KEY, "invalid_request_error", 1003),
    ],
)
def test_refusals_are_an_error_event_and_a_close_code(
    server: Server, query: str, key: str, status: str, code: int
) -> None:
    ws = _connect(server, query, key)
    port = _port(ws)
    events, closed = _events(ws)
    assert [e["type"] for e in events] == ["error"] and closed == code
    logged = _access(server, port)  # refused after the handshake: logged with its close code
    assert (logged["close_code"], logged["audio_seconds"]) == (code, 0.0)
    assert events[0]["error"]["type"] == status and events[0]["error"]["message"]


def test_a_stream_that_is_not_media_is_an_invalid_audio_error(server: Server) -> None:
    ws = _connect(server, "?format=container")
    assert json.loads(ws.recv())["type"] == "ready"
    ws.send_binary((MEDIA / "not_media.mp3").read_bytes())
    ws.send(json.dumps({"type": "end"}))
    events, closed = _events(ws)
    assert events[-1]["type"] == "error" and closed == 1003
    assert events[-1]["error"]["code"] == "invalid_audio"


def test_a_client_that_leaves_is_logged_with_its_close_code(server: Server) -> None:
    ws = _connect(server, "?language=en")
    assert json.loads(ws.recv())["type"] == "ready"
    ws.send_binary(_pcm(MEDIA / "speech.wav")[: 10 * FRAME])  # one second, before the close
    port = _port(ws)
    ws.close(status=4000)  # a code of the application's range: the server's log names it
    logged = _access(server, port)
    assert (logged["close_code"], logged["closed_by"]) == (4000, "client")
    assert logged["audio_seconds"] == 1.0
