"""Jobs to records: classify a micro-batch or a chunk, then write each record exactly once.

A job delivered for the first time runs in its micro-batch or chunk. A job delivered again (its
worker died, or its micro-batch failed) is a suspect: it runs alone, its attempt counted just
before it starts and its record written just after, so that a crash is charged to the job that
caused it; jobs already finished are not run again. A suspect started more than
``max_attempts`` times gets a ``worker_crashed`` record and goes to the dead-letter list instead
of running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from producer.errors import WorkerCrashed
from producer.messages import Chunk, Job
from producer.records import ErrorInfo, ResultRecord, Timings
from producer.state.outstanding import chunk_key
from producer.state.shared import SharedState
from producer.stores import ResultsStore
from producer.timelines import Timeline
from worker.classification import AudioClassificationPipeline
from worker.labeling import LabelOptions
from worker.retry import STORE_RETRY, RetryPolicy
from worker.service.metrics import Metrics

log = logging.getLogger(__name__)

#: Starts of one job before it is dead-lettered.
MAX_ATTEMPTS = 3

Writer = Callable[[list[ResultRecord]], None]


@dataclass
class JobRunner:
    """Runs jobs through one warm pipeline and writes their records and counters."""

    pipeline: AudioClassificationPipeline
    store: ResultsStore
    state: SharedState
    #: The Celery node name written into every record (``earmark-PID@host``).
    worker: str
    max_attempts: int = MAX_ATTEMPTS
    #: Store and ledger writes that fail for a reason that may pass are tried again.
    retry: RetryPolicy = STORE_RETRY
    #: Where records written and store seconds are counted (None: not counted).
    metrics: Metrics | None = None

    def run(self, jobs: Sequence[Job]) -> None:
        """Classify interactive jobs as one micro-batch; write a record per job."""
        self._run(jobs, self._put_each)

    def run_chunk(self, chunk: Chunk) -> None:
        """Classify a bulk chunk; write its first-time records as one shard."""
        self._run(chunk.expand(), lambda records: self._put_chunk(chunk, records))
        self.unbook_chunk(chunk.batch_id, chunk.chunk_id)

    def unbook_chunk(self, batch_id: str, chunk_id: str) -> None:
        """Every job of the chunk has its record: its message need not be sent again."""
        key = chunk_key(batch_id, chunk_id)
        self.retry.call(lambda: self.state.outstanding.remove(batch_id, [key]))

    def finish(self, records: list[ResultRecord]) -> None:
        """Write records made outside the pipeline (malformed messages) and count them."""
        self._finish(records, [], self._put_each)

    def _run(self, jobs: Sequence[Job], write_fresh: Writer) -> None:
        # A message published twice (a sweeper's resend, a producer's retry) can bring one job
        # twice into a micro-batch: it is one job, started and judged once.
        jobs = list({job.job_id: job for job in jobs}.values())
        finished = self.state.ledger.finished_among([job.job_id for job in jobs])
        pending = [job for job in jobs if job.job_id not in finished]
        seen = self.state.attempts.seen([job.job_id for job in pending])
        fresh = [job for job in pending if seen[job.job_id] == 0]
        if fresh:
            self.state.attempts.begin([job.job_id for job in fresh])
        # Clips first, as one micro-batch; then each long recording, its record written as it
        # ends: hours of audio never hold back the records of their batch-mates.
        if whole := [job for job in fresh if job.window is None]:
            self._finish(*self._classify(whole), write_fresh)
        for job in fresh:
            if job.window is not None:
                self._finish(*self._classify([job]), self._put_each)
        for job in pending:
            if seen[job.job_id] > 0:
                self._run_suspect(job)

    def _run_suspect(self, job: Job) -> None:
        attempt = self.state.attempts.begin([job.job_id])[job.job_id]
        if attempt <= self.max_attempts:
            self._finish(*self._classify([job]), self._put_each)
            return
        crashes = attempt - 1
        error = WorkerCrashed(f"the worker died {crashes} times while classifying this input")
        crashed = ResultRecord(
            input=job.ref,
            status="error",
            error=ErrorInfo.from_exception(error),
            model=self.pipeline.model_info,
        )
        # The record first: if writing it fails, the micro-batch comes back and the job is judged
        # again; the dead-letter list takes it once whatever happens (an atomic guard).
        self._finish([self._record(job, crashed, time.time())], [], self._put_each)
        if self.retry.call(lambda: self.state.dead_letters.push(job, WorkerCrashed.code, crashes)):
            log.error(
                "earmark: job %s crashed its worker %d times; dead-lettered",
                job.job_id,
                crashes,
                extra={"job_id": job.job_id, "batch_id": job.batch_id},
            )

    def _finish(
        self, records: list[ResultRecord], timelines: list[tuple[str, Timeline]], write: Writer
    ) -> None:
        started = time.perf_counter()
        # Timelines before the records that name them: a record read is never without its
        # timeline, and a worker killed between the two leaves only a timeline nobody reads,
        # written again whole when the job runs again.
        if timelines:
            self.retry.call(lambda: self.store.put_timelines(timelines))
        write(records)
        stored_s = time.perf_counter() - started
        # Redelivered jobs are written again but counted once; say how many.
        new = self.retry.call(lambda: self.state.ledger.finish(records))
        if self.metrics is not None:
            self.metrics.stored(stored_s)
            self.metrics.finished(records)
        repeats = len(records) - new
        log.info(
            "earmark: finished %d jobs (%d repeats)", len(records), repeats, extra=_batch(records)
        )

    def _put_each(self, records: list[ResultRecord]) -> None:
        for record in records:
            self.retry.call(lambda record=record: self.store.put(record))  # type: ignore[misc]

    def _put_chunk(self, chunk: Chunk, records: list[ResultRecord]) -> None:
        self.retry.call(lambda: self.store.put_chunk(chunk.batch_id, chunk.chunk_id, records))

    def _classify(
        self, jobs: Sequence[Job]
    ) -> tuple[list[ResultRecord], list[tuple[str, Timeline]]]:
        """Each job's record, in order, and the timelines of those that asked for one: clips
        without windows as one micro-batch, or one windowed job (a recording) alone."""
        started = time.time()
        window = jobs[0].window
        if any(job.window != window for job in jobs):
            raise ValueError("jobs with different windows are labelled apart")
        # All labels once, cut per job (jobs may ask for different top_k); a timeline keeps
        # its job's own top_k in every window.
        top_k = 0
        if window is not None and window.timeline:
            top_k = self.pipeline.defaults.top_k if jobs[0].top_k is None else jobs[0].top_k
        options = LabelOptions(top_k=top_k, function=self.pipeline.defaults.function)
        refs = [job.ref for job in jobs]
        predictions = list(self.pipeline.iter_predictions(refs, options=options, window=window))
        if self.metrics is not None:
            self.metrics.inflight.clear()  # every clip loaded has been through the model
        pairs = list(zip(jobs, predictions, strict=True))
        records = [self._record(job, p.record, started) for job, p in pairs]
        timelines = [(job.job_id, p.timeline) for job, p in pairs if p.timeline is not None]
        return records, timelines

    def _record(self, job: Job, record: ResultRecord, started: float) -> ResultRecord:
        """The pipeline's record of the job's input, made the job's: its ``top_k`` best labels
        (0: all), its ids, meta and time queued (to `started`), and this worker's name."""
        top_k = self.pipeline.defaults.top_k if job.top_k is None else job.top_k
        labels = record.labels if record.labels is None or top_k == 0 else record.labels[:top_k]
        queued_s = round(max(0.0, started - job.enqueued_at), 6)
        timings = Timings(**{**record.timings.model_dump(), "queued_s": queued_s})
        # Made anew, never model_copy(update=…): the job's own fields (its ref above all) pass
        # the record's checks and redaction; the pipeline's parts are kept as they are.
        kept = {name: value for name, value in record if name != "finished_at"}
        return ResultRecord.model_validate(
            {
                **kept,
                "job_id": job.job_id,
                "batch_id": job.batch_id,
                "input": job.ref,
                "labels": labels,
                "timings": timings,
                "worker": self.worker,
                "meta": job.meta,
            }
        )


def _batch(records: Sequence[ResultRecord]) -> dict[str, str]:
    """The log context of records of one batch (none when they are of several)."""
    batches = {record.batch_id for record in records}
    only = batches.pop() if len(batches) == 1 else None
    return {} if only is None else {"batch_id": only}
