"""Jobs to records: classify a micro-batch or a chunk, then write each record exactly once.

A job delivered for the first time runs in its batch. A job delivered again (its worker died,
or its batch failed) is a suspect: it runs alone, its attempt counted just before it starts and
its record written just after, so that a crash is charged to the job that caused it; jobs
already finished are not run again. A suspect started more than ``max_attempts`` times gets a
``worker_crashed`` record and goes to the dead-letter list instead of running.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from producer.attempts import Attempts
from producer.dlq import DeadLetters
from producer.ledger import Ledger
from producer.messages import Chunk, Job
from producer.outstanding import Outstanding, chunk_key
from producer.records import ErrorInfo, ResultRecord, Timings
from producer.redact import redact_ref
from producer.results import ResultsStore
from producer.retry import STORE_RETRY, RetryPolicy
from worker.classification import AudioClassificationPipeline
from worker.labeling import LabelOptions

log = logging.getLogger(__name__)

#: Starts of one job before it is dead-lettered (the issue's N).
MAX_ATTEMPTS = 3

Writer = Callable[[list[ResultRecord]], None]


@dataclass
class JobRunner:
    """Runs jobs through one warm pipeline and writes their records and counters."""

    pipeline: AudioClassificationPipeline
    store: ResultsStore
    ledger: Ledger
    attempts: Attempts
    dead_letters: DeadLetters
    outstanding: Outstanding
    worker: str = socket.gethostname()
    max_attempts: int = MAX_ATTEMPTS
    #: Store and ledger writes that fail for a reason that may pass are tried again.
    retry: RetryPolicy = STORE_RETRY

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
        self.retry.call(lambda: self.outstanding.remove(batch_id, [key]))

    def _run(self, jobs: Sequence[Job], write_fresh: Writer) -> None:
        finished = self.ledger.finished_among([job.job_id for job in jobs])
        pending = [job for job in jobs if job.job_id not in finished]
        seen = self.attempts.seen([job.job_id for job in pending])
        fresh = [job for job in pending if seen[job.job_id] == 0]
        if fresh:
            self.attempts.begin([job.job_id for job in fresh])
            self._finish(self._classify(fresh), write_fresh)
        for job in pending:
            if seen[job.job_id] > 0:
                self._run_suspect(job)

    def _run_suspect(self, job: Job) -> None:
        attempt = self.attempts.begin([job.job_id])[job.job_id]
        if attempt <= self.max_attempts:
            self._finish(self._classify([job]), self._put_each)
            return
        log.error(
            "earmark: job %s crashed its worker %d times; dead-lettered", job.job_id, attempt - 1
        )
        self.dead_letters.push(job, "worker_crashed", attempt - 1)
        error = ErrorInfo(
            code="worker_crashed",
            message=f"the worker died {attempt - 1} times while classifying this input",
        )
        record = ResultRecord(input=job.ref, status="error", error=error)
        self._finish([self._complete(job, record, time.time())], self._put_each)

    def _finish(self, records: list[ResultRecord], write: Writer) -> None:
        write(records)
        # Redelivered jobs are written again but counted once; say how many.
        new = self.retry.call(lambda: self.ledger.finish(records))
        log.info("earmark: finished %d jobs (%d repeats)", len(records), len(records) - new)

    def _put_each(self, records: list[ResultRecord]) -> None:
        for record in records:
            self.retry.call(lambda record=record: self.store.put(record))  # type: ignore[misc]

    def _put_chunk(self, chunk: Chunk, records: list[ResultRecord]) -> None:
        self.retry.call(lambda: self.store.put_chunk(chunk.batch_id, chunk.chunk_id, records))

    def _classify(self, jobs: Sequence[Job]) -> list[ResultRecord]:
        started = time.time()
        # All labels once, cut per job: jobs in one batch may ask for different top_k.
        options = LabelOptions(top_k=0, function=self.pipeline.defaults.function)
        records = self.pipeline.iter_records([job.ref for job in jobs], options=options)
        return [self._complete(job, r, started) for job, r in zip(jobs, records, strict=True)]

    def _complete(self, job: Job, record: ResultRecord, started: float) -> ResultRecord:
        top_k = self.pipeline.defaults.top_k if job.top_k is None else job.top_k
        labels = record.labels if record.labels is None or top_k == 0 else record.labels[:top_k]
        timings = Timings(
            queued_s=round(max(0.0, started - job.enqueued_at), 6),
            **record.timings.model_dump(exclude={"queued_s"}),
        )
        return record.model_copy(
            update={
                "job_id": job.job_id,
                "batch_id": job.batch_id,
                "input": redact_ref(job.ref),  # model_copy skips the record's own redaction
                "labels": labels,
                "timings": timings,
                "worker": self.worker,
                "meta": job.meta,
                "model": record.model or self.pipeline.model_info,
            }
        )
