"""Sliding windows: equal-length windows that cover the whole clip; the auto policy's length."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.windowing import WindowOptions
from worker.windows import natural_window, needs_window, pool


@given(
    st.integers(min_value=1, max_value=200_000),
    st.floats(min_value=0.1, max_value=3.0),
    st.floats(min_value=0.05, max_value=1.0),
)
def test_windows_cover_the_clip_with_equal_lengths(n: int, window_s: float, share: float) -> None:
    window = WindowOptions(window_s=window_s, hop_s=max(0.01, window_s * share))
    bounds = window.bounds(n, 16_000)
    assert bounds[0][0] == 0
    assert bounds[-1][1] == n
    assert len({b - a for a, b in bounds}) == 1
    assert all(0 <= a < b <= n for a, b in bounds)
    assert all(b1 >= a2 for (_, b1), (a2, _) in itertools.pairwise(bounds))
    assert window.count(n, 16_000) == len(bounds)


def test_short_clip_is_one_window() -> None:
    assert WindowOptions(window_s=1.0, hop_s=0.5).bounds(100, 16_000) == [(0, 100)]


def test_last_window_is_aligned_to_the_end() -> None:
    assert WindowOptions(window_s=1.0).bounds(25, 10) == [(0, 10), (10, 20), (15, 25)]


def test_pool() -> None:
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(pool(scores, "mean"), [0.4, 0.6])
    np.testing.assert_allclose(pool(scores, "max"), [0.6, 0.8])


def test_the_auto_window_is_a_fixed_extractors_input_else_the_call_bound_in_seconds() -> None:
    assert natural_window(None, None, 16_000) is None
    fixed = natural_window(164_239, 10**9, 16_000)
    assert fixed is not None and fixed.window_s == pytest.approx(164_239 / 16_000)
    bounded = natural_window(None, 16_000 * 64 + 123, 16_000)
    assert bounded is not None and bounded.window_s == 64.0
    assert needs_window(16_000 * 65, None, 16_000 * 64)
    assert not needs_window(16_000 * 64, None, 16_000 * 64)
    assert not needs_window(10**12, None, None)
