"""Labeling in windows, in process: the EARMARK_WINDOWS=auto policy, the hints on records cut or
refused, the caps on windows and timelines, and a windowed record's infer_s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from producer.records import ResultRecord
from producer.settings import Settings
from producer.windowing import WindowOptions
from tests.models import FAMILIES, GOLDEN_AUDIO, model_dir
from worker.classification import AudioClassificationPipeline, pipeline
from worker.labeling import LabelOptions, Prediction

#: The bundled keyword model: a receptive field of 620 samples, like full-size wav2vec2's.
DEMO_MODEL = Path(__file__).parent.parent / "models" / "earmark-kws-demo"


def _pipeline(name: str, **settings: Any) -> AudioClassificationPipeline:
    return pipeline(
        model=str(model_dir(name)),
        dtype="fp32",
        settings=Settings(local_roots=str(GOLDEN_AUDIO), **settings),
    )


def _noise(seconds: float, seed: int = 5) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    samples = (0.1 * rng.standard_normal(int(seconds * 16_000))).astype(np.float32)
    return {"array": samples, "sampling_rate": 16_000}


def _one(
    classify: AudioClassificationPipeline, item: Any, window: WindowOptions | None = None
) -> Prediction:
    (prediction,) = classify.iter_predictions([item], options=LabelOptions(top_k=0), window=window)
    return prediction


def _scores(record: ResultRecord) -> dict[str, float]:
    return {label.label: label.score for label in record.labels or []}


def test_auto_windows_a_clip_over_the_call_bound_and_off_names_the_option() -> None:
    """Given a 7 s clip over the tiny wav2vec2's call bound (about 3 s at 200 MB): off gives
    too_large with a hint naming window_s and EARMARK_WINDOWS=auto; auto labels it in windows of
    the bound's whole seconds, its labels the mean of those windows alone, and says so."""
    clip = _noise(7.0)
    off = _one(_pipeline("wav2vec2", max_call_mb=200), clip).record
    assert off.error is not None and off.error.code == "too_large" and off.hint is not None
    assert "window_s" in off.hint and "EARMARK_WINDOWS=auto" in off.hint
    classify = _pipeline("wav2vec2", windows="auto", max_call_mb=200)
    auto = _one(classify, clip).record
    assert auto.status == "ok" and auto.windows is not None and auto.hint is None
    assert auto.windows.auto and auto.windows.window_s == auto.windows.hop_s
    size = round(auto.windows.window_s * 16_000)
    bounds = WindowOptions(window_s=auto.windows.window_s).bounds(len(clip["array"]), 16_000)
    assert auto.windows.count == len(bounds) >= 3 and bounds[0] == (0, size)
    alone = [
        _scores(_one(classify, {"array": clip["array"][a:b], "sampling_rate": 16_000}).record)
        for a, b in bounds
    ]
    pooled = _scores(auto)
    assert max(abs(pooled[k] - np.mean([s[k] for s in alone])) for k in pooled) <= 1e-5
    short = _one(classify, _noise(1.5)).record
    assert short.status == "ok" and short.windows is None  # what the model takes whole stays so


def test_auto_windows_a_clip_a_fixed_length_extractor_would_cut() -> None:
    """Given 30 s on the tiny AST (its input holds about 1 s): off labels the start only,
    truncated, with a hint; auto windows it at the extractor's whole input, nothing cut."""
    clip = _noise(30.0)
    off = _one(_pipeline("ast"), clip).record
    assert off.status == "ok" and off.audio is not None and off.audio.truncated
    assert off.hint is not None and "labelled from its start only" in off.hint
    auto = _one(_pipeline("ast", windows="auto"), clip).record
    assert auto.status == "ok" and auto.windows is not None and auto.windows.auto
    assert auto.audio is not None and not auto.audio.truncated and auto.hint is None


def test_too_many_windows_or_too_big_a_timeline_is_too_large_before_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job whose windows or timeline would pass the caps gets too_large naming the cap and
    what to change; its batch-mates are labelled."""
    import worker.labeling

    classify = _pipeline("wav2vec2")
    monkeypatch.setattr(worker.labeling, "MAX_WINDOWS", 10)
    window = WindowOptions(window_s=0.5)
    many = _one(classify, _noise(6.0), window).record
    assert many.error is not None and many.error.code == "too_large", many
    assert "12 windows" in many.error.message and "hop_s" in many.error.message
    monkeypatch.setattr(worker.labeling, "MAX_TIMELINE_BYTES", 1000)
    timed = WindowOptions(window_s=1.0, timeline=True)
    big, fine = classify.iter_predictions(
        [_noise(5.0), _noise(5.0)], options=LabelOptions(top_k=0), window=timed
    )
    assert big.record.error is not None and "timeline" in big.record.error.message
    untimed = _one(classify, _noise(5.0), WindowOptions(window_s=1.0)).record
    assert untimed.status == "ok"  # no timeline kept: nothing to cap
    assert fine.record.error is not None  # the same clip, the same cap


def test_a_window_too_short_for_the_model_fails_its_job_alone() -> None:
    """A 10 ms window (160 samples, under the demo model's 620-sample receptive field, as
    wav2vec2-base's 400) is refused by the graph: the job gets a typed error, never a crash, and
    a whole clip after it its labels."""
    classify = pipeline(
        model=str(DEMO_MODEL), dtype="fp32", settings=Settings(local_roots=str(GOLDEN_AUDIO))
    )
    tiny = WindowOptions(window_s=0.01)
    short = _one(classify, _noise(1.0), tiny).record
    assert short.status == "error" and short.error is not None
    assert short.error.code == "inference_failed", short.error
    assert _one(classify, _noise(1.0)).record.status == "ok"


def test_a_windowed_records_infer_s_counts_each_shared_call_once() -> None:
    """Before, a 300-window, 13 s run reported infer_s 129 s: every window added its whole
    call's seconds. Now a record's infer_s is at most the time the call took in all."""
    classify = _pipeline("wav2vec2")
    started = time.perf_counter()
    record = _one(classify, _noise(8.0), WindowOptions(window_s=0.5, hop_s=0.1)).record
    elapsed = time.perf_counter() - started
    assert record.windows is not None and record.windows.count == 76
    assert record.timings.infer_s is not None and 0 < record.timings.infer_s <= elapsed


#: Largest score gap between a streamed window and its samples run alone (issue 22's bound:
#: windows share calls, and fp32 GEMMs of several rows and of one round apart by ~1e-5).
WINDOW_ATOL = 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_every_streamed_window_is_its_samples_run_alone_in_every_family(
    family: str, tmp_path: Path
) -> None:
    """A 4.5 s 44.1 kHz stereo file streamed in 2 s windows every 0.75 s: each window's scores
    are the pipeline's on that window's samples of the whole file's decode (≤ 1e-4), the
    pooled labels their mean, whatever calls the windows shared."""
    rng = np.random.default_rng(9)
    path = tmp_path / "long.wav"
    sf.write(path, (0.1 * rng.standard_normal((int(4.5 * 44_100), 2))).astype(np.float32), 44_100)
    classify = pipeline(
        model=str(model_dir(family)),
        dtype="fp32",
        settings=Settings(local_roots=str(tmp_path)),
    )
    window = WindowOptions(window_s=2.0, hop_s=0.75, timeline=True)
    streamed = _one(classify, str(path), window)
    assert streamed.timeline is not None, streamed.record
    waveform = classify.loader.load(str(path)).waveform
    rate = classify.classifier.sampling_rate
    spans = [(round(w.start_s * rate), round(w.end_s * rate)) for w in streamed.timeline.windows]
    assert spans == window.bounds(len(waveform), rate)
    alone = [
        _scores(_one(classify, {"array": waveform[a:b], "sampling_rate": rate}).record)
        for a, b in spans
    ]
    for window_labels, expected in zip(streamed.timeline.windows, alone, strict=True):
        got = {label.label: label.score for label in window_labels.labels}
        assert max(abs(got[k] - expected[k]) for k in expected) <= WINDOW_ATOL, family
    pooled = _scores(streamed.record)
    mean = {k: float(np.mean([scores[k] for scores in alone])) for k in pooled}
    assert max(abs(pooled[k] - mean[k]) for k in pooled) <= WINDOW_ATOL, family
