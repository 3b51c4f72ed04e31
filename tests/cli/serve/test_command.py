"""`transcribe serve` beside `transcribe FILE`: its options documented, the subcommand word
never taking a file's place, and a missing model failing before the port opens."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import typer

from ffscribe.cli.serve.command import app
from tests.conftest import MEDIA, TEST_MODEL, run_cli

MAN = Path(__file__).resolve().parents[3] / "man" / "transcribe.1"


def test_every_serve_option_is_in_the_man_page_and_help() -> None:
    command = typer.main.get_command(app)
    flags = {
        opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")
    }
    assert {"--host", "--port", "--api-key", "--max-upload", "--max-queue"} <= flags
    man = MAN.read_text(encoding="utf-8").replace("\\-", "-")
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", man))
    assert not missing, f"serve options missing from man/transcribe.1: {missing}"
    help_text = run_cli("serve", "--help", env={"COLUMNS": "200"}).stdout
    assert all(f in help_text for f in flags - {"--help"})


def test_a_file_named_serve_is_transcribed_as_dot_slash_serve(tmp_path: Path) -> None:
    shutil.copy(MEDIA / "speech.wav", tmp_path / "serve")
    proc = run_cli("./serve", "--model", TEST_MODEL, "-f", "txt", "--stdout", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "fox" in proc.stdout.lower()


def test_an_unknown_model_exits_3_before_listening(tmp_path: Path) -> None:
    proc = run_cli("serve", "--model", str(tmp_path / "no-such-model"), "--port", "0")
    assert proc.returncode == 3, proc.stderr
    assert "no model directory" in proc.stderr


def test_main_help_points_to_serve() -> None:
    assert "transcribe serve" in run_cli("--help", env={"COLUMNS": "200"}).stdout
