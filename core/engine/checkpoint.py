"""Finished parts of a long input, kept on disk so a run killed half way resumes from them.

The batch keeps a sidecar beside an input's outputs (`.{stem}.ffscribe-parts.json`) while the
input is transcribed, and removes it once the outputs are written. Each part is saved as it
finishes, atomically. The sidecar is reused only when its key matches: the key covers the
model, every decode option, the decoded samples and the cut points, so a sidecar left by other
options, another model or a changed file is replaced, never read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffscribe.core.data.transcript import Segment

log = logging.getLogger("ffscribe.checkpoint")
VERSION = 1


@dataclass(frozen=True)
class PartDone:
    """What one finished part contributes to the whole: its segments, and for the first part
    the language it detected."""

    segments: tuple[Segment, ...]
    language: str
    language_probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [s.to_dict() for s in self.segments],
            "language": self.language,
            "language_probability": self.language_probability,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartDone:
        return cls(
            tuple(Segment.from_dict(s) for s in data["segments"]),
            str(data["language"]),
            float(data["language_probability"]),
        )


class Checkpoint:
    """The sidecar of one input: `load` what an earlier run finished under the same key,
    `save` each part as it finishes, `remove` once the outputs are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # parts finish on several workers
        self._key: str | None = None
        self._parts: dict[int, PartDone] = {}

    def load(self, key: str) -> dict[int, PartDone]:
        """The parts saved under `key`; none when the sidecar is missing, unreadable or from
        other options (it is then replaced at the first save)."""
        with self._lock:
            self._key, self._parts = key, {}
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") == VERSION and data.get("key") == key:
                    self._parts = {int(i): PartDone.from_dict(p) for i, p in data["parts"].items()}
            except FileNotFoundError:
                pass
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.info("%s: not resumed from (%s)", self.path, exc)
            return dict(self._parts)

    def save(self, index: int, part: PartDone) -> None:
        """Add a finished part and write the sidecar atomically (best effort: a sidecar that
        cannot be written costs only the resume)."""
        from ffscribe.core.batch.outputs import atomic_write_text

        with self._lock:
            if self._key is None:
                return
            self._parts[index] = part
            data = {
                "version": VERSION,
                "key": self._key,
                "parts": {str(i): p.to_dict() for i, p in sorted(self._parts.items())},
            }
            try:
                atomic_write_text(self.path, json.dumps(data, ensure_ascii=False))
            except OSError as exc:
                log.info("%s: cannot keep finished parts (%s)", self.path, exc)

    def remove(self) -> None:
        with self._lock, contextlib.suppress(FileNotFoundError):
            self.path.unlink()
