"""Options for each stage, as frozen dataclasses the CLI builds and the result records."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

Task = Literal["transcribe", "translate"]

DEFAULT_MODEL = "base"
DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class ClipOptions:
    """What part of which audio track ffmpeg decodes, and how."""

    start: float = 0.0
    duration: float | None = None
    audio_track: int | None = None  # index among the audio streams, from 0; None: ffmpeg's pick
    normalize: bool = False  # EBU R128 loudness normalization (ffmpeg loudnorm)


@dataclass(frozen=True)
class ModelOptions:
    """Which Whisper model to load, where, and how."""

    name: str = DEFAULT_MODEL
    device: str = "auto"  # auto | cpu | cuda | cuda:N | gpu:N
    compute_type: str = "auto"  # auto | int8 | int8_float16 | float16 | float32 | ...
    threads: int = 0  # CPU threads per worker; 0: the cores shared among the workers
    jobs: int = 0  # model workers transcribing side by side; 0: auto (see default_jobs)
    download_root: str | None = None


@dataclass(frozen=True)
class DecodeOptions:
    """How Whisper decodes: faster-whisper's `transcribe` options, with our defaults."""

    language: str | None = None  # None: detect
    task: Task = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    hotwords: str | None = None
    word_timestamps: bool = False
    vad: bool = True
    vad_min_silence_ms: int = 2000
    batch_size: int = 0  # 0 or 1: sequential; >1: faster-whisper's batched pipeline

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["temperatures"] = list(self.temperatures)
        return out


def cpu_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


GPU_JOBS = 2  # one decoder at a time leaves a GPU mostly idle (BENCHMARKS.md, "CUDA")


def default_jobs(device_kind: str) -> int:
    """Workers when --jobs is not given: one per core up to four on a CPU (one CTranslate2
    thread each); two on a GPU, where one decoder at a time leaves it mostly idle and two
    replicas of even a large model fit a card of 8 GB."""
    return GPU_JOBS if device_kind != "cpu" else max(1, min(4, cpu_cores()))
