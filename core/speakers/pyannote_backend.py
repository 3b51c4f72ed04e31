"""The pyannote.audio diarizer: a pretrained pipeline from the Hugging Face hub or a directory.

pyannote.audio 4.x (torch and torchaudio of one release) is an optional extra, imported only
here, only when this backend loads. The default pipeline is gated on the hub: it needs a
token (`--hf-token` or HF_TOKEN) from an account that accepted its conditions. Each way of
failing to load (not installed, no token, access refused, no network) has its own message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffscribe.core.data.errors import EnvironmentMissing
from ffscribe.core.data.transcript import Turn
from ffscribe.core.speakers.turns import DiarizeOptions, relabel

if TYPE_CHECKING:
    from ffscribe.core.media.ffmpeg import Audio

DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
INSTALL_HINT = "pip install 'ffscribe[pyannote]'"


def torch_device(spec: str, cuda_available: Callable[[], bool]) -> str:
    """--device as torch names it: `auto` is CUDA when torch sees a GPU, else the CPU;
    `gpu:N` is `cuda:N` (torch.device rejects "gpu")."""
    kind, _, index = spec.strip().lower().partition(":")
    if kind == "auto":
        return "cuda" if cuda_available() else "cpu"
    kind = "cuda" if kind == "gpu" else kind
    return f"{kind}:{index}" if index else kind


@dataclass(frozen=True, eq=False)
class PyannoteDiarizer:
    """A loaded pyannote.audio pipeline on its device; one per process."""

    pipeline: Any
    source: str
    name: str = "pyannote"

    @classmethod
    def load(cls, options: DiarizeOptions) -> PyannoteDiarizer:
        try:
            from pyannote.audio import Pipeline
        except ImportError as error:
            raise EnvironmentMissing(
                f"pyannote.audio is not installed ({error}): `{INSTALL_HINT}`", stage="diarize"
            ) from None
        source = options.model or DEFAULT_PIPELINE
        local = Path(source).expanduser()
        token = options.hf_token or os.environ.get("HF_TOKEN") or None
        if not local.exists() and token is None:
            raise EnvironmentMissing(
                f"no Hugging Face token for {source}: pass --hf-token or set HF_TOKEN, and"
                f" accept the model's conditions at https://hf.co/{source}",
                stage="diarize",
            )
        import torch

        pipeline = _from_pretrained(Pipeline, str(local) if local.exists() else source, token)
        pipeline.to(torch.device(torch_device(options.device, torch.cuda.is_available)))
        return cls(pipeline, source)

    def run(self, audio: Audio, options: DiarizeOptions) -> tuple[Turn, ...]:
        """Speaker turns on the source's timeline, from the shared decoded audio (no re-decode)."""
        import torch

        waveform = torch.from_numpy(audio.samples).unsqueeze(0)
        kwargs = {
            key: value
            for key, value in (
                ("num_speakers", options.speakers),
                ("min_speakers", options.min_speakers),
                ("max_speakers", options.max_speakers),
            )
            if value is not None
        }
        output = self.pipeline({"waveform": waveform, "sample_rate": audio.sample_rate}, **kwargs)
        return to_turns(output, offset=audio.offset)


def _from_pretrained(pipeline_class: Any, source: str, token: str | None) -> Any:
    """Pipeline.from_pretrained with the hub's failures turned into messages that name a fix."""
    from huggingface_hub import errors

    try:
        pipeline = pipeline_class.from_pretrained(source, token=token)
    except errors.GatedRepoError:
        pipeline = None
    except errors.RepositoryNotFoundError:
        raise EnvironmentMissing(
            f"no pipeline {source!r} on the Hugging Face hub (or the token cannot see it):"
            " check --diarization-model and the token",
            stage="diarize",
        ) from None
    except errors.LocalEntryNotFoundError:
        raise EnvironmentMissing(
            f"cannot download {source} (no network, and it is not in the local cache): run once"
            " with network, or pass --diarization-model DIR with a downloaded pipeline",
            stage="diarize",
        ) from None
    if pipeline is None:  # pyannote returns None (3.x) or the hub raises when access is refused
        raise EnvironmentMissing(
            f"access to {source} was refused: accept its conditions at https://hf.co/{source}"
            " with the account the token belongs to",
            stage="diarize",
        )
    return pipeline


def to_turns(output: Any, *, offset: float = 0.0) -> tuple[Turn, ...]:
    """pyannote's result (a 4.x DiarizeOutput or an Annotation) as Turns, SPEAKER_xx relabelled.

    The overlap-aware `speaker_diarization` is used, not the exclusive one: alignment gives a
    word in overlapped speech to the speaker most active at its midpoint.
    """
    annotation = getattr(output, "speaker_diarization", output)
    turns = [
        Turn(round(segment.start + offset, 3), round(segment.end + offset, 3), str(label))
        for segment, _track, label in annotation.itertracks(yield_label=True)
        if segment.end > segment.start
    ]
    return relabel(turns)
