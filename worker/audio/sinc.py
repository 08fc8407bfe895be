"""The pipeline's array resampler: ``torchaudio.functional.resample``'s defaults, in numpy.

The transformers pipeline resamples an ``{"array", "sampling_rate"}`` input at another rate
with torchaudio's windowed-sinc resampler (Hann window, 6 zero crossings, roll-off 0.99). This
builds the same polyphase kernel, in float32 as torchaudio does for float32 input, and applies
it as the same strided convolution, so an array reaches the model as it would in the pipeline.
"""

from __future__ import annotations

import math

import numpy as np

#: torchaudio's defaults: zero crossings each side of the kernel, and the cut-off as a share
#: of the lower rate's Nyquist frequency.
LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99
#: Output frames computed per step: bounds the strided copy a long clip would need at once.
_FRAMES_PER_STEP = 8_192
#: Most values in one kernel (16 Mi float32, 64 MiB; building it takes a few times that). Rates
#: with a small common divisor make huge kernels (44,101 Hz to 16 kHz: 706 M values, 2.8 GB,
#: as in torchaudio); every usual rate's kernel holds under 300 k.
MAX_KERNEL_VALUES = 16 * 1024 * 1024


def kernel_values(orig_sr: int, target_sr: int) -> int:
    """How many values the kernel resampling `orig_sr` to `target_sr` holds."""
    gcd = math.gcd(orig_sr, target_sr)
    orig, new = orig_sr // gcd, target_sr // gcd
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / (min(orig, new) * ROLLOFF))
    return new * (2 * width + orig)


def sinc_kernel(orig: int, new: int) -> tuple[np.ndarray, int]:
    """torchaudio's (new, 2*width + orig) kernel for rates already divided by their gcd."""
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    f32 = np.float32
    idx = np.arange(-width, width + orig, dtype=f32)[None, :] / f32(orig)
    t = np.arange(0, -new, -1, dtype=f32)[:, None] / f32(new) + idx
    t = np.clip(t * f32(base), -LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH).astype(f32)
    window = np.cos(t * f32(math.pi / LOWPASS_FILTER_WIDTH / 2)) ** 2
    t = t * f32(math.pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernels = np.where(t == 0, f32(1.0), np.sin(t) / t)
    kernels = kernels * (window * f32(base / orig))
    return kernels.astype(f32), width


def sinc_resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample 1-D float32 audio as ``torchaudio.functional.resample(x, orig_sr, target_sr)``."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    if kernel_values(orig_sr, target_sr) > MAX_KERNEL_VALUES:
        raise ValueError(
            f"resampling {orig_sr} Hz to {target_sr} Hz needs a kernel of "
            f"{kernel_values(orig_sr, target_sr) * 4 / 2**20:,.0f} MiB: the two rates share "
            "too small a divisor; resample the array to a usual rate first"
        )
    x = np.ascontiguousarray(waveform, np.float32)
    if orig_sr == target_sr:
        return x
    gcd = math.gcd(orig_sr, target_sr)
    orig, new = orig_sr // gcd, target_sr // gcd
    kernel, width = sinc_kernel(orig, new)
    padded = np.pad(x, (width, width + orig))
    taps = kernel.shape[1]
    count = (padded.size - taps) // orig + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)[::orig][:count]
    out = np.empty((count, new), np.float32)
    for start in range(0, count, _FRAMES_PER_STEP):
        stop = start + _FRAMES_PER_STEP
        out[start:stop] = windows[start:stop] @ kernel.T
    target_length = math.ceil(new * x.size / orig)
    return np.ascontiguousarray(out.reshape(-1)[:target_length])
