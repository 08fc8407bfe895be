"""Hooks: what the pipeline tells an observer, called by the code where each thing happens.

The pipeline core runs without Celery or Prometheus (ARCHITECTURE.md), yet a worker must count
and time what only the pipeline sees: the decoded audio held ahead of the model, and each model
call's clips and seconds. Rather than have the service edge patch the pipeline's parts from
outside, the pipeline calls a :class:`PipelineHooks` it was built with (as httpx calls its
``event_hooks`` and dramatiq its middleware's ``after_process_message``), so a reader of
``classification.py`` and ``classifier.py`` sees every point that is observed, and a rename breaks
mypy rather than a metric. A worker's pool process passes its ``Metrics``
(worker/service/metrics.py); in process, nobody observes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from worker.inputs import Clip


class PipelineHooks(Protocol):
    """An observer of one pipeline: each method is called once per event, and must be cheap.

    ``clip_loaded`` is called on the pipeline's I/O threads, several at once; the others on the
    thread that iterates the pipeline.
    """

    def clip_loaded(self, clip: Clip) -> None:
        """An input was fetched and decoded: its clip is held until its model call takes it."""

    def features_made(self, waveforms: Sequence[np.ndarray], seconds: float) -> None:
        """The waveforms of one model call became its features in `seconds`; the call holds them
        now. A call the graph refuses is made again clip by clip, so a waveform may come twice."""

    def model_called(self, clips: int, features_s: float, infer_s: float) -> None:
        """A model call returned logits for `clips` waveforms: `features_s` to make its features
        (as ``features_made`` said), `infer_s` in ONNX Runtime."""


class NoHooks:
    """The hooks of a pipeline nobody observes: every call does nothing."""

    def clip_loaded(self, clip: Clip) -> None:
        """Nothing to do."""

    def features_made(self, waveforms: Sequence[np.ndarray], seconds: float) -> None:
        """Nothing to do."""

    def model_called(self, clips: int, features_s: float, infer_s: float) -> None:
        """Nothing to do."""


#: The hooks of a pipeline built without any: shared, since they hold nothing.
NO_HOOKS: PipelineHooks = NoHooks()
