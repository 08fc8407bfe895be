"""Celery tasks: ``earmark.classify`` (micro-batched) and ``earmark.classify_chunk`` (bulk).

Registered on a worker's app by :func:`register_tasks`, with the batching and time limits of
that worker's settings; each runs the jobs through its process's runner.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery_batches import SimpleRequest
from pydantic import ValidationError

from producer.errors import RetryableError
from producer.messages import CHUNK_TASK, CLASSIFY_TASK, Chunk, Job
from producer.records import ResultRecord
from worker.service.acked_batches import AckedBatches
from worker.service.malformed import parse_jobs
from worker.service.runtime import WorkerRuntime


def register_tasks(app: Celery, runtime: WorkerRuntime) -> None:
    """Register both tasks on `app`, run through `runtime`'s job runner."""
    settings = runtime.settings

    @app.task(
        base=AckedBatches,
        name=CLASSIFY_TASK,
        flush_every=settings.max_batch,
        flush_interval=settings.max_wait_ms / 1000,
    )
    def classify(requests: list[SimpleRequest]) -> bool:
        """Classify a micro-batch of interactive jobs; True once every record is written."""
        bodies = [request.kwargs.get("job") for request in requests]
        jobs, malformed = parse_jobs(bodies, {}, runtime.runner().state.dead_letters)
        _run(runtime, jobs, malformed)
        return True

    @app.task(
        name=CHUNK_TASK,
        autoretry_for=(RetryableError,),
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=10,
        # Killed past it; the chunk's message, still booked, is sent again by the sweeper and
        # its unfinished jobs then run one at a time, each attempt counted (service/jobs.py).
        time_limit=settings.chunk_time_limit_s,
    )
    def classify_chunk(chunk: dict[str, Any]) -> None:
        """Classify one bulk chunk (a slice of a manifest, folder or S3 prefix)."""
        try:
            parsed = Chunk.model_validate(chunk)
        except ValidationError:
            _run_salvaged(runtime, chunk)
            return
        runtime.runner().run_chunk(parsed)


def _run_salvaged(runtime: WorkerRuntime, chunk: Any) -> None:
    """A chunk that fails validation: every job with a usable id still gets its record."""
    shared: dict[str, Any] = {}
    if isinstance(chunk, dict):
        shared = {key: chunk[key] for key in ("batch_id", "top_k", "enqueued_at") if key in chunk}
    items = chunk.get("jobs") if isinstance(chunk, dict) else None
    bodies = items if isinstance(items, list) else []
    jobs, malformed = parse_jobs(bodies, shared, runtime.runner().state.dead_letters)
    _run(runtime, jobs, malformed)


def _run(runtime: WorkerRuntime, jobs: list[Job], malformed: list[ResultRecord]) -> None:
    runner = runtime.runner()
    runner.run(jobs)
    if malformed:
        runner.finish(malformed)
