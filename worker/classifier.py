"""Waveforms to logits: features and model calls, batched so that batching changes no answer
(unless EARMARK_BATCHING=padded trades a bounded change for bigger calls)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from producer.errors import InferenceFailed, ModelError, PermanentError, TooLarge
from producer.settings import Batching
from worker.batching import BatchMode, plan_calls, widen
from worker.call_memory import CallBound, call_memory
from worker.features import FeatureExtractor, feature_extractor_from_config
from worker.hooks import NO_HOOKS, PipelineHooks
from worker.hub import ModelFiles
from worker.model import OnnxModel, SessionOptions


@dataclass(frozen=True)
class Inference:
    """One waveform's logits (or why it has none), and the model call that gave them: its number
    (waveforms of one call share it) and the seconds it took."""

    logits: np.ndarray | None
    seconds: float
    error: PermanentError | None = None
    call: int = -1


class Classifier:
    """A model with its feature extractor: waveforms at ``sampling_rate`` in, logits out."""

    def __init__(
        self,
        files: ModelFiles,
        session: SessionOptions | None = None,
        batching: Batching = "exact",
        max_call_mb: int = 0,
        hooks: PipelineHooks = NO_HOOKS,
    ) -> None:
        self.files = files
        #: Told of every model call: its features and its inference (worker/hooks.py).
        self.hooks = hooks
        self.model = OnnxModel(files, session)
        self.extractor: FeatureExtractor = feature_extractor_from_config(files.preprocessor)
        exact = batch_mode(self.model, self.extractor, files.config.get("model_type"))
        #: How clips share calls: the exact mode, widened to NEAR where `padded` allows it.
        self.mode = widen(exact, batching)
        #: Refuses a clip whose call alone would need more than ``max_call_mb`` MB (0: never).
        fixed = self.extractor.fixed_length  # every clip is padded or cut to one length
        memory = None if fixed else call_memory(files.config, files.preprocessor)
        self.call_bound = CallBound(memory, max_call_mb, self.extractor.sampling_rate)
        self._calls = itertools.count()

    @property
    def labels(self) -> list[str]:
        """Label names in logit order."""
        return self.model.labels

    @property
    def sampling_rate(self) -> int:
        """The rate the feature extractor expects, in Hz."""
        return self.extractor.sampling_rate

    def infer(
        self, waveforms: Sequence[np.ndarray], max_batch: int, max_samples: int | None = None
    ) -> list[Inference]:
        """Logits for every waveform, in input order, with at most ``max_batch`` per call.

        A call the graph refuses is made again one clip at a time, so one bad clip fails alone;
        a clip over the call bound fails before any call.
        """
        results = self._refused(waveforms)
        kept = [i for i in range(len(waveforms)) if i not in results]
        for planned in plan_calls(
            [len(waveforms[i]) for i in kept], max_batch, self.mode, max_samples
        ):
            call = [kept[i] for i in planned]
            try:
                results.update(self._run(waveforms, call))
            except InferenceFailed:
                for index in call:
                    results.update(self._run_alone(waveforms, index))
        return [results[i] for i in range(len(waveforms))]

    def _refused(self, waveforms: Sequence[np.ndarray]) -> dict[int, Inference]:
        refused: dict[int, Inference] = {}
        for index, waveform in enumerate(waveforms):
            try:
                self.call_bound.check(len(waveform))
            except TooLarge as e:
                refused[index] = Inference(None, 0.0, e)
        return refused

    def _run(self, waveforms: Sequence[np.ndarray], call: list[int]) -> dict[int, Inference]:
        started = time.perf_counter()
        chosen = [waveforms[i] for i in call]
        with _refusals_fail():
            features = self.extractor(chosen)
        called = time.perf_counter()
        self.hooks.features_made(chosen, called - started)
        with _refusals_fail():
            logits = self.model.run(features)
        self.hooks.model_called(len(logits), called - started, time.perf_counter() - called)
        if not np.isfinite(logits).all():
            raise InferenceFailed("the model gave non-finite scores (is the clip too short?)")
        seconds, number = time.perf_counter() - started, next(self._calls)
        return {
            index: Inference(logits[row], seconds, call=number) for row, index in enumerate(call)
        }

    def _run_alone(self, waveforms: Sequence[np.ndarray], index: int) -> dict[int, Inference]:
        try:
            return self._run(waveforms, [index])
        except InferenceFailed as e:
            return {index: Inference(None, 0.0, e)}


@contextmanager
def _refusals_fail() -> Iterator[None]:
    """Turns what the features or the graph raise for an input they cannot take into
    InferenceFailed (ONNX Runtime raises untyped errors for shapes it cannot take)."""
    try:
        yield
    except ModelError:
        raise
    except Exception as e:
        raise InferenceFailed(f"the model refused this input: {e}") from e


#: Families whose graphs hide padding completely behind the attention mask, proven per family by
#: tests/test_classification.py. Not data2vec-audio (its stacked positional convolutions refill
#: padded frames between layers) nor wav2vec2-conformer (its depthwise convolution reads padding):
#: padding changes their scores, so they batch equal lengths only.
MASK_SAFE_MODEL_TYPES = frozenset({"wav2vec2", "wavlm", "unispeech", "wav2vec2-bert"})


def batch_mode(model: OnnxModel, extractor: FeatureExtractor, model_type: str | None) -> BatchMode:
    """The widest batching that leaves every clip's scores as they are alone."""
    if model.quantizes_activations:
        return BatchMode.SINGLE
    if extractor.fixed_length:
        return BatchMode.STACK
    masked = model.takes_attention_mask and extractor.returns_attention_mask
    if masked and model_type in MASK_SAFE_MODEL_TYPES:
        return BatchMode.PAD
    return BatchMode.BUCKET
