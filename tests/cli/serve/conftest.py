"""A real `transcribe serve` process on 127.0.0.1 for the service's tests: started on a free
port with the tiny.en model, waited for on /health, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import MEDIA, TEST_MODEL, run_cli, transcribe_exe

API_KEY = "test-key-15"
BATCH_RETENTION = 3.0  # the multilingual server's: long enough to read a result first
START_SECONDS = 120.0  # a cold start on a loaded 2-core machine loads the model slowly


@dataclass
class Server:
    """A running server: its process, its base URL, and the folder it keeps temporary files in."""

    proc: subprocess.Popen[bytes]
    url: str
    tmp: Path
    log: Path
    baseline: frozenset[str] = frozenset()  # what libraries put there at start (a session file)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def leftovers(self) -> list[str]:
        """What the server left in its temporary folder (uploads, scratch folders)."""
        return sorted(p.name for p in self.tmp.iterdir() if p.name not in self.baseline)

    def rss_kib(self) -> int:
        """The server's resident memory, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(root: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Start `transcribe serve --model tiny.en ARGS` and return once /health says ready."""
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    port = free_port()
    proc = subprocess.Popen(
        [transcribe_exe(), "serve", "--model", TEST_MODEL, "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={
            **os.environ,
            "TMPDIR": str(tmp),
            "FFSCRIBE_DATA_DIR": str(root / "data"),
            **(env or {}),
        },
    )
    server = Server(proc, f"http://127.0.0.1:{port}", tmp, log)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                server.baseline = frozenset(p.name for p in tmp.iterdir())
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"the server did not get ready: {log.read_text()}")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server: the key from the environment, a 1 MiB upload cap, and the fixture
    media as the one directory PaddleX requests may name by path."""
    root = tmp_path_factory.mktemp("serve")
    srv = start(
        root, "--max-upload", "1M", "--allow-path", str(MEDIA), env={"FFSCRIBE_API_KEY": API_KEY}
    )
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


@pytest.fixture(scope="package")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the multilingual base model (translations), one worker (a long input is
    decoded in one piece, window by window), debug logs (what a stream sent when), and
    finished batches kept for BATCH_RETENTION seconds."""
    root = tmp_path_factory.mktemp("base")
    srv = start(
        root,
        *("--model", "base", "--jobs", "1", "--debug"),
        *("--batch-retention", str(BATCH_RETENTION)),
    )
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


@pytest.fixture(scope="package")
def cli_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What `transcribe speech.wav --model tiny.en` writes, per format: the service must
    answer the same for the same file and options."""
    out = tmp_path_factory.mktemp("cli")
    proc = run_cli(MEDIA / "speech.wav", "--model", TEST_MODEL, "-f", "txt,srt,vtt", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return {
        fmt: (out / f"speech.{fmt}").read_text(encoding="utf-8") for fmt in ("txt", "srt", "vtt")
    }
