"""Resemblyzer's pretrained GE2E speaker encoder (d-vectors), run in numpy without torch.

resemblyzer 0.1.4 ships `resemblyzer/pretrained.pt`: a 3-layer LSTM (40 mel bands in, 256
hidden) whose last hidden state goes through a 256-unit linear layer, a ReLU and an L2 norm.
Its package imports torch, so the weights are found with `importlib.util.find_spec` and read
by a small unpickler that rebuilds the tensors as numpy arrays (torch's legacy format, and the
zip format in case a later release re-saves the file). The frontend is resemblyzer's: 16 kHz,
25 ms Hann windows every 10 ms, 40 Slaney mel bands of the power spectrum (not log), on audio
raised to at least -30 dBFS.
"""

from __future__ import annotations

import contextlib
import importlib.util
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.errors import EnvironmentMissing
from ffscribe.core.media.features import frame_blocks

Array = npt.NDArray[np.float32]

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the window length the encoder was trained on
HIDDEN = 256
LAYERS = 3
TARGET_DBFS = -30.0
INSTALL_HINT = "pip install --no-deps resemblyzer==0.1.4"
_BATCH = 128  # windows per LSTM pass: bounds memory on long inputs


def find_weights() -> Path:
    """resemblyzer's pretrained.pt, located without importing resemblyzer (which imports torch)."""
    spec = importlib.util.find_spec("resemblyzer")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "pretrained.pt"
        if path.is_file():
            return path
    raise EnvironmentMissing(
        "the offline diarizer needs the speaker encoder that ships with resemblyzer:"
        f" `{INSTALL_HINT}` (its torch dependency is not needed)",
        stage="diarize",
    )


class _Unpickler(pickle.Unpickler):
    """Unpickles a torch checkpoint into numpy: storages by key, tensors as views of them."""

    def __init__(self, file: IO[bytes], storage: Callable[[str, str, int], Array]) -> None:
        super().__init__(file)
        self._storage = storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return name
        raise pickle.UnpicklingError(f"unexpected object in the weights: {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        dtype = storage_type if isinstance(storage_type, str) else "FloatStorage"
        return self._storage(str(key), dtype, int(numel))


def _rebuild_tensor(
    storage: Array, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> Array:
    """torch._utils._rebuild_tensor_v2 as a view: legacy files fill the storages afterwards."""
    itemsize = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * itemsize for s in stride)
    )


def load_state(path: Path) -> dict[str, Array]:
    """The checkpoint's `model_state` (or the whole dict when it is a bare state dict)."""
    state = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    model = state.get("model_state", state)
    return {k: np.array(v, dtype=np.float32) for k, v in model.items() if isinstance(v, np.ndarray)}


def _load_legacy(path: Path) -> dict[str, Any]:
    """torch's pre-1.6 format: magic, version, sys info, the pickle, storage keys, raw data."""
    storages: dict[str, Array] = {}

    def storage(key: str, dtype: str, numel: int) -> Array:
        if dtype != "FloatStorage":
            raise pickle.UnpicklingError(f"unexpected storage type {dtype}")
        return storages.setdefault(key, np.zeros(numel, dtype=np.float32))

    with path.open("rb") as fh:
        for _ in range(3):
            pickle.load(fh)  # magic number, protocol version, system info
        result = _Unpickler(fh, storage).load()
        for key in pickle.load(fh):
            numel = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            data = np.frombuffer(fh.read(numel * 4), dtype="<f4")
            storages[str(key)][:] = data
    return dict(result)


def _load_zip(path: Path) -> dict[str, Any]:
    """torch's zip format: `<name>/data.pkl`, each storage at `<name>/data/<key>`."""
    with zipfile.ZipFile(path) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        root = pkl[: -len("data.pkl")]

        def storage(key: str, dtype: str, numel: int) -> Array:
            data: Array = np.frombuffer(archive.read(f"{root}data/{key}"), dtype="<f4").copy()
            return data

        with archive.open(pkl) as fh:
            return dict(_Unpickler(fh, storage).load())


class Encoder(Protocol):
    """A speaker encoder the offline diarizer can use: features of 10 ms frames, then one unit
    vector per window of frames."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def mel(self, samples: Array) -> Array: ...

    def embed(self, windows: Array) -> Array: ...


@dataclass(frozen=True, eq=False)
class SpeakerEncoder:
    """The GE2E LSTM's weights, laid out for batched numpy inference."""

    w_ih: tuple[Array, ...]  # per layer, (inputs, 4 * hidden), transposed for x @ w
    w_hh: tuple[Array, ...]  # per layer, (hidden, 4 * hidden)
    bias: tuple[Array, ...]  # per layer, b_ih + b_hh
    linear_w: Array  # (hidden, embedding)
    linear_b: Array
    mel_basis: Array  # (n_fft // 2 + 1, n_mels)
    name: str = "ge2e"
    dimension: int = HIDDEN

    @classmethod
    def load(cls, path: Path | None = None) -> SpeakerEncoder:
        state = load_state(path or find_weights())
        layers = range(LAYERS)
        return cls(
            w_ih=tuple(state[f"lstm.weight_ih_l{i}"].T.copy() for i in layers),
            w_hh=tuple(state[f"lstm.weight_hh_l{i}"].T.copy() for i in layers),
            bias=tuple(state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"] for i in layers),
            linear_w=state["linear.weight"].T.copy(),
            linear_b=state["linear.bias"],
            mel_basis=mel_filters().T.copy(),
        )

    def mel(self, samples: Array) -> Array:
        """(frames, 40) mel power, frame i centred on sample i * 160, as librosa computes it."""
        padded = np.pad(samples.astype(np.float32), N_FFT // 2)
        count = 1 + (len(padded) - N_FFT) // HOP
        window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
        out = np.empty((count, self.mel_basis.shape[1]), dtype=np.float32)
        # A block of frames at a time: every frame's spectrum at once took 3.7 GB for an hour.
        for first, last in frame_blocks(count):
            span = padded[first * HOP : (last - 1) * HOP + N_FFT]
            frames = np.lib.stride_tricks.sliding_window_view(span, N_FFT)[::HOP]
            power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
            out[first:last] = power.astype(np.float32) @ self.mel_basis
        return out

    def embed(self, windows: Array) -> Array:
        """(batch, frames, 40) mel windows -> (batch, 256) L2-normalised d-vectors."""
        with _one_blas_thread():
            parts = [self._embed(windows[i : i + _BATCH]) for i in range(0, len(windows), _BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, HIDDEN), dtype=np.float32)

    def _embed(self, x: Array) -> Array:
        batch, steps, _ = x.shape
        for layer in range(LAYERS):
            inputs = (x.reshape(batch * steps, -1) @ self.w_ih[layer] + self.bias[layer]).reshape(
                batch, steps, 4 * HIDDEN
            )
            x = _lstm_layer(inputs, self.w_hh[layer])
        return unit_rows(np.maximum(x[:, -1] @ self.linear_w + self.linear_b, 0.0))


def unit_rows(rows: npt.NDArray[np.floating[Any]]) -> Array:
    """Each row divided by its L2 norm (zero rows stay zero), as float32."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Array = np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)
    return out


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread where threadpoolctl is installed: the LSTM's per-step
    products are small, and threads contending for busy cores made them 6x slower here."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpool_limits(1, "blas")
    return limits


def _lstm_layer(inputs: Array, w_hh: Array) -> Array:
    """One LSTM layer over time (torch's gate order i, f, g, o); all hidden states returned."""
    batch, steps, _ = inputs.shape
    h = np.zeros((batch, HIDDEN), dtype=np.float32)
    c = np.zeros((batch, HIDDEN), dtype=np.float32)
    out = np.empty((batch, steps, HIDDEN), dtype=np.float32)
    for t in range(steps):
        gates = inputs[:, t] + h @ w_hh
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: one tanh call for three gates, no overflow.
        ifo = 0.5 + 0.5 * np.tanh(0.5 * gates[:, np.r_[0 : 2 * HIDDEN, 3 * HIDDEN : 4 * HIDDEN]])
        g = np.tanh(gates[:, 2 * HIDDEN : 3 * HIDDEN])
        c = (ifo[:, HIDDEN : 2 * HIDDEN] * c + ifo[:, :HIDDEN] * g).astype(np.float32)
        h = (ifo[:, 2 * HIDDEN :] * np.tanh(c)).astype(np.float32)
        out[:, t] = h
    return out


def normalize_volume(samples: Array, speech_rms: float) -> Array:
    """Raise (never lower) the level so that speech sits at -30 dBFS, as resemblyzer does."""
    if speech_rms <= 0:
        return samples
    gain = 10 ** (TARGET_DBFS / 20) / speech_rms
    return (samples * gain).astype(np.float32) if gain > 1 else samples


def mel_filters() -> Array:
    """(40, 201) Slaney-style mel filterbank, area-normalised (librosa.filters.mel's default)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    return weights.astype(np.float32)


_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz, logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz < _MIN_LOG_HZ:
        return hz / _F_SP
    return float(_MIN_LOG_MEL + np.log(hz / _MIN_LOG_HZ) / _LOG_STEP)


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    linear = _F_SP * mels
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mels - _MIN_LOG_MEL))
    return np.where(mels >= _MIN_LOG_MEL, log, linear)
