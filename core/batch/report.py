"""What happened to each input of a run, as the report (`--report FILE`) and the exit
status say it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ffscribe.core.data.errors import ExitCode

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class InputResult:
    """The outcome of one input, as it goes into the report."""

    input: str
    status: Status
    reason: str | None = None
    outputs: tuple[str, ...] = ()
    seconds: float = 0.0
    audio_seconds: float | None = None
    warnings: tuple[str, ...] = ()  # told, not failed: a truncated input
    node: str | None = None  # the machine that ran it, on a cluster (--executor ray)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status,
            "reason": self.reason,
            "outputs": list(self.outputs),
            "seconds": round(self.seconds, 3),
            "audio_seconds": self.audio_seconds,
            "warnings": list(self.warnings),
            "node": self.node,
        }


@dataclass
class Report:
    """What happened to every input of a run; its exit code sums it up."""

    results: list[InputResult] = field(default_factory=list)
    interrupted: bool = False
    stdout_closed: bool = False  # the reader of --stdout closed it: a quiet stop
    error: str | None = None  # what stopped the whole run (a missing model, ffmpeg...)
    error_code: ExitCode = ExitCode.ENVIRONMENT

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error_code
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILED if self.count("failed") else ExitCode.OK

    def summary(self) -> str:
        return (
            f"{self.count('done')} done, {self.count('skipped')} skipped, "
            f"{self.count('failed')} failed" + (" (interrupted)" if self.interrupted else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "interrupted": self.interrupted,
            "stdout_closed": self.stdout_closed,
            "error": self.error,
            "exit_code": int(self.exit_code),
            "inputs": [r.to_dict() for r in self.results],
        }
