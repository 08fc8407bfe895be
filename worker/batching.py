"""Batch planning: which clips share a model call without changing anyone's answer, and how
much padded audio one call may hold (its activations grow with clips times the longest clip)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from producer.settings import Batching

#: Most padding `padded` batching adds to a clip, as a share of its call's longest clip: the
#: score change this buys is measured in bench/padded.py and bounded in tests/test_batching.py.
PAD_TOLERANCE = 0.125


class BatchMode(Enum):
    """How clips of different lengths may share one model call."""

    #: Every clip gives features of one shape (AST, Whisper): stack any clips.
    STACK = "stack"
    #: The graph takes an attention mask that hides padding: pad to the longest, sorted by length
    #: so little is padded.
    PAD = "pad"
    #: Padding would change the scores (group-norm wav2vec2 has no mask): equal lengths only.
    BUCKET = "bucket"
    #: The graph's scores depend on its batch-mates (int8 dynamic quantization): one clip a call.
    SINGLE = "single"
    #: Clips within PAD_TOLERANCE of their call's longest are padded together although padding
    #: changes their scores a little (EARMARK_BATCHING=padded on a BUCKET or SINGLE graph).
    NEAR = "near"


def widen(mode: BatchMode, batching: Batching) -> BatchMode:
    """The mode a model runs in under `batching`: `padded` lets BUCKET and SINGLE graphs pad
    near lengths together; graphs that batch exactly already (STACK, PAD) keep their mode."""
    if batching == "padded" and mode in (BatchMode.BUCKET, BatchMode.SINGLE):
        return BatchMode.NEAR
    return mode


def plan_calls(
    lengths: Sequence[int], max_batch: int, mode: BatchMode, max_samples: int | None = None
) -> list[list[int]]:
    """Group clip indices into model calls of at most ``max_batch`` clips each and, where clips
    keep their lengths (PAD, BUCKET), at most ``max_samples`` padded samples (clips times longest);
    a clip longer than that runs alone. NEAR calls also keep every clip within PAD_TOLERANCE of
    their longest."""
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    indices = list(range(len(lengths)))
    if mode is BatchMode.SINGLE:
        return [[i] for i in indices]
    if mode is BatchMode.STACK:
        return _chunks(indices, max_batch)
    if mode in (BatchMode.PAD, BatchMode.NEAR):
        ordered = sorted(indices, key=lambda i: lengths[i])
        min_ratio = 1.0 - PAD_TOLERANCE if mode is BatchMode.NEAR else 0.0
        return _fill(ordered, lengths, max_batch, max_samples, min_ratio)
    buckets: dict[int, list[int]] = {}
    for i in indices:
        buckets.setdefault(lengths[i], []).append(i)
    return [call for b in buckets.values() for call in _fill(b, lengths, max_batch, max_samples)]


def _fill(
    ordered: list[int],
    lengths: Sequence[int],
    max_batch: int,
    max_samples: int | None,
    min_ratio: float = 0.0,
) -> list[list[int]]:
    """Consecutive runs of `ordered` (non-decreasing lengths) within both budgets, each clip at
    least `min_ratio` of its run's longest."""
    calls: list[list[int]] = []
    current: list[int] = []
    for i in ordered:
        padded = (len(current) + 1) * lengths[i]  # the newest clip is the longest
        full = len(current) == max_batch or bool(max_samples and padded > max_samples)
        if current and (full or lengths[current[0]] < min_ratio * lengths[i]):
            calls.append(current)
            current = []
        current.append(i)
    if current:
        calls.append(current)
    return calls


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
