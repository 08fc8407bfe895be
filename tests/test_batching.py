"""Batch planning: every clip exactly once, equal lengths only where padding would change scores
(unless EARMARK_BATCHING=padded trades a bounded score change for bigger calls)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.padded import FIXTURES, MODELS, classifier, fixture_clips, score_change, scores
from producer.settings import Settings
from tests.models import GOLDEN_AUDIO, golden, model_dir
from tests.workers import run_earmark
from worker.batching import PAD_TOLERANCE, BatchMode, plan_calls, widen
from worker.classification import pipeline
from worker.labeling import LabelOptions

#: Largest score change padded batching may make on keyword speech (samples/, each also cut to
#: 87.5 % and 93.75 %) with the demo model: measured 0.009 (fp32) and 0.010 (q8).
PADDED_SPEECH_ATOL = 0.02


@given(
    st.lists(st.integers(min_value=1, max_value=50), max_size=60),
    st.integers(min_value=1, max_value=17),
    st.sampled_from(list(BatchMode)),
)
def test_every_clip_lands_in_exactly_one_call(
    lengths: list[int], size: int, mode: BatchMode
) -> None:
    calls = plan_calls(lengths, size, mode)
    flat = [i for call in calls for i in call]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(call) <= size for call in calls)
    if mode is BatchMode.BUCKET:
        assert all(len({lengths[i] for i in call}) == 1 for call in calls)
    if mode is BatchMode.SINGLE:
        assert all(len(call) == 1 for call in calls)


def test_pad_sorts_by_length_so_little_is_padded() -> None:
    assert plan_calls([5, 1, 4, 2], 2, BatchMode.PAD) == [[1, 3], [2, 0]]


def test_stack_keeps_input_order() -> None:
    assert plan_calls([5, 1, 4], 2, BatchMode.STACK) == [[0, 1], [2]]


def test_bucket_groups_equal_lengths() -> None:
    assert plan_calls([3, 2, 3, 3], 2, BatchMode.BUCKET) == [[0, 2], [3], [1]]


def test_refuses_empty_calls() -> None:
    with pytest.raises(ValueError):
        plan_calls([1], 0, BatchMode.STACK)


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
    calls = plan_calls(lengths, size, mode, max_samples=budget)
    assert sorted(i for call in calls for i in call) == list(range(len(lengths)))
    for call in calls:
        padded = len(call) * max(lengths[i] for i in call)
        assert padded <= budget or len(call) == 1
        assert len(call) <= size


def test_the_budget_splits_long_clips_and_keeps_short_ones_together() -> None:
    lengths = [1, 1, 1, 1, 10, 10, 30]
    assert plan_calls(lengths, 16, BatchMode.PAD, max_samples=20) == [
        [0, 1, 2, 3],
        [4, 5],
        [6],
    ]
    assert plan_calls(lengths, 16, BatchMode.PAD) == [[0, 1, 2, 3, 4, 5, 6]]


@given(
    st.lists(st.integers(min_value=1, max_value=400), max_size=60),
    st.integers(min_value=1, max_value=17),
    st.one_of(st.none(), st.integers(min_value=1, max_value=4000)),
)
def test_near_pads_no_clip_by_more_than_the_tolerance(
    lengths: list[int], size: int, budget: int | None
) -> None:
    """Every clip once; in each call the shortest is within PAD_TOLERANCE of the longest."""
    calls = plan_calls(lengths, size, BatchMode.NEAR, max_samples=budget)
    assert sorted(i for call in calls for i in call) == list(range(len(lengths)))
    for call in calls:
        longest = max(lengths[i] for i in call)
        assert min(lengths[i] for i in call) >= (1 - PAD_TOLERANCE) * longest
        assert len(call) <= size
        assert budget is None or len(call) * longest <= budget or len(call) == 1


def test_near_joins_near_lengths_and_splits_far_ones() -> None:
    """Sorted by length, a call closes when its shortest would be padded by over 12.5 %."""
    lengths = [1000, 880, 900, 870, 2000, 1000]
    # 870 may pad to 994 at most, so the 1000s start a call of their own.
    assert plan_calls(lengths, 16, BatchMode.NEAR) == [[3, 1, 2], [0, 5], [4]]
    assert plan_calls([1000, 900, 880], 16, BatchMode.NEAR) == [[2, 1, 0]]
    assert plan_calls([1000, 900, 880], 2, BatchMode.NEAR) == [[2, 1], [0]]


@pytest.mark.parametrize("mode", list(BatchMode))
def test_only_padded_widens_and_only_modes_that_lose_batching(mode: BatchMode) -> None:
    assert widen(mode, "exact") is mode
    widened = BatchMode.NEAR if mode in (BatchMode.BUCKET, BatchMode.SINGLE) else mode
    assert widen(mode, "padded") is widened


def _speech() -> list[np.ndarray]:
    (samples,) = (folder for folder in FIXTURES if folder.name == "samples")
    return fixture_clips(samples)


@pytest.mark.parametrize("dtype", ["fp32", "q8"])
def test_padded_moves_speech_scores_by_at_most_the_stated_bound(dtype: str) -> None:
    """Given keyword clips of near lengths, padded calls are fewer and change scores a little."""
    clips = _speech()
    demo = MODELS[0]
    exact, padded = (classifier(demo, dtype, b, 1) for b in ("exact", "padded"))  # type: ignore[arg-type]
    assert (exact.mode, padded.mode) == (
        BatchMode.SINGLE if dtype == "q8" else BatchMode.BUCKET,
        BatchMode.NEAR,
    )
    lengths = [len(clip) for clip in clips]
    assert len(plan_calls(lengths, 16, padded.mode)) < len(plan_calls(lengths, 16, exact.mode))
    change = score_change(scores(exact, clips, 16), scores(padded, clips, 16))
    assert 0 < change.max_abs <= PADDED_SPEECH_ATOL
    assert change.top1_agreement == 1.0


def _golden_pipeline(**overrides: Any) -> Any:
    settings = Settings(local_roots=str(GOLDEN_AUDIO), intra_op_threads=1, **overrides)
    return pipeline(model=str(model_dir("wav2vec2")), dtype="fp32", settings=settings)


def test_exact_still_equals_the_goldens_among_near_lengths() -> None:
    """Given the goldens batched with cuts a padded call would join, exact keeps every score:
    the goldens' as the reference gives them, the cuts' as they are alone."""
    classify = _golden_pipeline(batching="exact")
    paths = sorted(GOLDEN_AUDIO.glob("*.wav"))
    cuts = [{"array": clip, "sampling_rate": 16000} for clip in fixture_clips(GOLDEN_AUDIO)]
    inputs = [*map(str, paths), *cuts]
    options = LabelOptions(top_k=0)
    batched = [_scores(r) for r in classify.iter_records(inputs, options=options, batch_size=16)]
    alone = [_scores(r) for r in classify.iter_records(inputs, options=options, batch_size=1)]
    for one, many in zip(alone, batched, strict=True):
        assert max(abs(one[k] - many[k]) for k in one) <= 1e-5
    reference = golden("wav2vec2")["clips"]
    for path, ours in zip(paths, batched, strict=False):
        gaps = [abs(ours[e["label"]] - e["score"]) for e in reference[path.name]["default"]]
        assert max(gaps) <= 1e-3, path.name


def _scores(record: Any) -> dict[str, float]:
    return {label.label: label.score for label in record.labels or []}


def test_settings_carry_padded_batching_to_the_pipeline() -> None:
    assert _golden_pipeline().classifier.mode is BatchMode.BUCKET
    assert _golden_pipeline(batching="padded").classifier.mode is BatchMode.NEAR


def test_classify_takes_batching_from_its_flag() -> None:
    """`earmark classify --batching padded` labels every clip; a mode it lacks is a usage error."""
    (samples,) = (folder for folder in FIXTURES if folder.name == "samples")
    clips = [str(path) for path in sorted(samples.glob("*.wav"))[:4]]
    env = {"EARMARK_LOCAL_ROOTS": str(samples)}
    args = ("classify", *clips, "--model", str(MODELS[0]), "--dtype", "fp32", "--batching")
    done = run_earmark(env, *args, "padded")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["ok"] * 4
    refused = run_earmark(env, *args, "loose")
    assert refused.returncode == 2 and "batching" in refused.stderr
