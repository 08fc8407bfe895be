"""The worker's Celery application: the shared broker setup plus late acknowledgement."""

from __future__ import annotations

from celery import Celery

from producer.broker import make_celery
from producer.settings import Settings

#: Seconds a pool child may take to start, model load included; Celery's 4 s default kills a
#: child that is still loading a large ONNX graph.
PROCESS_START_TIMEOUT_S = 300.0


def make_worker_app(settings: Settings) -> Celery:
    """The Celery app a worker runs; :mod:`worker.tasks` registers its tasks on it."""
    app = make_celery(settings)
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged only once its record is written
        task_reject_on_worker_lost=True,
        # celery-batches holds unacknowledged messages while a batch fills: prefetch must
        # exceed a full batch or batches only ever flush on the timer.
        worker_prefetch_multiplier=max(4, settings.max_batch * 2),
        worker_proc_alive_timeout=PROCESS_START_TIMEOUT_S,
        worker_hijack_root_logger=False,
        # Dead-letters refused messages; lets go of a lost connection's (worker/consumer.py).
        worker_consumer="worker.consumer:EarmarkConsumer",
        # Tasks running when the connection drops finish; their records are idempotent.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app
