"""Batch planning: every clip exactly once, equal lengths only where padding would change scores."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.batching import BatchMode, plan_batches


@given(
    st.lists(st.integers(min_value=1, max_value=50), max_size=60),
    st.integers(min_value=1, max_value=17),
    st.sampled_from(list(BatchMode)),
)
def test_every_clip_lands_in_exactly_one_batch(
    lengths: list[int], size: int, mode: BatchMode
) -> None:
    batches = plan_batches(lengths, size, mode)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(batch) <= size for batch in batches)
    if mode is BatchMode.BUCKET:
        assert all(len({lengths[i] for i in batch}) == 1 for batch in batches)
    if mode is BatchMode.SINGLE:
        assert all(len(batch) == 1 for batch in batches)


def test_pad_sorts_by_length_so_little_is_padded() -> None:
    assert plan_batches([5, 1, 4, 2], 2, BatchMode.PAD) == [[1, 3], [2, 0]]


def test_stack_keeps_input_order() -> None:
    assert plan_batches([5, 1, 4], 2, BatchMode.STACK) == [[0, 1], [2]]


def test_bucket_groups_equal_lengths() -> None:
    assert plan_batches([3, 2, 3, 3], 2, BatchMode.BUCKET) == [[0, 2], [3], [1]]


def test_refuses_empty_batches() -> None:
    with pytest.raises(ValueError):
        plan_batches([1], 0, BatchMode.STACK)


@given(
    st.lists(st.integers(min_value=1, max_value=50), max_size=60),
    st.integers(min_value=1, max_value=17),
    st.integers(min_value=1, max_value=200),
    st.sampled_from([BatchMode.PAD, BatchMode.BUCKET]),
)
def test_a_call_holds_at_most_max_samples_of_padded_audio(
    lengths: list[int], size: int, budget: int, mode: BatchMode
) -> None:
    """Clips times the longest stays within the budget; a clip over it runs alone."""
    batches = plan_batches(lengths, size, mode, max_samples=budget)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= budget or len(batch) == 1
        assert len(batch) <= size


def test_the_budget_splits_long_clips_and_keeps_short_ones_together() -> None:
    lengths = [1, 1, 1, 1, 10, 10, 30]
    assert plan_batches(lengths, 16, BatchMode.PAD, max_samples=20) == [
        [0, 1, 2, 3],
        [4, 5],
        [6],
    ]
    assert plan_batches(lengths, 16, BatchMode.PAD) == [[0, 1, 2, 3, 4, 5, 6]]
