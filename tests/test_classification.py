"""The in-process pipeline against the reference: every family, every shape of call, any batch."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf

from producer.errors import EarmarkError, NotFound
from producer.settings import Settings
from tests.models import FAMILIES, GOLDEN_AUDIO, golden, model_dir
from worker.classification import AudioClassificationPipeline, pipeline
from worker.labeling import LabelOptions
from worker.postprocess import FunctionChoice
from worker.retry import RetryPolicy

#: Largest score gap to the reference allowed on fp32 graphs (issue: max abs <= 1e-3).
PARITY_ATOL = 1e-3
#: Largest score gap between a clip run alone and in a batch of 16.
BATCH_ATOL = 1e-5


def _settings(**overrides: Any) -> Settings:
    return Settings(local_roots=str(GOLDEN_AUDIO), **overrides)


def _pipeline(name: str, dtype: str = "fp32", **overrides: Any) -> AudioClassificationPipeline:
    return pipeline(model=str(model_dir(name)), dtype=dtype, settings=_settings(**overrides))  # type: ignore[arg-type]


def _clips() -> list[Path]:
    return sorted(GOLDEN_AUDIO.glob("*.wav"))


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_match_the_reference_pipeline(family: str) -> None:
    """Given a 16 kHz mono WAV, every label's score equals transformers' within 1e-3."""
    classify = _pipeline(family)
    reference = golden(family)["clips"]
    for clip in _clips():
        expected = reference[clip.name]["default"]
        ours = classify(str(clip), top_k=0)
        by_label = {entry["label"]: entry["score"] for entry in ours}
        gaps = [abs(by_label[entry["label"]] - entry["score"]) for entry in expected]
        assert max(gaps) <= PARITY_ATOL, f"{family} {clip.name}: {max(gaps):.2e}"
        if expected[0]["score"] - expected[1]["score"] > PARITY_ATOL:
            assert ours[0]["label"] == expected[0]["label"], f"{family} {clip.name}"


@pytest.mark.parametrize("function", ["sigmoid", "none"])
def test_other_score_functions_match_the_reference(function: FunctionChoice) -> None:
    classify = _pipeline("wav2vec2")
    for clip in _clips():
        expected = golden("wav2vec2")["clips"][clip.name][function]
        ours = classify(str(clip), top_k=0, function_to_apply=function)
        assert [e["label"] for e in ours[:3]] == [e["label"] for e in expected[:3]]
        np.testing.assert_allclose(
            [e["score"] for e in ours], [e["score"] for e in expected], atol=PARITY_ATOL
        )


def test_multilabel_model_gets_sigmoid_by_default() -> None:
    classify = _pipeline("ast-multilabel")
    scores = [entry["score"] for entry in classify(str(_clips()[0]), top_k=0)]
    assert abs(sum(scores) - 1.0) > 1e-3  # sigmoid scores do not sum to one


def _mixed_lengths() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    lengths = [3200, 16000, 16000, 8000, 24000, 16000, 4800, 8000, 40000, 3200, 12000, 16000]
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths * 2]


@pytest.mark.parametrize("family", FAMILIES)
def test_batching_never_changes_an_answer(family: str) -> None:
    """Given mixed lengths, every clip's scores at batch 16 equal its scores at batch 1."""
    classify = _pipeline(family)
    clips = [{"array": w, "sampling_rate": 16000} for w in _mixed_lengths()]
    options = LabelOptions(top_k=0)
    alone = list(classify.iter_records(clips, options=options, batch_size=1))
    batched = list(classify.iter_records(clips, options=options, batch_size=16))
    for one, many in zip(alone, batched, strict=True):
        a = {label.label: label.score for label in one.labels or []}
        b = {label.label: label.score for label in many.labels or []}
        assert max(abs(a[k] - b[k]) for k in a) <= BATCH_ATOL, family


def test_int8_batching_never_changes_an_answer() -> None:
    classify = _pipeline("wav2vec2", dtype="q8")
    clips = [{"array": w, "sampling_rate": 16000} for w in _mixed_lengths()]
    alone = [classify(clip, top_k=0) for clip in clips[:6]]
    batched = classify(clips[:6], top_k=0, batch_size=16)
    assert alone == batched


def test_shapes_follow_the_contract() -> None:
    classify = _pipeline("wav2vec2")
    clip = str(_clips()[0])
    one = classify(clip)
    assert set(one) == {"label", "score"}
    assert len(classify(clip, top_k=4)) == 4
    many = classify([clip, clip])
    assert [entry["label"] for entry in many] == [one["label"]] * 2
    assert [entry["score"] for entry in many] == pytest.approx([one["score"]] * 2, abs=BATCH_ATOL)


def test_every_input_kind_gives_the_same_answer() -> None:
    classify = _pipeline("wav2vec2")
    path = _clips()[0]
    data = path.read_bytes()
    samples, rate = sf.read(path, dtype="float32")
    answers = [
        classify(str(path)),
        classify(path.as_uri()),
        classify(data),
        classify(io.BytesIO(data)),
        classify({"array": samples, "sampling_rate": rate}),
    ]
    assert all(answer == answers[0] for answer in answers)


def test_a_failed_input_does_not_fail_the_others() -> None:
    classify = _pipeline("wav2vec2")
    good = str(_clips()[0])
    results = classify([good, str(GOLDEN_AUDIO / "missing.wav"), b"not audio", good])
    assert results[0] == results[3]
    assert results[1]["error"]["code"] == "not_found"
    assert results[2]["error"]["code"] in ("unsupported_format", "decode_failed")


#: References that urlsplit, a decoded %00 or a redirect's Location once turned into a ValueError
#: that failed the whole batch (and killed `earmark classify`).
MALFORMED = ["http://[::1/x.wav", "http://[zz]/x.wav", "file://[x/a.wav", "file:///a%00b.wav"]


def test_a_malformed_reference_fails_alone(http_server: Any) -> None:
    """Given good, bad, good, …, each bad reference gets invalid_ref and the good ones labels."""
    classify = _pipeline("wav2vec2", url_allow_private=True)
    good = str(_clips()[0])
    redirect = http_server.url("/redirect?to=" + quote("http://[::1", safe=""))
    inputs = [good, *(x for bad in [*MALFORMED, redirect] for x in (bad, good))]
    records = list(classify.iter_records(inputs))
    assert [r.input for r in records] == inputs
    assert [r.status for r in records] == ["ok", "error"] * 5 + ["ok"]
    assert {r.error.code for r in records if r.error is not None} == {"invalid_ref"}


def test_an_unexpected_error_fails_its_input_alone(caplog: pytest.LogCaptureFixture) -> None:
    """Given an input whose loading raises no earmark error (a closed file: ValueError), that
    input alone gets code "internal", chained to the cause, with the traceback in the log."""
    classify = _pipeline("wav2vec2")
    good, closed = str(_clips()[0]), io.BytesIO(_clips()[0].read_bytes())
    closed.close()
    records = list(classify.iter_records([good, closed, good]))
    assert [r.status for r in records] == ["ok", "error", "ok"]
    assert records[1].error is not None and records[1].error.code == "internal"
    assert "Traceback" in caplog.text and "ValueError: I/O operation on closed file" in caplog.text
    with pytest.raises(EarmarkError) as raised:
        classify(closed)
    assert raised.value.code == "internal" and isinstance(raised.value.__cause__, ValueError)


def test_a_single_failed_input_raises_its_typed_error() -> None:
    with pytest.raises(NotFound):
        _pipeline("wav2vec2")(str(GOLDEN_AUDIO / "missing.wav"))


def test_record_describes_the_audio_and_truncation() -> None:
    classify = _pipeline("ast")
    long = np.zeros((16000 * 3, 2), np.float32)
    long[:, 0] = 0.1
    buffer = io.BytesIO()
    sf.write(buffer, long, 16000, format="WAV")
    (record,) = classify.iter_records([buffer.getvalue()])
    assert record.audio is not None
    assert (record.audio.channels, record.audio.sample_rate) == (2, 16000)
    assert record.audio.duration_s == pytest.approx(3.0)
    assert record.audio.truncated  # the tiny AST takes fewer frames than 3 s


def test_sliding_windows_label_a_long_recording() -> None:
    from producer.windowing import WindowOptions

    classify = _pipeline("wav2vec2")
    rng = np.random.default_rng(3)
    recording = {
        "array": rng.standard_normal(16000 * 20).astype(np.float32),
        "sampling_rate": 16000,
    }
    spec = WindowOptions(window_s=1.0, hop_s=0.5, aggregate="max", timeline=True)
    (prediction,) = classify.iter_predictions(
        [recording], options=LabelOptions(top_k=2), window=spec
    )
    record, timeline = prediction.record, prediction.timeline
    assert record.windows is not None and record.windows.count == 39
    assert timeline is not None and len(timeline.windows) == 39
    assert timeline.windows[-1].end_s == pytest.approx(20.0)
    assert record.windows.segments == len(timeline.segments) >= 1
    best = max(w.labels[0].score for w in timeline.windows)
    assert record.labels is not None and record.labels[0].score == pytest.approx(best)


@pytest.mark.parametrize("family", ["data2vec-audio", "wav2vec2-conformer"])
def test_padding_would_change_the_families_kept_to_equal_lengths(family: str) -> None:
    """Why these families bucket by length: padding them, even with the mask, moves scores."""
    from worker.batching import BatchMode

    classifier = _pipeline(family).classifier
    assert classifier.mode is BatchMode.BUCKET
    short, long = _mixed_lengths()[0], _mixed_lengths()[8]
    alone = classifier.infer([short], 1)[0].logits
    classifier.mode = BatchMode.PAD
    padded = classifier.infer([short, long], 2)[0].logits
    assert alone is not None and padded is not None
    assert np.abs(alone - padded).max() > 1e-4


def test_a_clip_too_short_for_the_graph_fails_alone() -> None:
    """Given a 0.5 ms clip among good ones, it alone fails; its batch-mates finish."""
    classify = _pipeline("wav2vec2")
    waves = _mixed_lengths()[:4]
    clips = [{"array": w, "sampling_rate": 16000} for w in [waves[0], waves[1][:8], *waves[1:]]]
    records = list(classify.iter_records(clips, batch_size=16))
    assert [r.status for r in records] == ["ok", "error", "ok", "ok", "ok"]
    assert records[1].error is not None and records[1].error.code == "inference_failed"


def test_a_fetch_that_fails_for_a_while_is_retried(http_server: Any) -> None:
    """Given a URL that answers 503 twice, the pipeline retries and classifies it."""
    clip = _clips()[0]
    shutil.copy(clip, http_server.root / clip.name)
    classify = _pipeline("wav2vec2", url_allow_private=True)
    fast = RetryPolicy(attempts=3, base_s=0.01)
    classify.loader = dataclasses.replace(classify.loader, retry=fast)
    flaky = http_server.url(f"/flaky/retry-test?fail=2&file={clip.name}")
    assert classify(flaky) == classify(str(clip))
    gone = http_server.url(f"/flaky/retry-gone?fail=99&file={clip.name}")
    (record,) = classify.iter_records([gone])
    assert record.error is not None and record.error.code == "fetch_failed"
