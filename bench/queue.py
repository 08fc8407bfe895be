"""The queue against the in-process pipeline, on one worker: ``python -m bench.queue``.

Starts a private Redis (never port 6379) and one ``earmark worker --concurrency 1``, writes
one-second 16 kHz clips to a temporary folder, and measures in one run:

1. end-to-end clips/s through the queue (interactive and bulk: first submit to the last record
   present) against ``pipeline(...).iter_records`` on the same clips, same model, dtype and ONNX
   Runtime threads;
2. references/s that ``Client.submit_many`` puts into Redis (bulk and interactive), with no
   worker consuming;
3. the latency of one job on an idle worker, against max wait + one model call + 20 ms.

Results go to a temporary ``file://`` folder. Everything started here is stopped here. Nothing
passes or fails: the figures are ratios and percentiles measured in the same run.
"""

# The CPU meter, the in-process timers and the records are in bench/meter.py; the tables are
# printed by bench/report.py.

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort  # imported up front: the import starts a thread
import redis

from bench import report
from bench.make_model import MODEL_DIR, ensure_model
from bench.meter import (
    Enqueued,
    Latency,
    Meter,
    Pass,
    Snapshot,
    Usage,
    in_process_pass,
    one_model_call,
    others_share,
)
from bench.workloads import keyword_clips
from producer.client import Client
from producer.messages import BULK_QUEUE, DEFAULT_CHUNK_SIZE, INTERACTIVE_QUEUE
from producer.settings import Dtype, Settings
from scripts.processes import WorkerProcess, start_worker
from scripts.redis_server import running_redis
from worker.classification import pipeline
from worker.model import SessionOptions

#: Micro-batch size and wait of the worker (the settings' defaults, set explicitly).
MAX_BATCH = 16
MAX_WAIT_MS = 50
#: Seconds between polls while waiting for a batch (status) and for one job (its record).
BATCH_POLL_S = 0.02
JOB_POLL_S = 0.002
#: Seconds to leave an idle worker alone between latency jobs (> max wait: its timer stops).
IDLE_GAP_S = 0.15
#: Redis database for the enqueue measurement: no worker listens there.
ENQUEUE_DB = 2
#: Seconds the worker may take to load its model, and a batch to finish.
READY_TIMEOUT_S = 180.0
DONE_TIMEOUT_S = 300.0


# ----------------------------------------------------------------------------- Redis, worker


@contextmanager
def metered_redis(meter: Meter, workdir: Path) -> Iterator[str]:
    """A private Redis whose CPU the meter counts as ours; yields its URL without a database."""
    with running_redis(workdir) as server:
        meter.groups.add(server.process.pid)  # its own session: its pid names its group
        yield server.url.rsplit("/", 1)[0]


@contextmanager
def running_worker(env: dict[str, str], log: Path, meter: Meter) -> Iterator[WorkerProcess]:
    """An ``earmark worker --concurrency 1`` process group, metered, stopped on exit."""
    worker = start_worker(env, log, "--concurrency", "1")
    meter.groups.add(worker.process.pid)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


# ---------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Setup:
    """What both paths run: model, dtype, threads, clips, and where things live."""

    model: Path
    dtype: Dtype
    threads: int
    refs: list[str]
    clip_dir: Path
    results_url: str
    redis_url: str

    def settings(self, db: int = 0) -> Settings:
        """Settings for the bench's client and in-process pipeline (broker on database ``db``)."""
        return Settings(
            broker_url=f"{self.redis_url}/{db}",
            results_url=self.results_url,
            model=str(self.model),
            dtype=self.dtype,
            local_roots=str(self.clip_dir),
            max_batch=MAX_BATCH,
            max_wait_ms=MAX_WAIT_MS,
            intra_op_threads=self.threads,
        )

    def worker_env(self) -> dict[str, str]:
        """The same settings as the worker reads them."""
        return worker_environment(self.settings())


def queue_pass(client: Client, refs: Sequence[str], *, bulk: bool, worker: WorkerProcess) -> float:
    """Seconds from the first submit to the batch's last record, every record checked."""
    started = time.perf_counter()
    submission = client.submit_many(refs, bulk=bulk)
    deadline = time.monotonic() + DONE_TIMEOUT_S
    # The worker writes records before it counts them: pending 0 means every record is there.
    while client.status(submission.batch_id).pending != 0:  # None: not yet known
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {submission.batch_id} unfinished")
        worker.check()
        time.sleep(BATCH_POLL_S)
    seconds = time.perf_counter() - started
    records = list(client.iter_results(submission.batch_id, wait=True, timeout=DONE_TIMEOUT_S))
    bad = [r for r in records if r.status != "ok"]
    if len(records) != len(refs) or bad:
        raise RuntimeError(f"{len(records)} records for {len(refs)} clips; failed: {bad[:1]}")
    return seconds


def idle_latencies(
    client: Client,
    refs: Sequence[str],
    jobs: int,
    worker: WorkerProcess,
    model_call: Callable[[], float],
) -> list[Latency]:
    """Submit → record present for ``jobs`` single jobs, each sent to an idle worker.

    After each job, one in-process model call is timed (the worker idle meanwhile), so that
    the goal's model call is measured under the same load from other processes as the jobs.
    """
    latencies = []
    for index in range(jobs):
        time.sleep(IDLE_GAP_S)
        started = time.perf_counter()
        job_id = client.submit(refs[index % len(refs)])
        deadline = time.monotonic() + DONE_TIMEOUT_S
        while (record := client.store.get(job_id)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} unfinished")
            worker.check()
            time.sleep(JOB_POLL_S)
        total = 1000 * (time.perf_counter() - started)
        if record.status != "ok":
            raise RuntimeError(f"{record.input}: {record.error}")
        t = record.timings
        work = sum(x or 0.0 for x in (t.fetch_s, t.decode_s, t.infer_s))
        queued, infer = 1000 * (t.queued_s or 0.0), 1000 * (t.infer_s or 0.0)
        time.sleep(IDLE_GAP_S)  # the worker finishes its bookkeeping before the call
        latencies.append(Latency(total, queued, 1000 * work, infer, model_call()))
    return latencies


def enqueue_rate(setup: Setup, count: int, *, bulk: bool, meter: Meter) -> Enqueued:
    """``submit_many`` of ``count`` references into a database no worker reads, then purged."""
    client = Client(setup.settings(ENQUEUE_DB))
    raw = redis.Redis.from_url(f"{setup.redis_url}/{ENQUEUE_DB}")
    refs = [setup.refs[i % len(setup.refs)] for i in range(count)]
    client.submit_many(refs[:500], bulk=bulk)  # connections, queue declarations: not timed
    raw.flushdb()
    before = meter.snapshot()
    started = time.perf_counter()
    client.submit_many(refs, bulk=bulk)
    seconds = time.perf_counter() - started
    usage = Usage.between(before, meter.snapshot())
    messages = int(raw.llen(BULK_QUEUE if bulk else INTERACTIVE_QUEUE))
    raw.flushdb()  # purge the queues and the ledger: nothing will ever consume them
    client.celery.close()
    return Enqueued(count, messages, seconds, usage)


# ------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__)
    parser.add_argument("--model", type=Path, help=f"model folder (default {MODEL_DIR})")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "q8", "fp16"])
    parser.add_argument("--quick", action="store_true", help="fewer clips, refs and jobs")
    parser.add_argument("--clips", type=int, help="clips per timed pass (32; 16 with --quick)")
    parser.add_argument("--refs", type=int, help="references enqueued (20000; 2000 with --quick)")
    parser.add_argument("--jobs", type=int, help="idle latency jobs (40; 10 with --quick)")
    return parser.parse_args(argv)


def make_setup(
    folder: Path, model: Path, dtype: Dtype, threads: int, clips: int, redis_url: str
) -> Setup:
    """Write ``clips`` clips under ``folder`` and describe what both paths will run."""
    (folder / "clips").mkdir()
    paths = keyword_clips(folder / "clips", clips).paths
    return Setup(
        model=model,
        dtype=dtype,
        threads=threads,
        refs=[str(path) for path in paths],
        clip_dir=folder / "clips",
        results_url=(folder / "results").as_uri(),
        redis_url=redis_url,
    )


@dataclass(frozen=True)
class Measured:
    """The timed passes of each path, the idle latencies, and the CPU usage of each phase."""

    passes: dict[str, list[Pass]]
    latencies: list[Latency]
    usage: dict[str, Usage]
    end: Snapshot | None


def measure_paths(setup: Setup, folder: Path, clips: int, jobs: int, meter: Meter) -> Measured:
    """Both paths in two mirrored rounds, then the idle latency, on one worker stopped after."""
    usage: dict[str, Usage] = {}
    pipe = pipeline(
        settings=setup.settings(), session=SessionOptions(intra_op_threads=setup.threads)
    )
    in_process_pass(pipe, setup.refs)  # warm-up
    model_call = one_model_call(pipe, setup.refs[0])

    client = Client(setup.settings())
    warm = setup.refs[:MAX_BATCH]
    timers: dict[str, Callable[[], float]] = {
        "in-process": lambda: in_process_pass(pipe, setup.refs),
        "queue interactive (bulk=False)": lambda: queue_pass(
            client, setup.refs, bulk=False, worker=worker
        ),
        f"queue bulk (bulk=True, {DEFAULT_CHUNK_SIZE}/chunk)": lambda: queue_pass(
            client, setup.refs, bulk=True, worker=worker
        ),
    }
    passes: dict[str, list[Pass]] = {name: [] for name in timers}
    with running_worker(setup.worker_env(), folder / "worker.log", meter) as worker:
        queue_pass(client, warm, bulk=False, worker=worker)  # warm-up, both tasks
        queue_pass(client, warm, bulk=True, worker=worker)
        # Two rounds in mirrored order: a drift in the load cancels out of the totals.
        for name in [*timers, *reversed(timers)]:
            with meter.phase(usage, name):
                seconds = timers[name]()
            passes[name].append(Pass(clips, seconds, usage[name]))
        with meter.phase(usage, "latency"):
            latencies = idle_latencies(client, setup.refs, jobs, worker, model_call)
    end = meter.snapshot()  # the worker is reaped (its CPU is ours), Redis still runs
    client.celery.close()
    return Measured(passes, latencies, usage, end)


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, measure, print, and stop everything that was started."""
    args = parse_args(argv)
    clips = args.clips or (16 if args.quick else 32)
    refs = args.refs or (2_000 if args.quick else 20_000)
    jobs = args.jobs or (10 if args.quick else 40)
    model = args.model.resolve() if args.model else ensure_model()
    threads = os.cpu_count() or 1  # what `earmark worker --concurrency 1` gives its process
    began = time.monotonic()
    meter = Meter()
    start = meter.snapshot()
    with (
        tempfile.TemporaryDirectory(prefix="earmark-bench-queue-") as tmp,
        metered_redis(meter, Path(tmp)) as redis_url,
    ):
        setup = make_setup(Path(tmp), model, args.dtype, threads, clips, redis_url)
        enqueued = {
            f"bulk ({DEFAULT_CHUNK_SIZE} refs per message)": enqueue_rate(
                setup, refs, bulk=True, meter=meter
            ),
            "interactive (1 per message)": enqueue_rate(setup, refs, bulk=False, meter=meter),
        }
        measured = measure_paths(setup, Path(tmp), clips, jobs, meter)

    others = others_share(start, measured.end)
    print_tables(model.name, args.dtype, clips, threads, others, measured, enqueued)
    print(f"\nwhole run: {time.monotonic() - began:.0f} s")
    return 0


def print_tables(
    model: str,
    dtype: str,
    clips: int,
    threads: int,
    others: float | None,
    measured: Measured,
    enqueued: dict[str, Enqueued],
) -> None:
    """The header, then throughput, enqueue rate and idle latency."""
    report.print_header(
        model=model,
        dtype=dtype,
        clips=clips,
        threads=threads,
        ort_version=ort.__version__,
        max_batch=MAX_BATCH,
        max_wait_ms=MAX_WAIT_MS,
        others=others,
    )
    report.print_throughput(measured.passes, threads, clips, max_batch=MAX_BATCH)
    report.print_enqueue(enqueued)
    report.print_latency(
        measured.latencies, measured.usage["latency"], max_wait_ms=MAX_WAIT_MS, poll_s=JOB_POLL_S
    )


def worker_environment(settings: Settings) -> dict[str, str]:
    """`settings` as a worker process reads them from its environment."""
    return {
        "EARMARK_BROKER_URL": settings.broker_url,
        "EARMARK_RESULTS_URL": settings.results_url,
        "EARMARK_MODEL": settings.model,
        "EARMARK_DTYPE": settings.dtype,
        "EARMARK_LOCAL_ROOTS": settings.local_roots,
        "EARMARK_MAX_BATCH": str(settings.max_batch),
        "EARMARK_MAX_BATCH_SECONDS": str(settings.max_batch_seconds),
        "EARMARK_MAX_WAIT_MS": str(settings.max_wait_ms),
        "EARMARK_INTRA_OP_THREADS": str(settings.intra_op_threads),
    }


if __name__ == "__main__":
    sys.exit(main())
