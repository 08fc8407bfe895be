"""The worker's Celery application, built from a :class:`Settings` the caller made.

:func:`create_worker` is the one place a worker is assembled: the shared broker setup plus late
acknowledgement, the consumer that dead-letters what it refuses, the two tasks, and the signal
hooks that load the model in each pool process, send the task events celery-batches does not,
serve ``/metrics`` and ``/healthz``, and start heartbeats once every process is loaded.
"""

from __future__ import annotations

import logging
import shutil
import socket
from typing import Any

from celery import Celery
from celery.apps.worker import Worker
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_received,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from producer.broker import Publisher, make_celery
from producer.errors import ConfigError
from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.redact import redact
from producer.settings import Settings
from producer.state.eviction import ALLOW_SETTING, read_all, redis_urls
from producer.state.redis import connect
from worker.service import events, metrics_server
from worker.service.acked_batches import AckedBatches
from worker.service.consumer import EarmarkConsumer
from worker.service.logs import dress_handlers, wants_json
from worker.service.readiness import Health
from worker.service.runtime import PROCESS_START_TIMEOUT_S, WorkerRuntime
from worker.service.tasks import register_tasks

log = logging.getLogger(__name__)


def node_name_for(pid: int) -> str:
    """The Celery node name of the worker whose main process is `pid`."""
    return f"earmark-{pid}@{socket.gethostname()}"


def create_worker(settings: Settings, *, processes: int = 1, node_name: str) -> Celery:
    """A Celery app ready for ``worker_main``: tasks registered, hooks connected; ConfigError
    (exit 2) on a Redis that would evict earmark's keys."""
    refuse_eviction(settings)
    app = make_celery(settings)
    runtime = WorkerRuntime.create(settings, processes, node_name, Publisher(app))
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged only once its record is written
        task_reject_on_worker_lost=True,
        # celery-batches holds unacknowledged messages while a micro-batch fills: prefetch must
        # exceed a full one or micro-batches only ever flush on the timer.
        worker_prefetch_multiplier=max(4, settings.max_batch * 2),
        worker_proc_alive_timeout=PROCESS_START_TIMEOUT_S,
        worker_hijack_root_logger=False,
        # Dead-letters refused messages; lets go of a lost connection's (service/consumer.py).
        worker_consumer=EarmarkConsumer.bound(runtime.heartbeat, runtime.state.dead_letters),
        # Tasks running when the connection drops finish; their records are idempotent.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    register_tasks(app, runtime)
    _connect_signals(app, runtime)
    app.Worker = app.subclass_with_self(BannerWorker.showing(settings.broker_url))
    return app


class BannerWorker(Worker):  # type: ignore[misc]
    """Celery's ``worker`` whose start-up banner shows the broker as earmark's redactor does.

    kombu masks a password into every Redis URL, one without any too (``redis://:**@host``,
    issue #23); the banner shows the configured URL through :func:`redact` instead.
    """

    #: The broker URL as the banner shows it.
    broker_shown = ""

    @classmethod
    def showing(cls, broker_url: str) -> type[BannerWorker]:
        """The worker class whose banner shows `broker_url`, redacted."""
        return type(cls.__name__, (cls,), {"broker_shown": redact(broker_url)})

    def startup_info(self, artlines: bool = True) -> str:
        """Celery's banner, the broker line's URL replaced by the redacted one."""
        banner: str = super().startup_info(artlines)
        return banner.replace(self.app.connection().as_uri(), self.broker_shown, 1)


def run_worker(app: Celery, argv: list[str]) -> int:
    """Run ``celery worker`` (`argv`) on `app` until it stops; its exit status.

    Celery's own ``worker_main`` drops the status, so a worker that stopped on an unrecoverable
    error exited 0 and supervisors took it for a clean stop; this is ``Celery.start`` with the
    status kept.
    """
    from celery.bin.celery import celery as command
    from click.exceptions import Exit

    command.params[0].default = app  # the --app option, as Celery.start sets it
    try:
        status = command.main(args=argv, standalone_mode=False)
    except Exit as e:
        status = e.exit_code
    finally:
        command.params[0].default = None
    return int(status or 0)


def refuse_eviction(settings: Settings) -> None:
    """ConfigError naming the fix when the broker's or the results Redis's maxmemory-policy
    evicts, unless EARMARK_ALLOW_EVICTION=1 (then a warning); a policy that cannot be read is
    said once. A Redis that does not answer is left to the worker's own reconnecting."""
    for memory in read_all(settings):
        if memory.policy is None:
            log.warning("earmark: %s", memory.describe())
        elif memory.evicting and not settings.allow_eviction:
            raise ConfigError(memory.describe())
        elif memory.evicting:
            log.warning("earmark: %s; starting anyway (%s=1)", memory.describe(), ALLOW_SETTING)


def _hold_s(request: Any, settings: Settings) -> float | None:
    """How long the heartbeat may hold a request's message: its own hard time limit (a chunk
    holding recordings gets a longer one) and one visibility timeout; None: the default."""
    limits = getattr(request, "time_limits", None)
    hard = limits[1] if isinstance(limits, tuple | list) and len(limits) == 2 else None
    if not isinstance(hard, int | float) or isinstance(hard, bool):
        return None
    return float(hard) + settings.visibility_timeout_s


def _connect_signals(app: Celery, runtime: WorkerRuntime) -> None:
    as_json = wants_json(runtime.settings)

    def mask_log_handlers(logger: Any = None, **_: Any) -> None:
        # Third-party debug logs quote pre-signed URLs and signing headers: mask them.
        if isinstance(logger, logging.Logger):
            dress_handlers(logger, runtime.node_name, as_json)

    def load_model(**_: Any) -> None:
        runtime.load_model()

    def hold(sender: Any = None, request: Any = None, **_: Any) -> None:
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag is not None and getattr(sender, "app", app) is app:
            runtime.heartbeat.hold(str(tag), _hold_s(request, runtime.settings))
            # Celery announces the requests it runs one by one itself; not a micro-batch's.
            if isinstance(getattr(request, "task", None), AckedBatches):
                events.received(request)

    def serve(sender: Any = None, **_: Any) -> None:
        # Blocks the consumer until every pool process has its session, so nothing is taken
        # on before the worker can run it; /healthz says 503 meanwhile.
        if getattr(sender, "app", app) is app:
            _serve_metrics(runtime)
            runtime.start_serving()

    after_setup_logger.connect(mask_log_handlers, weak=False)
    after_setup_task_logger.connect(mask_log_handlers, weak=False)
    worker_process_init.connect(load_model, weak=False)
    task_received.connect(hold, weak=False)
    worker_ready.connect(serve, weak=False)
    worker_shutdown.connect(lambda **_: _forget_metrics(runtime), weak=False)


def _serve_metrics(runtime: WorkerRuntime) -> None:
    folder, port = runtime.metrics_folder, runtime.settings.metrics_port
    if folder is None or not port:
        return
    broker = connect(runtime.settings.broker_url)
    redises = {role: (url, connect(url)) for role, url in redis_urls(runtime.settings).items()}
    queues = [INTERACTIVE_QUEUE, BULK_QUEUE]
    registry = metrics_server.registry_for(folder, broker, queues, redises)
    metrics_server.serve(port, registry, Health(runtime.readiness, broker).check)


def _forget_metrics(runtime: WorkerRuntime) -> None:
    # The next worker counts from zero: its folder is a new one.
    if runtime.metrics_folder is not None:
        shutil.rmtree(runtime.metrics_folder, ignore_errors=True)
