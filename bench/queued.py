"""earmark through the queue: one worker, interactive and bulk, idle latency, a bulk run.

Reuses ``bench/queue.py``'s private Redis, worker process and timed passes; each case gets its
own ``earmark worker --concurrency 1`` (its model and dtype) with the in-process settings of
``bench/measure.py``, so the queue rows compare with the same ceiling rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Case, load_pipeline, settings_for
from bench.meter import Latency, Meter, Usage, one_model_call
from bench.queue import (
    MAX_WAIT_MS,
    idle_latencies,
    queue_pass,
    running_worker,
    worker_environment,
)
from bench.rows import Row
from bench.workloads import Workload
from producer.client import Client
from producer.messages import DEFAULT_CHUNK_SIZE
from producer.settings import Settings
from scripts.processes import WorkerProcess

#: Path names of the two queues.
INTERACTIVE = "earmark queue interactive (1 worker)"
BULK = f"earmark queue bulk (1 worker, {DEFAULT_CHUNK_SIZE}/chunk)"


@dataclass(frozen=True)
class Bulk:
    """A bulk run: references, seconds from first submit to last record, others' share."""

    model: str
    refs: int
    seconds: float
    others: float | None

    @property
    def rate(self) -> float:
        """Clips per second."""
        return self.refs / self.seconds


def worker_settings(
    case: Case, workload: Workload, batch: int, redis_url: str, tmp: Path
) -> Settings:
    """The worker's settings: the in-process ones plus broker, results and wait."""
    base = settings_for(workload, batch)
    return base.model_copy(
        update={
            "broker_url": f"{redis_url}/0",
            "results_url": (tmp / f"results-{case.name}-{case.dtype}").as_uri(),
            "model": str(case.folder),
            "dtype": case.dtype,
            "max_wait_ms": MAX_WAIT_MS,
        }
    )


@contextmanager
def client_and_worker(
    case: Case, workload: Workload, batch: int, redis_url: str, tmp: Path, meter: Meter
) -> Iterator[tuple[Client, WorkerProcess]]:
    """A client and a warm worker for one case; both closed on exit."""
    settings = worker_settings(case, workload, batch, redis_url, tmp)
    client = Client(settings)
    log = tmp / f"worker-{case.name}-{case.dtype}.log"
    try:
        with running_worker(worker_environment(settings), log, meter) as worker:
            yield client, worker
    finally:
        client.celery.close()


@dataclass(frozen=True)
class Queued:
    """The queue rows of one case, and the idle latencies when they were asked for."""

    rows: list[Row]
    latencies: list[Latency]
    latency_usage: Usage | None


def queue_rows(
    case: Case, workload: Workload, batch: int, where: tuple[str, Path], meter: Meter, jobs: int = 0
) -> Queued:
    """Interactive and bulk passes through one warm worker, then ``jobs`` idle single jobs.

    ``where`` is the Redis URL (no database) and a scratch folder. Each latency job is followed
    by one in-process model call on one clip, timed, for the goal's "one model call".
    """
    redis_url, tmp = where
    refs = [str(path) for path in workload.paths]
    rows, found, usage = [], [], None
    with client_and_worker(case, workload, batch, redis_url, tmp, meter) as (client, worker):
        queue_pass(client, refs[:batch], bulk=False, worker=worker)
        queue_pass(client, refs[:batch], bulk=True, worker=worker)
        for name, bulk in ((INTERACTIVE, False), (BULK, True)):
            used: dict[str, Usage] = {}
            with meter.phase(used, name):
                runs = range(case.repeat)
                seconds = min(queue_pass(client, refs, bulk=bulk, worker=worker) for _ in runs)
            others = used[name].others
            rows.append(
                Row(case.name, case.dtype, workload.name, name, batch, len(refs), seconds, others)
            )
        if jobs:
            model_call = one_model_call(load_pipeline(case, workload, 1), refs[0])
            used = {}
            with meter.phase(used, "latency"):
                found = idle_latencies(client, refs, jobs, worker, model_call)
            usage = used["latency"]
    return Queued(rows, found, usage)


def bulk_run(
    case: Case, workload: Workload, count: int, redis_url: str, tmp: Path, meter: Meter
) -> Bulk:
    """``count`` references (the workload's clips over and over) as one bulk submission."""
    refs = [str(workload.paths[i % len(workload.paths)]) for i in range(count)]
    usage: dict[str, Usage] = {}
    with client_and_worker(case, workload, 16, redis_url, tmp, meter) as (client, worker):
        queue_pass(client, refs[:16], bulk=True, worker=worker)
        with meter.phase(usage, "bulk"):
            seconds = queue_pass(client, refs, bulk=True, worker=worker)
    return Bulk(case.name, count, seconds, usage["bulk"].others)
