"""Arrays: ``{"array", "sampling_rate"}`` (or a bare array at the model's rate) as the pipeline
takes them, resampled with torchaudio's kernel (`worker.audio.sinc`).

The transformers pipeline refuses an array of more than one channel; earmark takes
(frames, channels) and mixes it with ffmpeg's ``-ac 1`` coefficients for the layout ffmpeg
guesses from the channel count, so an array mixes as the same samples in a plain WAV would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from producer.errors import DecodeFailed, InvalidReference
from worker.audio.decoded import DecodedAudio, check_source, too_long
from worker.audio.sinc import sinc_resample

_SQRT1_2 = math.sqrt(0.5)
#: Gain of each channel in ffmpeg's mono downmix (libswresample's swr_build_matrix with its
#: defaults: centre and surround mix levels -3 dB, LFE mix level 0, no normalisation for float
#: output, so a full-scale stereo pair sums to 1.414 and is not clipped); measured by feeding
#: one impulse per channel (tests/test_audio.py).
_MONO_GAINS = {"FC": 1.0, "FL": _SQRT1_2, "FR": _SQRT1_2, "LFE": 0.0, "BL": 0.5, "BR": 0.5,
               "SL": 0.5, "SR": 0.5, "BC": 0.5}  # fmt: skip
#: The layout ffmpeg guesses from the channel count when none is named: note 3 channels are
#: taken as 2.1, so the third channel (LFE) is dropped from the mix.
_GUESSED_LAYOUTS = {
    1: ("FC",), 2: ("FL", "FR"), 3: ("FL", "FR", "LFE"), 4: ("FL", "FR", "FC", "BC"),
    5: ("FL", "FR", "FC", "SL", "SR"), 6: ("FL", "FR", "FC", "LFE", "SL", "SR"),
    7: ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"),
    8: ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"),
}  # fmt: skip


def decode_array(
    item: Mapping[str, Any] | np.ndarray, *, target_rate: int, max_seconds: float
) -> DecodedAudio:
    """An array input mixed to mono and resampled to `target_rate` as the pipeline resamples."""
    samples, rate = _unpack(item, target_rate)
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise DecodeFailed(f"an array input must be 1-D or (frames, channels), got {array.shape}")
    frames, channels = array.shape
    check_source(rate, channels)
    if not np.isfinite(array).all():
        raise DecodeFailed("array holds NaN or infinite samples")
    if frames / rate > max_seconds:
        raise too_long(max_seconds)
    try:
        waveform = sinc_resample(to_mono(array), rate, target_rate)
    except ValueError as e:  # a rate pair whose kernel would exhaust memory
        raise DecodeFailed(str(e)) from e
    return DecodedAudio(waveform, rate, channels, frames / rate)


def _unpack(item: Mapping[str, Any] | np.ndarray, default_rate: int) -> tuple[Any, int]:
    # transformers accepts {"raw" | "array": samples, "sampling_rate": rate} or a bare array
    # already at the model's rate; so do we.
    if isinstance(item, np.ndarray):
        return item, default_rate
    samples = item.get("array", item.get("raw"))
    rate = item.get("sampling_rate", default_rate)
    if samples is None or not isinstance(rate, int) or rate <= 0:
        raise InvalidReference('an array input is {"array": ndarray, "sampling_rate": int}')
    return samples, rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) mixed to 1-D float32 with ffmpeg's ``-ac 1`` coefficients."""
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0], np.float32)
    return np.ascontiguousarray(
        samples.astype(np.float32, copy=False) @ mono_gains(samples.shape[1])
    )


def mono_gains(channels: int) -> np.ndarray:
    """ffmpeg's mono downmix row for unnamed channels (float32, one gain per channel)."""
    names = _GUESSED_LAYOUTS.get(channels)
    if names is None:
        # Past 8 unnamed channels ffmpeg has no default: 5.1 fails on 10, 12 or 32 channels and
        # 5.1 and 6.3 disagree on 16, so there is no reference to follow; an even mean is safe.
        return np.full(channels, 1.0 / channels, np.float32)
    return np.array([_MONO_GAINS[n] for n in names], np.float32)
