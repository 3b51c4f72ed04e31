"""The diarization stage: who speaks when, as Turns, from pyannote.audio or the offline backend.

Backends sit behind the `Diarizer` protocol in the `DIARIZERS` registry, keyed by the name
users type after `--diarizer`. `load_diarizer` builds one per process (models load once);
`auto` takes pyannote where its pipeline loads and otherwise the offline backend, with a
one-line note saying which and why. Labels are SPEAKER_00, SPEAKER_01... in order of first
appearance, whatever the backend called them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ffscribe.core.data.errors import EnvironmentMissing
from ffscribe.core.data.transcript import Turn
from ffscribe.core.speakers.turns import DiarizeOptions

if TYPE_CHECKING:
    from ffscribe.core.media.ffmpeg import Audio


class Diarizer(Protocol):
    """A loaded diarization backend; `run` may be called for many inputs."""

    @property
    def name(self) -> str:
        """The name users type after `--diarizer`."""
        ...

    def run(self, audio: Audio, options: DiarizeOptions) -> tuple[Turn, ...]:
        """Speaker turns on the source's timeline (audio.offset added), sorted by start."""
        ...


def _pyannote(options: DiarizeOptions) -> Diarizer:
    from ffscribe.core.speakers.pyannote_backend import PyannoteDiarizer

    return PyannoteDiarizer.load(options)


def _offline(options: DiarizeOptions) -> Diarizer:
    from ffscribe.core.speakers.offline import OfflineDiarizer

    return OfflineDiarizer.load(options)


DIARIZERS: dict[str, Callable[[DiarizeOptions], Diarizer]] = {
    "pyannote": _pyannote,
    "offline": _offline,
}


def load_diarizer(options: DiarizeOptions) -> tuple[Diarizer, str | None]:
    """The diarizer `options.backend` names, and for `auto` a note saying which one and why.

    A named backend that cannot load raises its EnvironmentMissing (exit 3, fix named). `auto`
    tries pyannote and falls back to the offline backend on any of pyannote's
    EnvironmentMissing errors (not installed, no token, refused, offline), saying so.
    """
    if options.backend != "auto":
        return DIARIZERS[options.backend](options), None
    try:
        return DIARIZERS["pyannote"](options), "diarizing with pyannote.audio"
    except EnvironmentMissing as error:
        reason = error.message.split(":")[0]
        diarizer = DIARIZERS["offline"](options)
        return diarizer, f"diarizing with the offline backend (pyannote unavailable: {reason})"
