"""Labeling: clips to their result records, whole or in sliding windows pooled per clip.

The pipeline's stages, as transformers names them: the pipeline's ``_preprocess`` loads a clip;
:meth:`Labeler.label` runs each clip's windows through the model (``_forward``, all clips
sharing the calls) and turns their logits into the clip's record (``_postprocess``). The record
is the one answer an input has, in process and behind the queue alike; a :class:`Prediction`
adds only what the record cannot hold: the error itself, for a single-input call to raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from producer.errors import EarmarkError
from producer.records import (
    AudioInfo,
    ErrorInfo,
    Label,
    ModelInfo,
    ResultRecord,
    Timings,
    WindowLabels,
)
from worker.classifier import Classifier, Inference
from worker.inputs import Clip
from worker.postprocess import FunctionChoice, resolve_function, to_scores, top_k
from worker.windows import WindowSpec, pool, window_bounds

#: A clip's windows, as sample ranges (one range, the whole clip, when it is not windowed).
Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class LabelOptions:
    """What to return per clip: how many labels, and how logits become scores."""

    top_k: int = 1
    function: FunctionChoice = "auto"


@dataclass(frozen=True)
class Prediction:
    """One input's result record, with the error it failed with (the record keeps only its code
    and message; ``classify(one_input)`` raises the error itself, cause and type intact)."""

    record: ResultRecord
    error: EarmarkError | None = None


def failed(text: str, model: ModelInfo, error: EarmarkError) -> Prediction:
    """The prediction of an input that failed before the model: its error, nothing else."""
    record = ResultRecord(
        input=text, status="error", error=ErrorInfo.from_exception(error), model=model
    )
    return Prediction(record, error)


class Labeler:
    """Labels clips with one classifier, options and (optional) window spec."""

    def __init__(
        self,
        classifier: Classifier,
        options: LabelOptions,
        window: WindowSpec | None,
        max_batch: int,
        max_samples: int | None = None,
        *,
        model: ModelInfo,
    ) -> None:
        self.classifier = classifier
        self.options = options
        self.window = window
        self.max_batch = max_batch
        #: Most padded samples in one model call (EARMARK_MAX_BATCH_SECONDS at the model's rate).
        self.max_samples = max_samples
        #: Which model the records name.
        self.model = model
        self.function = resolve_function(options.function, classifier.model.problem_type)

    def label(self, clips: Sequence[tuple[str, Clip]]) -> list[Prediction]:
        """One prediction per (input text, clip), in order; all windows of all clips share the
        model calls."""
        rate = self.classifier.sampling_rate
        spans = [self._spans(len(clip.waveform), rate) for _, clip in clips]
        inferences = iter(self._forward([clip for _, clip in clips], spans))
        return [
            self._postprocess(text, clip, cuts, [next(inferences) for _ in cuts], rate)
            for (text, clip), cuts in zip(clips, spans, strict=True)
        ]

    def _spans(self, length: int, rate: int) -> Spans:
        if self.window is None:
            return [(0, length)]
        return window_bounds(length, rate, self.window)

    def _forward(self, clips: Sequence[Clip], spans: Sequence[Spans]) -> list[Inference]:
        """Every window of every clip through the model, in order."""
        segments = [
            clip.waveform[a:b] for clip, cuts in zip(clips, spans, strict=True) for a, b in cuts
        ]
        return self.classifier.infer(segments, self.max_batch, self.max_samples)

    def _postprocess(
        self, text: str, clip: Clip, spans: Spans, inferences: list[Inference], rate: int
    ) -> Prediction:
        """The clip's record: its labels (pooled over its windows), or why the model gave none."""
        truncated = any(self.classifier.extractor.truncated(b - a) for a, b in spans)
        infer_s = sum(inference.seconds for inference in inferences)
        error = next((inf.error for inf in inferences if inf.error is not None), None)
        labels: list[Label] | None = None
        windows: list[WindowLabels] | None = None
        if error is None:
            logits = np.stack([inf.logits for inf in inferences if inf.logits is not None])
            labels, windows = self._labels(to_scores(logits, self.function), spans, rate)
        record = ResultRecord(
            input=text,
            status="ok" if error is None else "error",
            labels=labels,
            windows=windows,
            error=None if error is None else ErrorInfo.from_exception(error),
            model=self.model,
            audio=AudioInfo(**{**clip.audio.model_dump(), "truncated": truncated}),
            timings=Timings(fetch_s=clip.fetch_s, decode_s=clip.decode_s, infer_s=infer_s),
        )
        return Prediction(record, error)

    def _labels(
        self, scores: np.ndarray, spans: Spans, rate: int
    ) -> tuple[list[Label], list[WindowLabels] | None]:
        """The top labels of the pooled scores, and of each window when asked for."""
        names, k = self.classifier.labels, self.options.top_k
        pooled = scores[0] if self.window is None else pool(scores, self.window.aggregate)
        windows = None
        if self.window is not None and self.window.per_window:
            windows = [
                WindowLabels(start_s=a / rate, end_s=b / rate, labels=top_k(row, names, k))
                for (a, b), row in zip(spans, scores, strict=True)
            ]
        return top_k(pooled, names, k), windows
