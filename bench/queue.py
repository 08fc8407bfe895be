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

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort  # imported up front: the import starts a thread
import redis

from bench.make_model import MODEL_DIR, ensure_model
from bench.pipeline import write_clips
from producer.client import Client
from producer.messages import BULK_QUEUE, DEFAULT_CHUNK_SIZE, INTERACTIVE_QUEUE
from producer.settings import Dtype, Settings
from scripts.processes import WorkerProcess, private_redis, start_worker
from worker.audio import decode_audio, resample, to_mono
from worker.model import SessionOptions
from worker.pipeline import AudioClassificationPipeline, pipeline

#: Micro-batch size and wait of the worker (the settings' defaults, set explicitly).
MAX_BATCH = 16
MAX_WAIT_MS = 50
#: What the latency goal allows on top of max wait and one model call.
LATENCY_SLACK_MS = 20.0
#: Goals printed beside the figures (nothing asserts them).
THROUGHPUT_GOAL = 0.9
ENQUEUE_GOAL = 5_000.0
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


# ------------------------------------------------------------------------------------ CPU meter


@dataclass(frozen=True)
class Snapshot:
    """Wall clock, the machine's busy CPU seconds, and the CPU seconds of what this bench runs."""

    wall: float
    busy: float
    ours: float


@dataclass
class Meter:
    """CPU snapshots of the machine and of this process plus the process groups it started."""

    groups: set[int] = field(default_factory=set)

    def snapshot(self) -> Snapshot | None:
        """A snapshot from Linux /proc, or None elsewhere."""
        try:
            line = Path("/proc/stat").read_text().split("\n", 1)[0]
        except OSError:
            return None
        ticks = [int(f) for f in line.split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
        busy = (sum(ticks) - ticks[3] - ticks[4]) / tick  # all but idle and iowait
        own = os.times()
        ours = own.user + own.system + own.children_user + own.children_system
        return Snapshot(time.monotonic(), busy, ours + self._groups_cpu() / tick)

    def _groups_cpu(self) -> int:
        # Ticks of every live process in the groups started here (the worker and its pool
        # child, Redis), including the children they have reaped.
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[2]) in self.groups:  # pgrp
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return total

    @contextmanager
    def phase(self, usage: dict[str, Usage], name: str) -> Iterator[None]:
        """Record in ``usage[name]`` the CPU that others and this bench used during the block."""
        before = self.snapshot()
        yield
        usage[name] = Usage.between(before, self.snapshot())


@dataclass(frozen=True)
class Usage:
    """CPU over a stretch of time: the share of the machine others took, and our CPU seconds."""

    wall_s: float
    others: float | None
    ours_s: float | None

    @staticmethod
    def between(before: Snapshot | None, after: Snapshot | None) -> Usage:
        """The usage between two snapshots."""
        if before is None or after is None:
            return Usage(0.0, None, None)
        wall = after.wall - before.wall
        return Usage(wall, others_share(before, after), after.ours - before.ours)

    def __add__(self, other: Usage) -> Usage:
        """Two stretches as one: shares weighted by their length, CPU seconds summed."""
        if self.others is None or other.others is None:
            return Usage(self.wall_s + other.wall_s, None, None)
        if self.ours_s is None or other.ours_s is None:
            return Usage(self.wall_s + other.wall_s, None, None)
        wall = self.wall_s + other.wall_s
        others = (self.others * self.wall_s + other.others * other.wall_s) / wall
        return Usage(wall, others, self.ours_s + other.ours_s)


def others_share(before: Snapshot | None, after: Snapshot | None) -> float | None:
    """Share of the machine's CPU time that other processes used between two snapshots."""
    if before is None or after is None:
        return None
    wall = after.wall - before.wall
    other = (after.busy - before.busy) - (after.ours - before.ours)
    return max(0.0, other) / (wall * (os.cpu_count() or 1))


def pct(share: float | None) -> str:
    """A share as a percentage, ``?`` where it could not be measured."""
    return "?" if share is None else f"{100 * share:.0f}%"


# ----------------------------------------------------------------------------- Redis, worker


@contextmanager
def metered_redis(meter: Meter) -> Iterator[str]:
    """A private Redis whose CPU the meter counts as ours; yields its base URL."""
    with private_redis() as server:
        meter.groups.add(server.process.pid)
        yield server.url


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
        settings = self.settings()
        return {
            "EARMARK_BROKER_URL": settings.broker_url,
            "EARMARK_RESULTS_URL": settings.results_url,
            "EARMARK_MODEL": settings.model,
            "EARMARK_DTYPE": settings.dtype,
            "EARMARK_LOCAL_ROOTS": settings.local_roots,
            "EARMARK_MAX_BATCH": str(settings.max_batch),
            "EARMARK_MAX_WAIT_MS": str(settings.max_wait_ms),
            "EARMARK_INTRA_OP_THREADS": str(settings.intra_op_threads),
        }


@dataclass(frozen=True)
class Pass:
    """One timed pass: clips and seconds, and the share of the CPUs others took meanwhile."""

    clips: int
    seconds: float
    usage: Usage

    @property
    def rate(self) -> float:
        """Clips per second."""
        return self.clips / self.seconds

    @property
    def cpu_per_clip(self) -> str:
        """CPU seconds this bench's processes (worker and Redis included) spent per clip."""
        ours = self.usage.ours_s
        return "?" if ours is None else f"{ours / self.clips:.3f}"


def in_process_pass(pipe: AudioClassificationPipeline, refs: Sequence[str]) -> float:
    """Seconds of one ``iter_records`` pass; an error record means a broken bench."""
    started = time.perf_counter()
    for record in pipe.iter_records(refs):
        if record.status != "ok":
            raise RuntimeError(f"{record.input}: {record.error}")
    return time.perf_counter() - started


def one_model_call(pipe: AudioClassificationPipeline, ref: str) -> Callable[[], float]:
    """A timer of one model call on one clip's features, in ms (the features are made once)."""
    classifier = pipe.classifier
    decoded = decode_audio(Path(ref).read_bytes(), max_seconds=60.0)
    wave = resample(
        to_mono(decoded.samples, decoded.layout), decoded.sample_rate, classifier.sampling_rate
    )
    features = classifier.extractor([wave])
    classifier.model.run(features)  # untimed: the first call at batch 1

    def call_ms() -> float:
        started = time.perf_counter()
        classifier.model.run(features)
        return 1000 * (time.perf_counter() - started)

    return call_ms


def queue_pass(client: Client, refs: Sequence[str], *, bulk: bool, worker: WorkerProcess) -> float:
    """Seconds from the first submit to the batch's last record, every record checked."""
    started = time.perf_counter()
    submission = client.submit_many(refs, bulk=bulk)
    deadline = time.monotonic() + DONE_TIMEOUT_S
    # The worker writes records before it counts them: pending 0 means every record is there.
    while client.status(submission.batch_id).pending:
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


@dataclass(frozen=True)
class Latency:
    """One idle job: submit → record present, what its record says, and an in-process call."""

    total_ms: float
    queued_ms: float  # enqueued_at (client clock) → the worker starts its micro-batch
    work_ms: float  # fetch + decode + model, as the record times them
    model_ms: float  # one in-process model call on one clip, timed right after the job


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
        time.sleep(IDLE_GAP_S)  # the worker finishes its bookkeeping before the call
        latencies.append(Latency(total, 1000 * (t.queued_s or 0.0), 1000 * work, model_call()))
    return latencies


@dataclass(frozen=True)
class Enqueued:
    """One enqueue measurement: references, messages that landed, seconds, others' share."""

    refs: int
    messages: int
    seconds: float
    usage: Usage


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


# ---------------------------------------------------------------------------------- report


def print_throughput(passes: dict[str, list[Pass]], threads: int, clips: int) -> None:
    """The end-to-end table: each path's two passes together, against the in-process ones."""
    totals = {name: sum_passes(runs) for name, runs in passes.items()}
    base = totals["in-process"].rate
    print("end-to-end throughput (queue: first submit -> last record present)")
    print(
        f"{'path':34} {'clips':>5} {'seconds':>8} {'clips/s':>8} {'vs in-process':>14} "
        f"{'CPU s/clip':>10} {'others':>6}"
    )
    for name, p in totals.items():
        print(
            f"{name:34} {p.clips:5d} {p.seconds:8.2f} {p.rate:8.2f} {p.rate / base:13.2f}x "
            f"{p.cpu_per_clip:>10} {pct(p.usage.others):>6}"
        )
    rounds = "   ".join(
        f"{name.split(' (')[0].removeprefix('queue ')} " + " / ".join(f"{r.rate:.2f}" for r in runs)
        for name, runs in passes.items()
    )
    print(
        f"2 rounds of {clips} clips: in-process, interactive, bulk, then the reverse order; "
        f"clips/s per round:\n  {rounds}\n"
        f"in-process = pipeline.iter_records, batch {MAX_BATCH}, {threads} ORT threads; queue = "
        f"1 worker, --concurrency 1, warmed with one batch per task\n"
        f"CPU s/clip: this process + worker + Redis; goal: queue >= {THROUGHPUT_GOAL:.2f}x "
        f"in-process\n"
    )


def sum_passes(runs: Sequence[Pass]) -> Pass:
    """Passes as one: clips, seconds and CPU summed, others' share weighted by length."""
    usage = runs[0].usage
    for run in runs[1:]:
        usage = usage + run.usage
    return Pass(sum(r.clips for r in runs), sum(r.seconds for r in runs), usage)


def print_enqueue(rows: dict[str, Enqueued]) -> None:
    """The enqueue table."""
    count = next(iter(rows.values())).refs
    print(f"enqueue rate into Redis (submit_many of {count:,} references, no worker consuming)")
    print(
        f"{'mode':34} {'refs':>6} {'messages':>8} {'seconds':>8} {'refs/s':>8} {'vs goal':>8} "
        f"{'others':>6}"
    )
    for name, row in rows.items():
        rate = row.refs / row.seconds
        print(
            f"{name:34} {row.refs:6d} {row.messages:8d} {row.seconds:8.2f} {rate:8.0f} "
            f"{rate / ENQUEUE_GOAL:7.2f}x {pct(row.usage.others):>6}"
        )
    print(f"goal: >= {ENQUEUE_GOAL:,.0f} references/s\n")


def print_latency(latencies: list[Latency], usage: Usage) -> None:
    """Percentiles of the idle single-job latency, its goal, and where the time went."""
    totals = [x.total_ms for x in latencies]
    model_ms = float(np.median([x.model_ms for x in latencies]))
    p50, p99 = np.percentile(totals, [50, 99])
    goal = MAX_WAIT_MS + model_ms + LATENCY_SLACK_MS
    print(
        f"idle single-job latency (submit -> record present; {len(totals)} jobs one at a time, "
        f"store polled every {1000 * JOB_POLL_S:.0f} ms)"
    )
    print(
        f"{'min ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'goal ms':>8} "
        f"{'p50/goal':>9} {'others':>6}"
    )
    print(
        f"{min(totals):8.1f} {p50:8.1f} {p99:8.1f} {max(totals):8.1f} {goal:8.1f} "
        f"{p50 / goal:8.2f}x {pct(usage.others):>6}"
    )
    print(
        f"goal = EARMARK_MAX_WAIT_MS {MAX_WAIT_MS} + one model call {model_ms:.1f} ms "
        f"(in-process, one clip, median of one call after each job) + "
        f"{LATENCY_SLACK_MS:.0f} ms"
    )
    queued = float(np.median([x.queued_ms for x in latencies]))
    work = float(np.median([x.work_ms for x in latencies]))
    rest = float(np.median([x.total_ms - x.queued_ms - x.work_ms for x in latencies]))
    print(
        f"medians from the records: queued {queued:.1f} ms (submit -> micro-batch starts), "
        f"fetch+decode+model {work:.1f} ms, rest {rest:.1f} ms (labels, write, poll)"
    )


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
    usage: dict[str, Usage] = {}
    with (
        tempfile.TemporaryDirectory(prefix="earmark-bench-queue-") as tmp,
        metered_redis(meter) as redis_url,
    ):
        folder = Path(tmp)
        (folder / "clips").mkdir()
        paths = write_clips(folder / "clips", clips, 0)
        setup = Setup(
            model=model,
            dtype=args.dtype,
            threads=threads,
            refs=[str(path) for path in paths],
            clip_dir=folder / "clips",
            results_url=(folder / "results").as_uri(),
            redis_url=redis_url,
        )
        enqueued = {
            f"bulk ({DEFAULT_CHUNK_SIZE} refs per message)": enqueue_rate(
                setup, refs, bulk=True, meter=meter
            ),
            "interactive (1 per message)": enqueue_rate(setup, refs, bulk=False, meter=meter),
        }

        pipe = pipeline(settings=setup.settings(), session=SessionOptions(intra_op_threads=threads))
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

    print(
        f"earmark queue bench: {model.name} ({args.dtype}), {clips} clips of 1 s 16 kHz mono; "
        f"onnxruntime {ort.__version__}\n"
        f"1 worker (earmark worker --concurrency 1), ORT intra-op threads {threads} in both paths "
        f"({os.cpu_count()} CPUs); max batch {MAX_BATCH}, max wait {MAX_WAIT_MS} ms; "
        f"private Redis, file:// results"
    )
    print(
        f"CPU time taken by other processes during the run: {pct(others_share(start, end))} "
        f"of the machine (per measurement: column 'others')\n"
    )
    print_throughput(passes, threads, clips)
    print_enqueue(enqueued)
    print_latency(latencies, usage["latency"])
    print(f"\nwhole run: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
