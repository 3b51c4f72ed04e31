"""Errors the pipeline raises on purpose, each carrying the exit status the CLI should use."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of `transcribe` (DESIGN.md, "Outputs and the batch contract")."""

    OK = 0  # every input done or skipped
    FAILED = 1  # one or more inputs failed
    USAGE = 2  # bad options or arguments
    ENVIRONMENT = 3  # ffmpeg, a model offline or an optional extra is missing
    INTERRUPTED = 130  # Ctrl-C (SIGINT)


class TranscribeError(Exception):
    """Root of every expected failure; `message` says what went wrong and how to fix it."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, path: str | None = None, stage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.stage = stage

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(TranscribeError):
    """An input cannot be read as media: missing, empty, not media, no audio, bad track."""


class MediaError(TranscribeError):
    """ffmpeg failed on an input it could open (truncated data, a clip past the end)."""


class OutputError(TranscribeError):
    """An output cannot be written (permissions, a full disk, a missing directory)."""


class UsageError(TranscribeError):
    """Options that contradict each other or name something that does not exist."""

    exit_code = ExitCode.USAGE


class EnvironmentMissing(TranscribeError):
    """Something the machine lacks: ffmpeg, a model offline, an optional extra."""

    exit_code = ExitCode.ENVIRONMENT


class ModelError(EnvironmentMissing):
    """A model cannot be had: unknown offline, a corrupt pack, a checksum mismatch."""


class Cancelled(KeyboardInterrupt):
    """Raised inside a worker when the run is stopped, to abandon its input (a download, a
    transcription) at the next point that checks."""


def internal_error(exc: BaseException) -> str:
    """How a bug is reported: one line, with its type; the traceback is for --debug."""
    return f"internal error (a bug in ffscribe, rerun with --debug): {type(exc).__name__}: {exc}"
