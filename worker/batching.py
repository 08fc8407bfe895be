"""Batch planning: which clips share a model call without changing anyone's answer, and how
much padded audio one call may hold (its activations grow with clips times the longest clip)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum


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


def plan_batches(
    lengths: Sequence[int], max_batch: int, mode: BatchMode, max_samples: int | None = None
) -> list[list[int]]:
    """Group clip indices into model calls of at most ``max_batch`` clips each and, where clips
    keep their lengths (PAD, BUCKET), at most ``max_samples`` padded samples (clips times longest);
    a clip longer than that runs alone."""
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    indices = list(range(len(lengths)))
    if mode is BatchMode.SINGLE:
        return [[i] for i in indices]
    if mode is BatchMode.STACK:
        return _chunks(indices, max_batch)
    if mode is BatchMode.PAD:
        ordered = sorted(indices, key=lambda i: lengths[i])
        return _fill(ordered, lengths, max_batch, max_samples)
    buckets: dict[int, list[int]] = {}
    for i in indices:
        buckets.setdefault(lengths[i], []).append(i)
    return [batch for b in buckets.values() for batch in _fill(b, lengths, max_batch, max_samples)]


def _fill(
    ordered: list[int], lengths: Sequence[int], max_batch: int, max_samples: int | None
) -> list[list[int]]:
    """Consecutive runs of `ordered` (non-decreasing lengths) within both budgets."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in ordered:
        padded = (len(current) + 1) * lengths[i]  # the newest clip is the longest
        if current and (len(current) == max_batch or (max_samples and padded > max_samples)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
