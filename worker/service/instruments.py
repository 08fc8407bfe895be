"""Meters around a warm pipeline's parts: the loader, the feature extractor and the model.

The pipeline core runs without Celery or Prometheus (ARCHITECTURE.md), so the service edge
measures it from outside: :func:`instrument` swaps each part for a stand-in that forwards every
call to it and reports what it saw. The worker's own records already carry the per-job stages
(queued, fetch, decode); these add what only a model call knows: its clips, the seconds of its
features and of its inference, and the decoded bytes held until then.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from worker.features import FeatureExtractor
from worker.inputs import AudioInput, Clip, ClipLoader
from worker.model import OnnxClassifier
from worker.pipeline import AudioClassificationPipeline
from worker.service.metrics import Metrics


def instrument(pipeline: AudioClassificationPipeline, metrics: Metrics) -> None:
    """Meter `pipeline`'s loads, feature extraction and model calls into `metrics`."""
    classifier = pipeline.classifier
    extractor = MeteredExtractor(classifier.extractor, metrics)
    # Stand-ins, not subclasses: they forward to the real part, so the casts only tell mypy so.
    classifier.extractor = cast(FeatureExtractor, extractor)
    classifier.model = cast(OnnxClassifier, MeteredModel(classifier.model, extractor, metrics))
    pipeline.loader = cast(ClipLoader, MeteredLoader(pipeline.loader, metrics))


class MeteredLoader:
    """A ClipLoader that adds each decoded clip's bytes to the in-flight gauge."""

    def __init__(self, loader: ClipLoader, metrics: Metrics) -> None:
        self._loader = loader
        self._metrics = metrics

    def load(self, item: AudioInput) -> Clip:
        """The loader's clip, counted as held."""
        clip = self._loader.load(item)
        self._metrics.inflight.add(int(clip.waveform.nbytes))
        return clip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class MeteredExtractor:
    """A feature extractor that times each call and hands its waveforms' bytes on to the model."""

    def __init__(self, extractor: FeatureExtractor, metrics: Metrics) -> None:
        self._extractor = extractor
        self._metrics = metrics
        #: Seconds of the latest call, read by the model call that follows it.
        self.last_s = 0.0

    def __call__(self, waveforms: Sequence[NDArray[Any]]) -> dict[str, NDArray[Any]]:
        """The extractor's features, timed; the waveforms are no longer held ahead of the model."""
        started = time.perf_counter()
        features = self._extractor(waveforms)
        self.last_s = time.perf_counter() - started
        self._metrics.inflight.drop(sum(int(w.nbytes) for w in waveforms))
        return features

    def __getattr__(self, name: str) -> Any:
        return getattr(self._extractor, name)


class MeteredModel:
    """An ONNX classifier whose every successful call is observed: clips, features, infer."""

    def __init__(
        self, model: OnnxClassifier, extractor: MeteredExtractor, metrics: Metrics
    ) -> None:
        self._model = model
        self._extractor = extractor
        self._metrics = metrics

    def run(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model's logits, the call observed."""
        started = time.perf_counter()
        logits = self._model.run(features)
        seconds = time.perf_counter() - started
        self._metrics.model_call(len(logits), self._extractor.last_s, seconds)
        return logits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)
