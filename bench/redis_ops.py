"""Redis operations per job, and the job rate one Redis carries: ``python -m bench.redis_ops``.

Starts a private Redis (never port 6379) and one ``earmark worker --concurrency 1`` on the tiny
test model, then for each way of queueing (interactive: one ``Client.submit`` per job; bulk:
``Client.submit_many`` chunks) and each results store (Redis, a folder):

1. ``CONFIG RESETSTAT``, queue N jobs, wait (one HMGET of the ledger per poll) until all are done;
2. ``INFO commandstats`` and ``INFO cpu``: commands per job by name, and the Redis server's CPU
   seconds per job (its user + system time, network handling included), less what an idle
   worker costs over the same time (heartbeats, sweeps, empty polls: measured first);
3. the ceiling of one Redis: jobs/s = 1 / (Redis CPU seconds per job), as Redis runs commands on
   one thread; cross-checked against ``redis-benchmark`` ops/s ÷ ops per job;
4. the memory each job leaves in Redis once done (``used_memory`` after less before, over the
   jobs): what a nightly volume kept ``EARMARK_RESULT_TTL_S`` costs (issue 26, item 4).

Nothing passes or fails: the figures are printed for bench/README.md, "What one job
costs the Redis" (docs/scaling.md says what they mean).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from producer.client import Client
from producer.settings import Settings
from scripts.processes import start_worker
from scripts.redis_server import running_redis

#: The tiny committed wav2vec2 and its golden clips: the model does not change Redis's share.
MODEL = Path(__file__).parent.parent / "tests" / "data" / "models" / "wav2vec2"
CLIPS = Path(__file__).parent.parent / "tests" / "data" / "audio" / "golden"
#: Seconds between polls of the ledger while a batch runs.
POLL_S = 0.25
#: Seconds an idle worker is watched to learn its background cost.
IDLE_S = 5.0


@dataclass(frozen=True)
class Usage:
    """What Redis did over one stretch: calls per command, CPU seconds, wall seconds."""

    calls: Counter[str]
    cpu_s: float
    wall_s: float
    #: Bytes of ``used_memory`` the stretch left behind.
    kept_bytes: int = 0


def measure(client: redis.Redis, run: Callable[[], int]) -> Usage:
    """Reset Redis's counters, `run` (it returns how many HMGET polls it made), read them."""
    client.config_resetstat()
    used0 = int(client.info("memory")["used_memory"])
    cpu0, start = _cpu(client), time.monotonic()
    polls = run()
    wall, cpu = time.monotonic() - start, _cpu(client) - cpu0
    kept = int(client.info("memory")["used_memory"]) - used0
    stats = client.info("commandstats")
    calls = Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})
    calls["hmget"] -= polls  # this script's own polls are not the job's
    calls["info"] -= 3
    calls["config|resetstat"] -= 1
    return Usage(+calls, cpu, wall, kept)


def _cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def wait_done(client: Client, batch_id: str, jobs: int, timeout_s: float = 600.0) -> int:
    """Poll the ledger until `jobs` are done; how many polls it took."""
    polls, deadline = 0, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        polls += 1
        if client.status(batch_id).done >= jobs:
            return polls
        time.sleep(POLL_S)
    raise TimeoutError(f"batch {batch_id} not done after {timeout_s:.0f} s")


def refs(jobs: int) -> list[str]:
    """`jobs` references, the golden clips over and over."""
    clips = sorted(str(p) for p in CLIPS.glob("*.wav"))
    return [clips[i % len(clips)] for i in range(jobs)]


def interactive(client: Client, batch_id: str, jobs: int) -> Callable[[], int]:
    """One Client.submit per job, as a web service would queue them."""

    def run() -> int:
        for ref in refs(jobs):
            client.submit(ref, batch_id=batch_id)
        return wait_done(client, batch_id, jobs)

    return run


def bulk(client: Client, batch_id: str, jobs: int, top_k: int | None = None) -> Callable[[], int]:
    """One Client.submit_many of chunks, as `earmark enqueue --manifest` queues them."""

    def run() -> int:
        client.submit_many(refs(jobs), batch_id=batch_id, bulk=True, top_k=top_k)
        return wait_done(client, batch_id, jobs)

    return run


def bulk_all_labels(client: Client, batch_id: str, jobs: int) -> Callable[[], int]:
    """Bulk, every label in each record (``top_k`` 0): the largest record a model gives."""
    return bulk(client, batch_id, jobs, top_k=0)


def benchmark_ops(port: int, requests: int) -> dict[str, float]:
    """redis-benchmark's requests/s for the commands a job mostly costs (no pipelining)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    tests = "set,get,sadd,hset,lpush,rpop"
    out = subprocess.run(
        [binary, "-p", str(port), "-q", "-n", str(requests), "-t", tests, "--csv"],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    rates = {}
    for line in out.splitlines()[1:]:
        name, rate, *_ = (cell.strip('"') for cell in line.split(","))
        rates[name.lower()] = float(rate)
    return rates


@dataclass(frozen=True)
class PerJob:
    """One way of queueing, per job, net of the idle worker's background."""

    name: str
    jobs: int
    calls: dict[str, float]
    cpu_us: float
    #: Bytes each job leaves in Redis once done (records, index, ledger, attempts).
    kept_bytes: float = 0.0

    @property
    def ops(self) -> float:
        """Redis commands per job."""
        return sum(self.calls.values())


def per_job(name: str, jobs: int, used: Usage, idle: Usage) -> PerJob:
    """`used` less the idle rate over the same wall time, divided by `jobs`."""
    share = used.wall_s / idle.wall_s
    calls = {c: (n - idle.calls.get(c, 0) * share) / jobs for c, n in used.calls.items()}
    cpu_us = (used.cpu_s - idle.cpu_s * share) / jobs * 1e6
    kept = used.kept_bytes / jobs
    return PerJob(name, jobs, {c: n for c, n in calls.items() if n > 0.05}, cpu_us, kept)


def run_store(server_url: str, results_url: str, jobs: dict[str, int], work: Path) -> list[PerJob]:
    """One worker for `results_url`; the idle cost, then every way of queueing."""
    base = server_url.rsplit("/", 1)[0]
    settings = Settings(
        broker_url=f"{base}/0", results_url=results_url, model=str(MODEL), dtype="fp32",
        local_roots=str(CLIPS), max_wait_ms=20,
    )  # fmt: skip
    env = {f"EARMARK_{k.upper()}": str(v) for k, v in settings.model_dump().items()}
    worker = start_worker(env, work / "worker.log", "--concurrency", "1")
    try:
        worker.wait_ready()
        client, raw = Client(settings), redis.Redis.from_url(f"{base}/0")
        idle = measure(raw, _idle)
        store = "Redis" if results_url.startswith("redis") else "a folder"
        return [
            per_job(f"{mode}, results in {store}", n, measure(raw, run), idle)
            for mode, n in jobs.items()
            for run in [MODES[mode](client, f"ops-{len(mode)}-{time.monotonic_ns()}", n)]
        ]
    finally:
        worker.stop()


def _idle() -> int:
    time.sleep(IDLE_S)
    return 0


MODES: dict[str, Callable[[Client, str, int], Callable[[], int]]] = {
    "interactive": interactive,
    "bulk": bulk,
    "bulk, all labels": bulk_all_labels,
}


def show(rows: Sequence[PerJob], rates: dict[str, float]) -> None:
    """The table bench/README.md quotes."""
    mean_rate = sum(rates.values()) / len(rates) if rates else None
    print("| way of queueing | jobs | Redis ops/job | Redis CPU µs/job | ceiling jobs/s (CPU) |"
          " ceiling jobs/s (redis-benchmark) | bytes kept/job |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cpu_cap = f"{1e6 / row.cpu_us:,.0f}" if row.cpu_us > 0 else "-"
        bench_cap = f"{mean_rate / row.ops:,.0f}" if mean_rate else "-"
        print(f"| {row.name} | {row.jobs} | {row.ops:.1f} | {row.cpu_us:.0f} | {cpu_cap} |"
              f" {bench_cap} | {row.kept_bytes:,.0f} |")  # fmt: skip
    for row in rows:
        top = sorted(row.calls.items(), key=lambda item: -item[1])
        print(f"{row.name}: " + ", ".join(f"{c} {n:.2f}" for c, n in top))
    if rates:
        print("redis-benchmark requests/s: " + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactive", type=int, default=200, help="jobs queued one by one")
    parser.add_argument("--bulk", type=int, default=1000, help="jobs queued in chunks")
    parser.add_argument("--benchmark-requests", type=int, default=50_000)
    args = parser.parse_args(argv)
    jobs = {"interactive": args.interactive, "bulk": args.bulk, "bulk, all labels": args.bulk}
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp)) as server:
        rows = run_store(server.url, server.url_for(1), jobs, Path(tmp))
        folder = (Path(tmp) / "results").as_uri()
        rows += run_store(server.url, folder, jobs, Path(tmp))
        rates = benchmark_ops(server.port, args.benchmark_requests)
    show(rows, rates)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
