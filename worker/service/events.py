"""Celery task events for the jobs of micro-batches, one set per job.

Celery sends ``task-received``, ``task-started`` and ``task-succeeded``/``task-failed`` for a
task it runs request by request (the bulk ``earmark.classify_chunk``). celery-batches sends none
for the requests it gathers into a micro-batch, so Flower and ``celery events`` never saw an
interactive job; :class:`worker.service.acked_batches.AckedBatches` sends them here instead, per
job, with the same fields Celery's own strategy and request send. Events go out only when the
worker runs with task events on (``earmark worker`` does unless ``--without-events``); Celery's
dispatcher buffers them and publishes them from its event loop.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from celery.worker.request import Request


def received(request: Request) -> None:
    """``task-received``, as Celery's default strategy sends it for a message it takes."""
    request.send_event(
        "task-received",
        name=request.name,
        args=request.argsrepr,
        kwargs=request.kwargsrepr,
        root_id=request.root_id,
        parent_id=request.parent_id,
        retries=request.request_dict.get("retries", 0),
        eta=request.eta and request.eta.isoformat(),
        expires=request.expires and request.expires.isoformat(),
    )


def started(requests: Collection[Request], pid: int, time_accepted: float) -> None:
    """``task-started`` for every job of a micro-batch a pool process (`pid`) has accepted."""
    # time_accepted is the pool's monotonic clock; events carry wall-clock times.
    start = time.time() - (time.monotonic() - time_accepted)
    for request in requests:
        request.worker_pid = pid
        request.time_start = start
        request.send_event("task-started")


def succeeded(requests: Collection[Request], result: Any) -> None:
    """``task-succeeded`` for every job of a micro-batch whose records are all written."""
    now = time.time()
    for request in requests:
        runtime = now - request.time_start if request.time_start else 0.0
        request.send_event("task-succeeded", result=repr(result), runtime=runtime)


def failed(requests: Collection[Request], reason: str) -> None:
    """``task-failed`` for every job of a micro-batch that failed whole (back on its queue)."""
    for request in requests:
        request.send_event("task-failed", exception=reason, traceback="")
