"""A worker's memory over a run of mixed-length audio, one worker per configuration.

Each configuration runs one ``earmark worker`` (``--concurrency 1`` unless told; a real
process, a private Redis) on the wide model of `scripts/wide_model.py` (wav2vec2's 512-channel
front end, 17 MB, masked so that mixed lengths share padded calls), queues the same clips
(0.3-12 s; 8, 16, 22.05, 44.1 and 48 kHz; mono and stereo WAV) as bulk chunks, and reads its
pool process's resident memory (the largest one's, with several) and the whole worker's
every quarter second: after the model loaded, its peak (``VmHWM``), and the lowest and highest
reading in each tenth of the run (printed as each closes, so a long run shows its curve). A
reading lands anywhere in a model call, so growth is read from floors: the floor of the tenth
from job 1,000 on (of 10,000) to the floor of the last tenth. The first configuration is how
earmark ran before the memory bounds (no seconds budget, ONNX Runtime's arena kept, no byte
bound ahead); its clips/s is the baseline of the ratios. A long run (``--clips 10000``: job
1,000 to job 10,000) cycles through ``--distinct`` written clips rather than writing them all.

    python -m bench.memory [--clips 300] [--distinct 1000] [--seed 7] [--only 1 2]
                           [--concurrency 1] [--per-clip-s 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

from producer.client import Client
from producer.settings import Settings
from scripts.processes import start_worker
from scripts.redis_server import running_redis
from scripts.wide_model import make_wide_model

#: Configurations: a name and the settings it changes (the first is the baseline).
CONFIGS: list[tuple[str, dict[str, str]]] = [
    (
        "before (no bounds)",
        {
            "EARMARK_MAX_BATCH_SECONDS": "1e9",
            "EARMARK_MEMORY_ARENA": "keep",
            "EARMARK_MAX_INFLIGHT_BYTES": str(1 << 40),
            "MALLOC_ARENA_MAX": "64",  # what glibc allows 8 threads a core on 2 cores, as before
            # glibc's own threshold moves, up to 32 MiB; a set one cannot, so: the ceiling
            "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
        },
    ),
    ("default (12 s a call, adaptive)", {}),
    ("12 s a call, arena shrunk", {"EARMARK_MEMORY_ARENA": "shrink"}),
    ("12 s a call, arena kept", {"EARMARK_MEMORY_ARENA": "keep"}),
    ("12 s a call, no arena", {"EARMARK_MEMORY_ARENA": "off"}),
    ("24 s a call", {"EARMARK_MAX_BATCH_SECONDS": "24"}),
    ("no byte bound ahead", {"EARMARK_MAX_INFLIGHT_BYTES": str(1 << 40)}),
    ("8 s a call", {"EARMARK_MAX_BATCH_SECONDS": "8"}),
    ("mmap threshold 32 MiB", {"MALLOC_MMAP_THRESHOLD_": str(32 << 20)}),
]
#: Sample rates and channel counts of the mix.
RATES = (8_000, 16_000, 22_050, 44_100, 48_000)
#: Seconds between reads of the pool process's memory.
SAMPLE_S = 0.25
#: Seconds the whole run may take per configuration, at least and per clip (5 clips/s here).
RUN_TIMEOUT_S = 1800.0
RUN_TIMEOUT_PER_CLIP_S = 0.5


@dataclass(frozen=True)
class Memory:
    """One configuration's figures, in MB and clips/s."""

    name: str
    loaded_mb: float
    peak_mb: float
    #: The pool's largest process, its floor from a tenth in, and in the last tenth (`Span`).
    first_mb: float
    end_mb: float
    clips_per_s: float
    #: The whole worker (its parent and pool), its processes' floors summed, in the same spans.
    whole_first_mb: float
    whole_end_mb: float


def write_mix(folder: Path, count: int, seed: int) -> list[str]:
    """`count` WAV clips of 0.3-12 s at the mix's rates, mono and stereo; their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for n in range(count):
        rate, channels = int(rng.choice(RATES)), int(rng.integers(1, 3))
        frames = int(rng.uniform(0.3, 12.0) * rate)
        samples = 0.1 * rng.standard_normal((frames, channels))
        path = folder / f"clip_{n:05d}.wav"
        sf.write(path, samples, rate, subtype="PCM_16")
        paths.append(str(path))
    return paths


@dataclass(frozen=True)
class Run:
    """How each configuration's worker runs: its pool size and the time it may take."""

    concurrency: int = 1
    per_clip_s: float = RUN_TIMEOUT_PER_CLIP_S


def pool_processes(worker: psutil.Process, count: int) -> list[psutil.Process]:
    """The worker's `count` pool children, once all are up."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children: list[psutil.Process] = worker.children(recursive=True)
        if len(children) >= count:
            return children
        time.sleep(0.1)
    raise RuntimeError(f"the worker has fewer than {count} pool processes")


def resident_mb(processes: list[psutil.Process]) -> list[float]:
    """Each process's resident memory, in MB."""
    return [float(p.memory_info().rss) / 1e6 for p in processes]


def high_water_mb(process: psutil.Process) -> float:
    """The process's peak resident memory so far (Linux VmHWM), in MB."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6  # kB (KiB) in /proc
    return float(process.memory_info().rss) / 1e6


def measure(
    name: str, changes: dict[str, str], clips: list[str], workdir: Path, run: Run
) -> Memory:
    """Run one configuration on a fresh worker and Redis; its figures."""
    with running_redis(workdir) as redis:
        env = {
            "EARMARK_BROKER_URL": redis.url,
            "EARMARK_RESULTS_URL": (workdir / "results").as_uri(),
            "EARMARK_MODEL": str(workdir.parent / "wide"),
            "EARMARK_DTYPE": "fp32",
            "EARMARK_LOCAL_ROOTS": str(Path(clips[0]).parent),
            **changes,
        }
        worker = start_worker(env, workdir / "worker.log", "--concurrency", str(run.concurrency))
        try:
            worker.wait_ready()
            parent = psutil.Process(worker.process.pid)
            pool = pool_processes(parent, run.concurrency)
            loaded = max(resident_mb(pool))
            return _run(name, env, clips, (parent, pool), loaded, run.per_clip_s)
        finally:
            worker.stop()


def _run(
    name: str,
    env: dict[str, str],
    clips: list[str],
    processes: tuple[psutil.Process, list[psutil.Process]],
    loaded: float,
    per_clip_s: float,
) -> Memory:
    client = Client(
        Settings(broker_url=env["EARMARK_BROKER_URL"], results_url=env["EARMARK_RESULTS_URL"])
    )
    done = threading.Event()
    pool = processes[1]
    spans: list[Span] = []
    started = time.monotonic()
    batch_id = client.submit_many(clips, bulk=True).batch_id
    reading = (client, batch_id, len(clips), processes, name)
    watcher = threading.Thread(target=_read_tenths, args=(*reading, done, spans), daemon=True)
    watcher.start()
    timeout = max(RUN_TIMEOUT_S, per_clip_s * len(clips))
    records = list(client.iter_results(batch_id, wait=True, timeout=timeout))
    elapsed = time.monotonic() - started
    done.set()
    watcher.join()
    failed = [r for r in records if r.status != "ok"]
    if len(records) != len(clips) or failed:
        raise RuntimeError(f"{name}: {len(records)} records, {len(failed)} failed: {failed[:1]}")
    first, end = spans[min(1, len(spans) - 1)], spans[-1]
    rate = len(clips) / elapsed
    peak = max(high_water_mb(p) for p in pool)
    return Memory(
        name, loaded, peak, first.pool[0], end.pool[0], rate, first.whole[0], end.whole[0]
    )


@dataclass
class Span:
    """The lowest and highest readings (MB) of each process of the worker (its parent first,
    then its pool) between two tenths of the run, from job `start`.

    A single reading lands anywhere in a model call: a pool process's resident memory swings by
    its call's activations (on the wide model by ~160 MB between two readings). The floor is
    what a process keeps between calls, so growth is read from floors; the whole worker's is
    the sum of its processes' floors (two pool processes are seldom idle at the same reading).
    """

    start: int
    floors: list[float] = field(default_factory=list)
    ceilings: list[float] = field(default_factory=list)
    #: The highest whole-worker reading, all processes read at once.
    whole_ceiling: float = 0.0

    def add(self, readings: list[float]) -> None:
        """Widen the span by one reading of each process."""
        self.floors = [min(pair) for pair in zip(self.floors or readings, readings, strict=True)]
        self.ceilings = [
            max(pair) for pair in zip(self.ceilings or readings, readings, strict=True)
        ]
        self.whole_ceiling = max(self.whole_ceiling, sum(readings))

    @property
    def pool(self) -> tuple[float, float]:
        """The largest pool process's floor and ceiling."""
        return max(self.floors[1:]), max(self.ceilings[1:])

    @property
    def whole(self) -> tuple[float, float]:
        """The whole worker's floor (its processes' floors summed) and ceiling."""
        return sum(self.floors), self.whole_ceiling

    def __str__(self) -> str:
        pool, whole = self.pool, self.whole
        return (
            f"from job {self.start:,}: pool {pool[0]:.0f}-{pool[1]:.0f} MB, "
            f"whole {whole[0]:.0f}-{whole[1]:.0f} MB"
        )


def _read_tenths(
    client: Client,
    batch_id: str,
    total: int,
    processes: tuple[psutil.Process, list[psutil.Process]],
    name: str,
    done: threading.Event,
    spans: list[Span],
) -> None:
    """Read each of the worker's processes every `SAMPLE_S` until `done`,
    into one `Span` per tenth of the run (each printed when it closes).

    Bulk progress comes a chunk (256 jobs) at a time: a span closes at each tenth crossed, and
    one only where a chunk crosses several."""
    parent, pool = processes
    spans.append(Span(0))
    while not done.wait(SAMPLE_S):
        spans[-1].add(resident_mb([parent, *pool]))
        jobs = client.status(batch_id).done
        if jobs * 10 // total > len(spans) - 1 and jobs < total:
            print(f"  {name}: {spans[-1]}", flush=True)
            spans.append(Span(jobs))
    spans[-1].add(resident_mb([parent, *pool]))
    print(f"  {name}: {spans[-1]}", flush=True)


def report(results: list[Memory], model_mb: float) -> None:
    """The table, with the goal of issue 13 (peak within 1.5 x the model + 300 MB)."""
    goal = 1.5 * model_mb + 300
    base = results[0].clips_per_s
    print(f"model file {model_mb:.1f} MB; goal: peak <= {goal:.0f} MB per pool process")
    print(f"clips/s ratios against the first row, {results[0].name}")
    print(f"{'configuration':32} {'loaded':>7} {'peak':>7} {'first':>8} {'end':>7} "
          f"{'growth':>7} {'whole':>11} {'growth':>7} {'clips/s':>8} {'ratio':>6}")  # fmt: skip
    for m in results:
        growth = (m.end_mb - m.first_mb) / m.first_mb * 100
        whole = (m.whole_end_mb - m.whole_first_mb) / m.whole_first_mb * 100
        print(
            f"{m.name:32} {m.loaded_mb:7.0f} {m.peak_mb:7.0f} {m.first_mb:8.0f} {m.end_mb:7.0f} "
            f"{growth:6.1f}% {m.whole_first_mb:5.0f}-{m.whole_end_mb:<5.0f} {whole:6.1f}% "
            f"{m.clips_per_s:8.2f} {m.clips_per_s / base:5.2f}x"
            f"{'' if m.peak_mb <= goal else '  (over the goal)'}"
        )


def main() -> None:
    """Measure every configuration on the same clips and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=300, help="clips per run")
    parser.add_argument("--distinct", type=int, default=1000, help="clips written, cycled")
    parser.add_argument("--seed", type=int, default=7, help="seed of the mix")
    parser.add_argument("--only", type=int, nargs="*", help="configuration numbers to run")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes a worker")
    parser.add_argument(
        "--per-clip-s", type=float, default=RUN_TIMEOUT_PER_CLIP_S, help="time a clip"
    )
    args = parser.parse_args()
    run = Run(args.concurrency, args.per_clip_s)
    with tempfile.TemporaryDirectory(prefix="earmark-bench-memory-") as scratch:
        root = Path(scratch)
        make_wide_model(root / "wide")
        (root / "clips").mkdir()
        written = write_mix(root / "clips", min(args.clips, args.distinct), args.seed)
        clips = [written[n % len(written)] for n in range(args.clips)]
        chosen = [CONFIGS[i] for i in args.only] if args.only else CONFIGS
        results = []
        for n, (name, changes) in enumerate(chosen):
            (root / f"run{n}").mkdir()
            results.append(measure(name, changes, clips, root / f"run{n}", run))
        report(results, (root / "wide" / "onnx" / "model.onnx").stat().st_size / 1e6)


if __name__ == "__main__":
    main()
