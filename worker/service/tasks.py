"""Celery tasks: ``earmark.classify`` (micro-batched) and ``earmark.classify_chunk`` (bulk).

Registered on a worker's app by :func:`register_tasks`, with the batching and time limits of
that worker's settings; each runs the jobs through its process's runner.
"""

from __future__ import annotations

import json
from typing import Any

from celery import Celery
from celery_batches import SimpleRequest
from pydantic import ValidationError

from producer.errors import InvalidId, InvalidMessage, RetryableError
from producer.ids import check_batch_id, check_chunk_id
from producer.messages import CHUNK_TASK, CLASSIFY_TASK, Chunk, Job
from producer.records import ResultRecord
from worker.service.acked_batches import AckedBatches
from worker.service.malformed import parse_jobs
from worker.service.runtime import WorkerRuntime
from worker.service.time_limits import chunk_request


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
        # A chunk holding recordings gets longer (service/time_limits.py).
        time_limit=settings.chunk_time_limit_s,
        Request=chunk_request(settings.chunk_time_limit_s, settings.max_windowed_seconds),
    )
    def classify_chunk(chunk: Any = None, **unexpected: Any) -> None:
        """Classify one bulk chunk (a slice of a manifest, folder or S3 prefix)."""
        if unexpected:  # a foreign producer's misspelling: refused whole, never half-run
            _dead_letter(runtime, chunk, f"unexpected kwargs: {', '.join(sorted(unexpected))}")
            return
        try:
            parsed = Chunk.model_validate(chunk)
        except ValidationError:
            _run_salvaged(runtime, chunk)
            return
        runtime.runner().run_chunk(parsed)


def _run_salvaged(runtime: WorkerRuntime, chunk: object) -> None:
    """A chunk that fails validation: every job with a usable id still gets its record, and a
    chunk with no list of jobs at all is dead-lettered."""
    dead_letters = runtime.runner().state.dead_letters
    if not isinstance(chunk, dict) or not isinstance(chunk.get("jobs"), list):
        _dead_letter(runtime, chunk, "chunk: an object with a 'jobs' list")
        return
    shared = {key: chunk[key] for key in ("batch_id", "top_k", "enqueued_at") if key in chunk}
    defaults = {"window": chunk["window"]} if chunk.get("window") is not None else {}
    jobs, malformed = parse_jobs(chunk["jobs"], shared, dead_letters, defaults)
    _run(runtime, jobs, malformed)
    try:
        batch_id, chunk_id = (
            check_batch_id(chunk.get("batch_id")),
            check_chunk_id(chunk.get("chunk_id")),
        )
    except InvalidId:
        return
    # Every job of it has its record or its dead letter: the sweeper must not send it again.
    runtime.runner().unbook_chunk(batch_id, chunk_id)


def _dead_letter(runtime: WorkerRuntime, chunk: object, reason: str) -> None:
    text = json.dumps(chunk, default=repr)
    runtime.runner().state.dead_letters.push_message(text, InvalidMessage.code, reason)


def _run(runtime: WorkerRuntime, jobs: list[Job], malformed: list[ResultRecord]) -> None:
    runner = runtime.runner()
    runner.run(jobs)
    if malformed:
        runner.finish(malformed)
