"""Micro-batches whose messages are acknowledged only when their records are written.

celery-batches acknowledges a batch's messages when its body returns, even when the body
raised (the error is only logged), and never when the pool process running it dies. Here a
batch's messages are acknowledged only when the body returns True; a failed body or a lost
process puts them back on their queue at once, where attempt counting (worker/service/jobs.py) finds
a job that keeps killing its worker.

celery-batches also starts its flush timer on the first message only, and a consumer that
restarts (its broker connection dropped) clears its timers: batches would then flush only when
full, leaving the last few jobs of a run waiting for ever. The timer is started afresh, and the
requests buffered from the lost connection dropped (as Celery drops its own reserved requests):
their messages come back by the visibility timeout.

celery-batches sends no task events either: each job's are sent here (worker/service/events.py),
received when its message is buffered, started when a pool process accepts its batch, and
succeeded or failed when the batch returns.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest, consume_queue
from celery_batches.trace import apply_batches_task

from worker.service import events

log = logging.getLogger(__name__)


class AckedBatches(Batches):  # type: ignore[misc]
    """A Batches task base that acknowledges after success and requeues otherwise."""

    abstract = True

    def Strategy(self, task: Any, app: Any, consumer: Any) -> Any:
        """The message handler of a (re)started consumer."""
        self._tref = None
        dropped = sum(1 for _ in consume_queue(self._buffer))
        if dropped:
            log.warning("earmark: dropped %d requests of a lost connection", dropped)
        return super().Strategy(task, app, consumer)

    def flush(self, requests: Collection[Request]) -> Any:
        """Run the buffered requests as one batch in the pool."""
        batch = ([SimpleRequest.from_request(r) for r in requests],)

        def on_accepted(pid: int, time_accepted: float) -> None:
            events.started(requests, pid, time_accepted)

        def on_return(result: Any) -> None:
            if result is not True:
                return requeue("the batch failed; its jobs are back on their queue")
            events.succeeded(requests, result)
            for request in requests:
                request.acknowledge()

        def on_error(_: Any) -> None:  # the pool process died (or could not run the batch)
            requeue("the pool process running the batch died; its jobs are back on their queue")

        def requeue(reason: str) -> None:
            events.failed(requests, reason)
            for request in requests:
                request.reject(requeue=True)

        return self._pool.apply_async(
            apply_batches_task,
            (self, batch, 0, None),
            accept_callback=on_accepted,
            callback=on_return,
            error_callback=on_error,
        )
