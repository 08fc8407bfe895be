"""Labeling: clips to their result records, whole or in sliding windows pooled per clip.

The pipeline's stages, as transformers names them: the pipeline's ``_preprocess`` loads a clip;
:meth:`Labeler.label` runs each clip's windows through the model (``_forward``, all clips
sharing the calls) and turns their logits into the clip's record (``_postprocess``). The record
is the one answer an input has, in process and behind the queue alike; a :class:`Prediction`
adds only what the record cannot hold: the error itself, for a single-input call to raise, and
the timeline, which a store keeps beside the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from producer.errors import EarmarkError, TooLarge
from producer.records import (
    AudioInfo,
    ErrorInfo,
    Label,
    ModelInfo,
    ResultRecord,
    Timings,
    WindowSummary,
)
from producer.timelines import Timeline, WindowLabels, merge_segments
from producer.windowing import MAX_TIMELINE_BYTES, MAX_WINDOWS, WindowOptions
from worker.classifier import Classifier, Inference
from worker.inputs import Clip
from worker.postprocess import FunctionChoice, resolve_function, to_scores, top_k
from worker.windows import natural_window, needs_window, pool, untruncated_samples

#: A clip's windows, as sample ranges (one range, the whole clip, when it is not windowed).
Spans = list[tuple[int, int]]
#: Bytes of JSON one label of a timeline's window takes, about: to refuse an oversized timeline
#: before it is built.
_LABEL_JSON_BYTES = 48


@dataclass(frozen=True)
class LabelOptions:
    """What to return per clip: how many labels, and how logits become scores."""

    top_k: int = 1
    function: FunctionChoice = "auto"


@dataclass(frozen=True)
class Prediction:
    """One input's result record, with the error it failed with (the record keeps only its code
    and message; ``classify(one_input)`` raises the error itself, cause and type intact) and its
    timeline when one was asked for."""

    record: ResultRecord
    error: EarmarkError | None = None
    timeline: Timeline | None = None


def failed(text: str, model: ModelInfo, error: EarmarkError, *, whole: bool = False) -> Prediction:
    """The prediction of an input that failed before the model: its error, and for a clip
    refused whole as too long or too large (`whole`), the option that would label it."""
    hint = None
    if whole and isinstance(error, TooLarge):
        hint = (
            "too long or too large to decode whole: ask for windows (window_s, or --window);"
            " a windowed job streams up to EARMARK_MAX_WINDOWED_SECONDS and _BYTES"
        )
    record = ResultRecord(
        input=text, status="error", error=ErrorInfo.from_exception(error), model=model, hint=hint
    )
    return Prediction(record, error)


@dataclass(frozen=True)
class _Plan:
    """How one clip goes through the model: its windows (None: whole), their sample ranges,
    whether the auto policy chose them, and why it cannot go at all."""

    window: WindowOptions | None
    spans: Spans
    count: int = 1
    auto: bool = False
    refusal: EarmarkError | None = None


class Labeler:
    """Labels clips with one classifier, options and (optional) window options."""

    def __init__(
        self,
        classifier: Classifier,
        options: LabelOptions,
        window: WindowOptions | None,
        max_batch: int,
        max_samples: int | None = None,
        *,
        model: ModelInfo,
        auto_windows: bool = False,
    ) -> None:
        self.classifier = classifier
        self.options = options
        self.window = window
        self.max_batch = max_batch
        #: Most padded samples in one model call (EARMARK_MAX_BATCH_SECONDS at the model's rate).
        self.max_samples = max_samples
        #: Which model the records name.
        self.model = model
        #: EARMARK_WINDOWS=auto: window what the model cannot take whole, at its natural length.
        self.auto_windows = auto_windows
        self.function = resolve_function(options.function, classifier.model.problem_type)
        self._fixed = untruncated_samples(classifier.extractor)
        self._longest = classifier.call_bound.longest_samples

    def label(self, clips: Sequence[tuple[str, Clip]]) -> list[Prediction]:
        """One prediction per (input text, clip), in order; all windows of all clips share the
        model calls."""
        plans = [self._plan(len(clip.waveform)) for _, clip in clips]
        inferences = iter(self._forward([clip for _, clip in clips], plans))
        return [
            self._postprocess(text, clip, plan, [next(inferences) for _ in plan.spans])
            for (text, clip), plan in zip(clips, plans, strict=True)
        ]

    def _plan(self, length: int) -> _Plan:
        rate = self.classifier.sampling_rate
        window, auto = self.window, False
        if (
            window is None
            and self.auto_windows
            and needs_window(length, self._fixed, self._longest)
        ):
            window, auto = natural_window(self._fixed, self._longest, rate), True
        if window is None:
            return _Plan(None, [(0, length)])
        count = window.count(length, rate)
        refusal = self.refusal(window, count)
        spans = [] if refusal else window.bounds(length, rate)
        return _Plan(window, spans, count, auto, refusal)

    def refusal(self, window: WindowOptions, count: int) -> EarmarkError | None:
        """Why a clip cut into `count` windows is refused before the model: too many windows,
        or a timeline over its byte cap (both say what to change)."""
        if count > MAX_WINDOWS:
            return TooLarge(
                f"{count:,} windows of {window.window_s:g} s every {window.hop:g} s, over the"
                f" {MAX_WINDOWS:,}-window cap: raise hop_s"
            )
        labels = self.options.top_k or len(self.classifier.labels)
        size = count * max(1, labels) * _LABEL_JSON_BYTES
        if window.timeline and size > MAX_TIMELINE_BYTES:
            return TooLarge(
                f"a timeline of {count:,} windows of {labels} labels is about {size:,} bytes, over"
                f" the {MAX_TIMELINE_BYTES:,}-byte cap: raise hop_s or lower top_k"
            )
        return None

    def _forward(self, clips: Sequence[Clip], plans: Sequence[_Plan]) -> list[Inference]:
        """Every window of every clip through the model, in order."""
        segments = [
            clip.waveform[a:b]
            for clip, plan in zip(clips, plans, strict=True)
            for a, b in plan.spans
        ]
        return self.classifier.infer(segments, self.max_batch, self.max_samples)

    def _postprocess(
        self, text: str, clip: Clip, plan: _Plan, inferences: list[Inference]
    ) -> Prediction:
        """The clip's record: its labels (pooled over its windows), or why the model gave none."""
        truncated = any(self.classifier.extractor.truncated(b - a) for a, b in plan.spans)
        # Windows that shared a model call count its seconds once.
        infer_s = sum({inference.call: inference.seconds for inference in inferences}.values())
        error = plan.refusal or next((i.error for i in inferences if i.error is not None), None)
        labels, timeline = None, None
        if error is None:
            logits = np.stack([inf.logits for inf in inferences if inf.logits is not None])
            labels, timeline = self._labels(to_scores(logits, self.function), plan)
        record = ResultRecord(
            input=text,
            status="ok" if error is None else "error",
            labels=labels,
            windows=None
            if plan.window is None
            else window_summary(plan.window, plan.count, timeline, plan.auto),
            error=None if error is None else ErrorInfo.from_exception(error),
            model=self.model,
            audio=AudioInfo(**{**clip.audio.model_dump(), "truncated": truncated}),
            timings=Timings(fetch_s=clip.fetch_s, decode_s=clip.decode_s, infer_s=infer_s),
            hint=self._hint(plan, truncated, error),
        )
        return Prediction(record, error, timeline)

    def _labels(self, scores: np.ndarray, plan: _Plan) -> tuple[list[Label], Timeline | None]:
        """The top labels of the pooled scores, and the timeline when asked for."""
        names, k = self.classifier.labels, self.options.top_k
        if plan.window is None:
            return top_k(scores[0], names, k), None
        pooled = top_k(pool(scores, plan.window.aggregate), names, k)
        if not plan.window.timeline:
            return pooled, None
        rate = self.classifier.sampling_rate
        windows = [
            WindowLabels(start_s=a / rate, end_s=b / rate, labels=top_k(row, names, k))
            for (a, b), row in zip(plan.spans, scores, strict=True)
        ]
        return pooled, Timeline(
            windows=windows, segments=merge_segments(windows, plan.window.threshold)
        )

    def _hint(self, plan: _Plan, truncated: bool, error: EarmarkError | None) -> str | None:
        """What would have labelled the whole input, when it was cut or refused as too long."""
        if plan.window is not None or not (truncated or isinstance(error, TooLarge)):
            return None
        rate = self.classifier.sampling_rate
        natural = natural_window(self._fixed, self._longest, rate)
        size = f" of at most {natural.window_s:g} s" if natural else ""
        done = "labelled from its start only" if truncated else "too long for one model call"
        return (
            f"{done}: ask for windows{size} (window_s, or --window) to label all of it, or set"
            " EARMARK_WINDOWS=auto on the workers"
        )


def window_summary(
    window: WindowOptions, count: int, timeline: Timeline | None, auto: bool = False
) -> WindowSummary:
    """What the record says of its windows; the timeline itself is stored beside it."""
    return WindowSummary(
        window_s=window.window_s,
        hop_s=window.hop,
        aggregate=window.aggregate,
        count=count,
        auto=auto,
        timeline=timeline is not None,
        segments=None if timeline is None else len(timeline.segments),
    )
