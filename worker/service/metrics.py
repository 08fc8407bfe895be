"""The worker's Prometheus metrics, written by each pool process, served by the parent.

Pool processes write their values into files of a folder the parent made before the fork
(worker/service/metrics_values.py); the parent's endpoint (worker/service/metrics_server.py)
adds them up at each scrape, together with the gauges read from the broker then. A process's
:class:`Metrics` are its pipeline's hooks (worker/hooks.py): the pipeline tells them of every
clip it decodes and every model call it makes; the job runner tells them of every record it
writes. The records already carry the per-job stages (queued, fetch, decode); the hooks add what
only a model call knows: its clips, its feature and inference seconds, and the decoded bytes
held until then.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Final

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from producer.records import ResultRecord
from worker.inputs import Clip

#: Stages timed per job from its record's timings.
RECORD_STAGES: Final = ("queued", "fetch", "decode")
#: Every stage ``earmark_stage_seconds`` has: the record's, per model call, per store write.
STAGES: Final = (*RECORD_STAGES, "features", "infer", "store")
#: Histogram buckets of clips per model call.
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128)
#: Histogram buckets of stage seconds: 1 ms to 2 min.
STAGE_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)


class Metrics:
    """What one pool process counts and times; every value lands in the shared folder. Its
    pipeline's hooks (a :class:`worker.hooks.PipelineHooks`)."""

    def __init__(self) -> None:
        # registry=None: the parent's endpoint reads the files, not an in-process registry.
        self.jobs = Counter(
            "earmark_jobs",
            "Result records written, by status and error code (empty for ok).",
            ["status", "code"],
            registry=None,
        )
        self.batch_size = Histogram(
            "earmark_batch_size", "Clips per model call.", buckets=BATCH_BUCKETS, registry=None
        )
        self.stage_seconds = Histogram(
            "earmark_stage_seconds",
            "Seconds per stage: queued, fetch, decode per job; features, infer per model call; "
            "store per write.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=None,
        )
        self.model_load_seconds = Gauge(
            "earmark_model_load_seconds",
            "Seconds the slowest pool process took to load its model.",
            multiprocess_mode="max",
            registry=None,
        )
        self.inflight = InflightBytes(
            Gauge(
                "earmark_inflight_bytes",
                "Bytes of decoded audio held ahead of the model, summed over live processes.",
                multiprocess_mode="livesum",
                registry=None,
            )
        )
        self._stages = {stage: self.stage_seconds.labels(stage=stage) for stage in STAGES}

    def finished(self, records: Sequence[ResultRecord]) -> None:
        """Count records just written, and observe the stages their timings carry."""
        for record in records:
            code = "" if record.error is None else record.error.code
            self.jobs.labels(status=record.status, code=code).inc()
            for stage in RECORD_STAGES:
                seconds = getattr(record.timings, f"{stage}_s")
                if seconds is not None:
                    self._stages[stage].observe(seconds)

    def stored(self, seconds: float) -> None:
        """Observe one write of records to the results store."""
        self._stages["store"].observe(seconds)

    def clip_loaded(self, clip: Clip) -> None:
        """A decoded clip is held ahead of the model (on an I/O thread)."""
        self.inflight.add(int(clip.waveform.nbytes))

    def features_made(self, waveforms: Sequence[np.ndarray], seconds: float) -> None:
        """The waveforms went into a model call: no longer held ahead of the model (their
        seconds are observed with the call's, once it returns)."""
        self.inflight.drop(sum(int(waveform.nbytes) for waveform in waveforms))

    def model_called(self, clips: int, features_s: float, infer_s: float) -> None:
        """Observe one model call: its clips, and its feature and inference seconds."""
        self.batch_size.observe(clips)
        self._stages["features"].observe(features_s)
        self._stages["infer"].observe(infer_s)

    def model_loaded(self, seconds: float) -> None:
        """Record how long this process took to load its model."""
        self.model_load_seconds.set(seconds)


class InflightBytes:
    """Bytes of decoded audio this process holds ahead of the model (I/O threads add to it)."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._held = 0
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        """A clip of `size` bytes was decoded."""
        with self._lock:
            self._held += size
            self._gauge.set(self._held)

    def drop(self, size: int) -> None:
        """Clips of `size` bytes went into the model (never below zero: a retried clip twice)."""
        with self._lock:
            self._held = max(0, self._held - size)
            self._gauge.set(self._held)

    def clear(self) -> None:
        """Nothing is held: a micro-batch or chunk is over."""
        with self._lock:
            self._held = 0
            self._gauge.set(0)
