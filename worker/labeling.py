"""Labeling: clips to scored labels, whole or in sliding windows, pooled per clip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from producer.errors import PermanentError
from producer.records import AudioInfo, Label, ModelInfo, Timings, WindowLabels
from worker.classifier import Classifier, Inference
from worker.inputs import Clip
from worker.postprocess import FunctionChoice, resolve_function, to_scores, top_k
from worker.prediction import Prediction
from worker.windows import WindowSpec, pool, window_bounds


@dataclass(frozen=True)
class LabelOptions:
    """What to return per clip: how many labels, and how logits become scores."""

    top_k: int = 1
    function: FunctionChoice = "auto"


@dataclass(frozen=True)
class Outcome:
    """One clip's labels, with its windows when asked for, and what its inference cost."""

    labels: list[Label]
    windows: list[WindowLabels] | None
    infer_s: float
    truncated: bool
    error: PermanentError | None = None

    def predict(self, text: str, clip: Clip, model: ModelInfo) -> Prediction:
        """The clip's prediction: its labels, or why the model could not give any."""
        audio = AudioInfo(**{**clip.audio.model_dump(), "truncated": self.truncated})
        timings = Timings(fetch_s=clip.fetch_s, decode_s=clip.decode_s, infer_s=self.infer_s)
        return Prediction(
            input=text,
            model=model,
            labels=None if self.error is not None else self.labels,
            windows=None if self.error is not None else self.windows,
            audio=audio,
            timings=timings,
            error=self.error,
        )


class Labeler:
    """Labels clips with one classifier, options and (optional) window spec."""

    def __init__(
        self,
        classifier: Classifier,
        options: LabelOptions,
        window: WindowSpec | None,
        max_batch: int,
        max_samples: int | None = None,
    ) -> None:
        self.classifier = classifier
        self.options = options
        self.window = window
        self.max_batch = max_batch
        #: Most padded samples in one model call (EARMARK_MAX_BATCH_SECONDS at the model's rate).
        self.max_samples = max_samples
        self.function = resolve_function(options.function, classifier.model.problem_type)

    def label(self, clips: Sequence[Clip]) -> list[Outcome]:
        """One outcome per clip, in order; all windows of all clips share the model calls."""
        rate = self.classifier.sampling_rate
        bounds = [self._bounds(len(clip.waveform), rate) for clip in clips]
        segments = [
            clip.waveform[a:b] for clip, spans in zip(clips, bounds, strict=True) for a, b in spans
        ]
        inferences = iter(self.classifier.infer(segments, self.max_batch, self.max_samples))
        return [self._outcome(spans, [next(inferences) for _ in spans], rate) for spans in bounds]

    def _bounds(self, length: int, rate: int) -> list[tuple[int, int]]:
        if self.window is None:
            return [(0, length)]
        return window_bounds(length, rate, self.window)

    def _outcome(
        self, spans: list[tuple[int, int]], inferences: list[Inference], rate: int
    ) -> Outcome:
        names = self.classifier.labels
        truncated = any(self.classifier.extractor.truncated(b - a) for a, b in spans)
        infer_s = sum(inf.seconds for inf in inferences)
        failed = next((inf.error for inf in inferences if inf.error is not None), None)
        if failed is not None:
            return Outcome([], None, infer_s, truncated, failed)
        logits = [inf.logits for inf in inferences if inf.logits is not None]
        scores = to_scores(np.stack(logits), self.function)
        pooled = scores[0] if self.window is None else pool(scores, self.window.aggregate)
        windows = None
        if self.window is not None and self.window.per_window:
            windows = [
                WindowLabels(
                    start_s=a / rate, end_s=b / rate, labels=top_k(row, names, self.options.top_k)
                )
                for (a, b), row in zip(spans, scores, strict=True)
            ]
        return Outcome(
            labels=top_k(pooled, names, self.options.top_k),
            windows=windows,
            infer_s=infer_s,
            truncated=truncated,
        )
