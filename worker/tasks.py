"""Celery tasks: ``earmark.classify`` (micro-batched) and ``earmark.classify_chunk`` (bulk).

The model loads once per worker process, after the fork, in ``worker_process_init``; a pool
child is up (and the worker ready) only once its session is loaded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import redis
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_received,
    worker_process_init,
    worker_ready,
)
from celery_batches import SimpleRequest
from pydantic import ValidationError

from producer.attempts import Attempts
from producer.broker import HEARTBEAT_S
from producer.client import open_ledger
from producer.dlq import DeadLetters
from producer.errors import RetryableError
from producer.messages import BULK_QUEUE, CHUNK_TASK, CLASSIFY_TASK, INTERACTIVE_QUEUE, Chunk, Job
from producer.outstanding import Outstanding
from producer.records import ResultRecord
from producer.redact import RedactingFilter
from producer.results import open_store
from producer.settings import Settings
from worker.app import PROCESS_START_TIMEOUT_S, make_worker_app
from worker.batches import AckedBatches
from worker.classification import pipeline
from worker.heartbeat import Heartbeat
from worker.jobs import JobRunner
from worker.malformed import parse_jobs
from worker.model import SessionOptions
from worker.periodic import Periodic
from worker.readiness import ReadinessPipe
from worker.sweeper import Sweeper

log = logging.getLogger(__name__)

#: Seconds past a chunk's time limit that the worker still keeps its message invisible: the pool
#: kills a chunk at its limit, so a message held longer belongs to a stuck or lost process and is
#: let go, to be delivered again; a running chunk is never delivered twice.
HOLD_MARGIN_S = 60.0

settings = Settings()
app = make_worker_app(settings)
_runner: JobRunner | None = None
#: Made before the pool forks, so that every child can report on it.
readiness = ReadinessPipe()
#: Pool processes the parent waits for; `earmark worker` sets it from --concurrency.
expected_processes = 1
#: Keeps the messages this worker holds invisible while it lives (see worker/heartbeat.py).
heartbeat = Heartbeat(
    redis.Redis.from_url(settings.broker_url), settings.chunk_time_limit_s + HOLD_MARGIN_S
)


def runner() -> JobRunner:
    """This process's job runner, with its warm ONNX session; built on first use."""
    global _runner
    if _runner is None:
        _runner = build_runner(settings)
    return _runner


def build_runner(settings: Settings) -> JobRunner:
    """A runner for these settings: pipeline, results store and batch ledger."""
    session = SessionOptions(intra_op_threads=settings.intra_op_threads)
    classify = pipeline(settings=settings, session=session)
    store = open_store(settings.results_url, ttl_s=settings.result_ttl_s)
    broker = redis.Redis.from_url(settings.broker_url)
    ledger = open_ledger(settings)
    info = classify.model_info
    log.info("earmark: %s (%s) loaded in process %d", info.id, info.dtype, os.getpid())
    outstanding = Outstanding(ledger.client, ledger.ttl_s)
    return JobRunner(classify, store, ledger, Attempts(broker), DeadLetters(broker), outstanding)


def _republish(task: str, kwargs: dict[str, Any], key: str) -> None:
    app.send_task(task, kwargs=kwargs, kwargsrepr=key)


def build_sweeper(settings: Settings) -> Sweeper:
    """The sweeper that sends lost messages again (see worker/sweeper.py)."""
    ledger = open_ledger(settings)
    return Sweeper(
        redis.Redis.from_url(settings.broker_url),
        Outstanding(ledger.client, ledger.ttl_s),
        _republish,
        [INTERACTIVE_QUEUE, BULK_QUEUE],
    )


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: Any = None, **_: Any) -> None:
    # Third-party debug logs quote pre-signed URLs and signing headers: mask them at the handler.
    for handler in getattr(logger, "handlers", []):
        handler.addFilter(RedactingFilter())


@worker_process_init.connect
def _load_model(**_: Any) -> None:
    runner()
    readiness.report_loaded()


@task_received.connect
def _hold(request: Any = None, **_: Any) -> None:
    tag = getattr(getattr(request, "message", None), "delivery_tag", None)
    if tag is not None:
        heartbeat.hold(str(tag))


@worker_ready.connect
def _wait_for_models(**_: Any) -> None:
    # Blocks the consumer until every pool process has its session, so nothing is taken on
    # before the worker can run it.
    loaded = readiness.wait(expected_processes, PROCESS_START_TIMEOUT_S)
    if loaded < expected_processes:
        log.error("earmark: only %d of %d processes loaded the model", loaded, expected_processes)
    else:
        log.info("earmark: ready, %d processes with the model loaded", loaded)
    Periodic("heartbeat", HEARTBEAT_S, heartbeat.beat).start()
    sweeper = build_sweeper(settings)
    Periodic("sweeper", sweeper.interval_s, sweeper.tick).start()


@app.task(
    base=AckedBatches,
    name=CLASSIFY_TASK,
    flush_every=settings.max_batch,
    flush_interval=settings.max_wait_ms / 1000,
)
def classify(requests: list[SimpleRequest]) -> bool:
    """Classify a micro-batch of interactive jobs; True once every record is written."""
    bodies = [request.kwargs.get("job") for request in requests]
    jobs, malformed = parse_jobs(bodies, {}, runner().dead_letters)
    _run(jobs, malformed, runner().run)
    return True


@app.task(
    name=CHUNK_TASK,
    autoretry_for=(RetryableError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=10,
    # Killed past it; the chunk's message, still booked, is sent again by the sweeper and its
    # unfinished jobs then run one at a time, each attempt counted (worker/jobs.py).
    time_limit=settings.chunk_time_limit_s,
)
def classify_chunk(chunk: dict[str, Any]) -> None:
    """Classify one bulk chunk (a slice of a manifest, folder or S3 prefix)."""
    try:
        parsed = Chunk.model_validate(chunk)
    except ValidationError:
        # Salvage what can be: every job with a usable id still gets its record.
        shared: dict[str, Any] = {
            key: chunk[key] for key in ("batch_id", "top_k", "enqueued_at") if key in chunk
        }
        items = chunk.get("jobs") if isinstance(chunk, dict) else None
        bodies = items if isinstance(items, list) else []
        jobs, malformed = parse_jobs(bodies, shared, runner().dead_letters)
        _run(jobs, malformed, runner().run)
        return
    runner().run_chunk(parsed)


def _run(jobs: list[Job], malformed: list[ResultRecord], run: Callable[[list[Job]], None]) -> None:
    run(jobs)
    current = runner()
    for record in malformed:
        current.store.put(record)
    current.ledger.finish(malformed)
