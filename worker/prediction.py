"""Predictions: one input's answer (labels or an error), made into its result record once.

The pipeline yields a :class:`Prediction` per input; :meth:`Prediction.record` is the only place
a classified input becomes a :class:`ResultRecord`, in process (``earmark classify``) and behind
the queue alike, so every record passes the record's own validation and redaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from producer.errors import EarmarkError
from producer.messages import Job
from producer.records import (
    AudioInfo,
    ErrorInfo,
    Label,
    ModelInfo,
    ResultRecord,
    Timings,
    WindowLabels,
)


@dataclass(frozen=True)
class Prediction:
    """What the pipeline made of one input."""

    #: The input as given (a reference, or ``<bytes>``, ``<array>``, a file's name).
    input: str
    model: ModelInfo
    labels: list[Label] | None = None
    windows: list[WindowLabels] | None = None
    audio: AudioInfo | None = None
    timings: Timings = field(default_factory=Timings)
    error: EarmarkError | None = None

    def record(
        self,
        *,
        top_k: int = 0,
        job: Job | None = None,
        worker: str | None = None,
        started: float | None = None,
    ) -> ResultRecord:
        """The result record: the `top_k` best labels (0: all), with the job's queue fields."""
        labels = self.labels if self.labels is None or top_k == 0 else self.labels[:top_k]
        timings = self.timings
        if job is not None and started is not None:
            queued_s = round(max(0.0, started - job.enqueued_at), 6)
            timings = Timings(**{**timings.model_dump(), "queued_s": queued_s})
        failed = self.error is not None
        return ResultRecord(
            job_id=None if job is None else job.job_id,
            batch_id=None if job is None else job.batch_id,
            input=self.input if job is None else job.ref,
            status="error" if failed else "ok",
            labels=None if failed else labels,
            windows=None if failed else self.windows,
            error=None if self.error is None else ErrorInfo.from_exception(self.error),
            model=self.model,
            audio=self.audio,
            timings=timings,
            worker=worker,
            meta=None if job is None else job.meta,
        )
