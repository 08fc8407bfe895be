"""What one worker holds: its settings, shared state, heartbeat and readiness pipe, and in each
pool process the job runner with its warm ONNX session (built after the fork, on first use)."""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from producer.broker import Publisher
from producer.errors import EarmarkError
from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.settings import Settings
from producer.state.redis import connect
from producer.state.shared import SharedState, open_state
from producer.stores import open_store
from worker.classification import pipeline
from worker.hooks import NO_HOOKS
from worker.service.heartbeat import Heartbeat
from worker.service.jobs import JobRunner
from worker.service.metrics import Metrics
from worker.service.metrics_values import use_folder
from worker.service.periodic import Periodic
from worker.service.readiness import ReadinessPipe
from worker.service.sweeper import Sweeper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MallocOption:
    """A glibc malloc parameter the worker sets: its mallopt number (malloc.h), the environment
    variable and tunable an operator would set it by instead, the worker's value, and the
    operator's value of the variable as Settings read it (None: not set)."""

    number: int
    variable: str
    tunable: str
    value: int
    given: Callable[[Settings], str | None]

    def set_by_operator(self, settings: Settings) -> bool:
        """Whether the operator set this parameter: its variable, or its tunable in
        ``GLIBC_TUNABLES`` (``glibc.malloc.arena_max=…``)."""
        tunables = settings.glibc_tunables.split(":")
        prefix = f"glibc.malloc.{self.tunable}="
        return self.given(settings) is not None or any(t.startswith(prefix) for t in tunables)


#: The worker's malloc, each measured by `python -m bench.memory` (figures in bench/README.md,
#: "Figures behind constants in the code"):
MALLOC_OPTIONS = (
    # at most 2 arenas: glibc makes one a thread, up to 8 a core, and the freed buffers of
    # decodes on I/O threads then stay resident in arenas of their own;
    MallocOption(-8, "MALLOC_ARENA_MAX", "arena_max", 2, lambda s: s.malloc_arena_max),
    # blocks from 128 KiB up always get pages of their own, handed back when freed. glibc starts
    # there but raises the threshold to each such block freed (up to 32 MiB), and from then on
    # waveforms and features come from the heap, whose holes stay resident, at no cost in clips/s.
    MallocOption(
        -3,
        "MALLOC_MMAP_THRESHOLD_",
        "mmap_threshold",
        128 * 1024,
        lambda s: s.malloc_mmap_threshold,
    ),
)

#: Exit status of a worker whose model cannot load: the contract's usage error, as `earmark
#: classify` exits on the same model (CONTRACT.md, "Exit codes"; producer/cli/root.py).
EXIT_MODEL_FAILED = 2
#: Exit status of a worker whose pool processes did not all load the model in time.
EXIT_LOAD_TIMED_OUT = 1

#: Seconds a pool child may take to start, model load included; Celery's 4 s default kills a
#: child that is still loading a large ONNX graph.
PROCESS_START_TIMEOUT_S = 300.0


@dataclass
class WorkerRuntime:
    """One worker's parts; made before the pool forks, so every child inherits them."""

    settings: Settings
    #: Pool processes the parent waits for before it says it is ready.
    processes: int
    #: The Celery node name (``earmark-PID@host``), written into every record.
    node_name: str
    publisher: Publisher
    state: SharedState
    heartbeat: Heartbeat
    #: Where pool processes write their metrics (None: metrics are off).
    metrics_folder: Path | None = None
    readiness: ReadinessPipe = field(default_factory=ReadinessPipe)
    _runner: JobRunner | None = None

    @classmethod
    def create(
        cls, settings: Settings, processes: int, node_name: str, publisher: Publisher
    ) -> WorkerRuntime:
        """The runtime of a worker with these settings."""
        # The pool kills a chunk at its time limit, so a message held one visibility timeout past
        # it belongs to a stuck or lost process and is let go, to be delivered again; a running
        # chunk is never delivered twice.
        hold_s = settings.chunk_time_limit_s + settings.visibility_timeout_s
        # Clients made before the fork are safe in the children: redis-py's pools reconnect
        # in a process other than the one that made them.
        heartbeat = Heartbeat(connect(settings.broker_url), hold_s)
        folder = None
        if settings.metrics_port:
            # Before the fork: every pool process writes its values into this one folder.
            folder = Path(tempfile.mkdtemp(prefix="earmark-metrics-"))
            use_folder(folder)
        state = open_state(settings)
        return cls(settings, processes, node_name, publisher, state, heartbeat, folder)

    def runner(self) -> JobRunner:
        """This process's job runner, with its warm ONNX session; built on first use."""
        if self._runner is None:
            metrics = Metrics() if self.metrics_folder is not None else None
            self._runner = build_runner(self.settings, self.state, self.node_name, metrics)
        return self._runner

    def load_model(self) -> None:
        """In a pool child: load the model, then tell the parent it did, or why it could not."""
        try:
            self.runner()
        except Exception as e:  # any cause: the parent stops the worker, a supervisor sees it
            if not isinstance(e, EarmarkError):  # a bug, or an unmapped error: keep its trace
                log.exception("earmark: unexpected error while loading the model")
            self.readiness.report_failed(_reason(e))
            return
        self.readiness.report_loaded()

    def start_serving(self) -> None:
        """In the parent: wait for every child's model, then start heartbeats and sweeps; or, when
        a model cannot load, stop the worker with a non-zero status, so that a supervisor
        restarts it or alerts, instead of it staying up, never ready (issue #23)."""
        loaded = self.readiness.wait(self.processes, PROCESS_START_TIMEOUT_S, _stopping)
        if _stopping():
            return  # a warm or cold shutdown began while the models loaded
        if loaded < self.processes:
            failure = self.readiness.failure
            why = failure or (
                f"only {loaded} of {self.processes} processes loaded it"
                f" within {PROCESS_START_TIMEOUT_S:.0f} s"
            )
            log.critical("earmark: cannot load the model: %s; stopping", why)
            _stop(EXIT_MODEL_FAILED if failure else EXIT_LOAD_TIMED_OUT)
            return
        log.info("earmark: ready, %d processes with the model loaded", loaded)
        Periodic("heartbeat", self.settings.heartbeat_s, self.heartbeat.beat).start()
        sweeper = self.sweeper()
        Periodic("sweeper", sweeper.interval_s, sweeper.tick).start()

    def sweeper(self) -> Sweeper:
        """The sweeper that sends lost messages again (see worker/service/sweeper.py)."""

        def republish(task: str, kwargs: dict[str, object], key: str) -> None:
            self.publisher.publish(task, {key: kwargs})

        broker = connect(self.settings.broker_url)
        queues = [INTERACTIVE_QUEUE, BULK_QUEUE]
        return Sweeper(
            broker, self.state.outstanding, republish, queues,
            interval_s=self.settings.sweep_s, confirm_s=self.settings.sweep_confirm_s,
        )  # fmt: skip


def _stopping() -> bool:
    """Whether Celery's signal handlers have asked this worker to stop."""
    from celery.worker import state

    return state.should_stop is not None or state.should_terminate is not None


def _stop(status: int) -> None:
    """Ask this worker for a warm shutdown that exits with `status`, as Celery's SIGTERM handler
    does (with 0): the consumer's loop stops before it takes a message."""
    from celery.worker import state

    state.should_stop = status


def _reason(error: Exception) -> str:
    """Why a model could not load, in one line: an earmark error's own message (it names the
    folder or Hub id and the setting); anything else's type too."""
    text = " ".join(str(error).split())
    return text if isinstance(error, EarmarkError) else f"{type(error).__name__}: {text}"


def tune_malloc(
    settings: Settings, options: tuple[MallocOption, ...] = MALLOC_OPTIONS
) -> list[str]:
    """Set glibc's malloc as `options` say, before threads start; the variables of those that
    took. One the operator set (its variable or tunable, as `settings` read them) is left as it
    is; elsewhere than glibc it does nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return []
    return [
        option.variable
        for option in options
        if not option.set_by_operator(settings) and mallopt(option.number, option.value)
    ]


def build_runner(
    settings: Settings, state: SharedState, node_name: str, metrics: Metrics | None = None
) -> JobRunner:
    """A runner for these settings: a warm pipeline, the results store and the shared state;
    metered into `metrics` when given (the pipeline's hooks, and the runner's writes)."""
    started = time.perf_counter()
    classify = pipeline(settings=settings, hooks=NO_HOOKS if metrics is None else metrics)
    load_s = time.perf_counter() - started
    store = open_store(settings.results_url, ttl_s=settings.result_ttl_s)
    info = classify.model_info
    log.info("earmark: %s (%s) loaded in process %d", info.id, info.dtype, os.getpid())
    if metrics is not None:
        metrics.model_loaded(load_s)
    return JobRunner(classify, store, state, worker=node_name, metrics=metrics)
