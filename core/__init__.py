"""ffscribe.core: the transcription pipeline, with no printing and no command-line concerns."""

from __future__ import annotations

__version__ = "0.1.0"
