"""Sliding windows: label recordings longer than a model can take in one piece.

How a clip is cut is the job's option (`producer.windowing.WindowOptions`); here is what the
pipeline adds: pooling the windows' scores, and the ``EARMARK_WINDOWS=auto`` policy that windows
a clip the model cannot take whole at the model's natural length.
"""

from __future__ import annotations

import math

import numpy as np

from producer.windowing import MIN_WINDOW_S, Aggregate, WindowOptions
from worker.features import FeatureExtractor


def pool(scores: np.ndarray, aggregate: Aggregate) -> np.ndarray:
    """Pool per-window scores of shape (windows, labels) into one row."""
    pooled = scores.mean(axis=0) if aggregate == "mean" else scores.max(axis=0)
    return np.asarray(pooled)


def natural_window(
    fixed_samples: int | None, longest_samples: int | None, rate: int
) -> WindowOptions | None:
    """The window ``EARMARK_WINDOWS=auto`` cuts at: a fixed-length extractor's input (AST's
    10.24 s, Whisper's 30 s), else the longest clip one model call may take, in whole seconds;
    None when the model takes clips of any length."""
    samples = fixed_samples or longest_samples
    if samples is None:
        return None
    seconds = samples / rate if fixed_samples else math.floor(samples / rate)
    return WindowOptions(window_s=max(MIN_WINDOW_S, seconds))


def needs_window(samples: int, fixed_samples: int | None, longest_samples: int | None) -> bool:
    """Whether a clip of `samples` is more than the model takes whole (cut or refused)."""
    limit = fixed_samples or longest_samples
    return limit is not None and samples > limit


def untruncated_samples(extractor: FeatureExtractor) -> int | None:
    """The longest clip a fixed-length extractor takes without cutting it; None for one that
    takes any length (found by bisection on its own ``truncated``, so no family's arithmetic is
    written twice)."""
    if not extractor.fixed_length:
        return None
    low, high = 1, 1 << 34
    while low < high:
        middle = (low + high + 1) // 2
        if extractor.truncated(middle):
            high = middle - 1
        else:
            low = middle
    return low
