"""Loading ahead (worker/loading.py): input order kept, groups bounded by count and bytes,
loads in flight bounded by the threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.loading import load_ahead


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.integers(min_value=0, max_value=100), max_size=40),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=1, max_value=4),
)
def test_groups_keep_order_and_stay_within_both_bounds(
    sizes: list[int], max_items: int, max_bytes: int, threads: int
) -> None:
    got = list(
        load_ahead(
            sizes,
            lambda s: s,
            lambda s: s,
            max_items=max_items,
            max_bytes=max_bytes,
            threads=threads,
        )
    )
    assert [s for group in got for s in group] == sizes
    for group in got:
        assert 1 <= len(group) <= max_items
        assert sum(group) <= max_bytes or len(group) == 1


def test_no_more_loads_in_flight_than_threads_and_loading_goes_on_meanwhile() -> None:
    """Given two threads: the first two loads run at once (they meet at a barrier), never more
    than two run together, and a later load starts while the caller still holds the first
    group (I/O overlaps the model)."""
    running, most = 0, 0
    lock = threading.Lock()
    pair = threading.Barrier(2, timeout=5)
    holding, fourth_loaded = threading.Event(), threading.Event()

    def load(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if n < 2:
            pair.wait()  # raises BrokenBarrierError unless both run at once
        if n == 4:  # in flight when the first group [0, 1, 2] is handed on
            assert holding.wait(timeout=5)
            fourth_loaded.set()
        with lock:
            running -= 1
        return n

    got: list[list[int]] = []
    for group in load_ahead(range(12), load, lambda _: 1, max_items=3, max_bytes=100, threads=2):
        if not got:
            holding.set()
            assert fourth_loaded.wait(timeout=5)  # it loaded while this group was held
        got.append(group)
    assert [n for group in got for n in group] == list(range(12))
    assert most <= 2


def test_refuses_zero_bounds() -> None:
    with pytest.raises(ValueError):
        list(load_ahead([1], lambda s: s, lambda s: s, max_items=0, max_bytes=1, threads=1))
