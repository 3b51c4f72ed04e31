"""A request's options are the CLI's for the same values: both front ends derive them by
cli/to_core's rules, parsed here by the real commands (no model is loaded)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from typer.testing import CliRunner

from ffscribe.cli import app as cli_app
from ffscribe.cli.serve import command
from ffscribe.cli.serve.service import Limits, Request, Service
from ffscribe.core.data.errors import ExitCode, UsageError
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from tests.conftest import MEDIA

DECODING = ["--task", "translate", "--language", "de", "--initial-prompt", "Namen"]
DECODING += ["--temperature", "0.4"]
SERVER_FLAGS = ["--diarizer", "offline", "--music-threshold", "0.7", "--beam-size", "3"]


class _Built(Exception):
    """The command built its Pipeline: stop before it runs anything."""


def cli_options(monkeypatch: pytest.MonkeyPatch, *args: str) -> PipelineOptions:
    """The options `transcribe speech.wav ARGS` runs with."""
    built: list[PipelineOptions] = []

    def pipeline(options: PipelineOptions) -> Pipeline:
        built.append(options)
        raise _Built

    monkeypatch.setattr(cli_app, "Pipeline", pipeline)
    result = CliRunner().invoke(cli_app.app, [str(MEDIA / "speech.wav"), *args])
    assert isinstance(result.exception, _Built), result.output
    return Pipeline(built[0]).options  # with what the options imply, as a run sees them


def service(monkeypatch: pytest.MonkeyPatch, *args: str) -> Service:
    """The Service `transcribe serve ARGS` would start (not started: no model loads)."""
    made: list[Service] = []

    def run(pipeline: Pipeline, limits: Any, where: Any, given: Any, **_: Any) -> ExitCode:
        made.append(Service(pipeline, limits, served_name="x", given=given))
        return ExitCode.OK

    monkeypatch.setattr(command, "_run", run)
    result = CliRunner().invoke(command.app, ["--quiet", *args])
    assert result.exit_code == 0, result.output
    return made[0]


@pytest.mark.parametrize(
    ("asked", "flags"),
    [
        (Request(), []),
        (Request(diarize=True), ["--diarize"]),
        (Request(speakers=2), ["--speakers", "2"]),  # a count asks for speakers
        (Request(min_speakers=2, max_speakers=3), ["--min-speakers", "2", "--max-speakers", "3"]),
        (Request(detect_music=True), ["--detect-music"]),
        (Request(skip_music=True), ["--skip-music"]),  # needs the music found
        (
            Request(task="translate", language="de", prompt="Namen", temperature=0.4),
            DECODING,
        ),
        (Request(word_timestamps=True), ["--word-timestamps"]),
    ],
)
def test_a_request_gets_the_options_the_cli_gives_the_same_values(
    monkeypatch: pytest.MonkeyPatch, asked: Request, flags: list[str]
) -> None:
    # The server's own values (a backend, a threshold) hold for what a request turns on.
    served = service(monkeypatch, *SERVER_FLAGS).options(asked)
    expected = cli_options(monkeypatch, *SERVER_FLAGS, *flags)
    assert served.clip.duration == Limits().max_duration  # a stream is cut there
    # As the run sees them: it adds what options imply (word times for speakers) to both.
    assert Pipeline(replace(served, clip=expected.clip)).options == expected


def test_contradicting_counts_are_refused_by_both(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="min-speakers 3 is more than"):
        service(monkeypatch).options(Request(min_speakers=3, max_speakers=2))
    result = CliRunner().invoke(
        cli_app.app, [str(MEDIA / "speech.wav"), "--min-speakers", "3", "--max-speakers", "2"]
    )
    assert result.exit_code == ExitCode.USAGE and "is more than" in result.output


def test_the_served_defaults_are_the_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    served = service(monkeypatch, *SERVER_FLAGS, "--diarize", "--skip-music")
    expected = cli_options(monkeypatch, *SERVER_FLAGS, "--diarize", "--skip-music")
    assert served.pipeline.options == expected
