"""What metrics and task events cost: ``python -m scripts.monitoring_cost [--jobs N] [--rounds R]``.

Starts a private Redis and, round after round, one ``earmark worker --concurrency 1`` on the
tiny test wav2vec2 with monitoring on (``--metrics-port`` free port, task events) or off
(``EARMARK_METRICS_PORT=0``, ``--without-events``), the order alternating so that drift on a
shared machine falls on both. Each round runs N interactive jobs, then N bulk jobs, of one-second
clips, and times submit → last record, and the CPU seconds the worker's processes spent
meanwhile (on a shared machine, CPU per job is steadier than clips/s). Prints both per round and
the on/off ratios of the medians. The tiny model makes the queue, not the model, the cost, where
monitoring would show.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

from producer.client import Client
from producer.settings import Settings
from scripts.processes import free_port, start_worker
from scripts.redis_server import running_redis

MODEL = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "wav2vec2"
#: Distinct clips written, reused round-robin by the jobs.
CLIPS = 50


def run_round(url: str, work: Path, monitored: bool, jobs: int, name: str) -> dict[str, float]:
    """Clips/s of one worker: interactive, then bulk."""
    env = {
        "EARMARK_BROKER_URL": url + "/0",
        "EARMARK_RESULTS_URL": (results := f"file://{work}/results-{name}"),
        "EARMARK_MODEL": str(MODEL),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_LOCAL_ROOTS": str(work / "clips"),
        "EARMARK_METRICS_PORT": str(free_port()) if monitored else "0",
    }
    args = ["--concurrency", "1"] + ([] if monitored else ["--without-events"])
    worker = start_worker(env, work / f"{name}.log", *args)
    try:
        worker.wait_ready(180)
        client = Client(Settings(broker_url=env["EARMARK_BROKER_URL"], results_url=results))
        refs = [str(work / "clips" / f"c{i % CLIPS}.wav") for i in range(jobs)]
        rates = {}
        for bulk in (False, True):
            kind = "bulk" if bulk else "interactive"
            started, cpu = time.perf_counter(), cpu_seconds(worker.process.pid)
            batch = client.submit_many(refs, bulk=bulk).batch_id
            while client.status(batch).pending:
                time.sleep(0.02)
            rates[kind] = jobs / (time.perf_counter() - started)
            rates[f"{kind} cpu ms/job"] = (cpu_seconds(worker.process.pid) - cpu) / jobs * 1000
        return rates
    finally:
        worker.stop()


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its children so far."""
    parent = psutil.Process(pid)
    times = [p.cpu_times() for p in [parent, *parent.children(recursive=True)]]
    return float(sum(t.user + t.system for t in times))


def main() -> None:
    """Alternate rounds on and off; print each and the ratios."""
    parser = argparse.ArgumentParser(prog="python -m scripts.monitoring_cost")
    parser.add_argument("--jobs", type=int, default=300, help="jobs per kind per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "clips").mkdir()
        noise = np.random.default_rng(0).standard_normal((CLIPS, 16000)) * 0.1
        for i, samples in enumerate(noise.astype("float32")):
            sf.write(work / "clips" / f"c{i}.wav", samples, 16000)
        results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        with running_redis(work) as server:
            url = server.url.rsplit("/", 1)[0]
            for round_ in range(options.rounds):
                for monitored in (False, True) if round_ % 2 == 0 else (True, False):
                    name = f"{'on' if monitored else 'off'}-{round_}"
                    rates = run_round(url, work, monitored, options.jobs, name)
                    results[monitored].append(rates)
                    print(name, {k: round(v, 2) for k, v in rates.items()}, flush=True)
        for kind in ("interactive", "bulk", "interactive cpu ms/job", "bulk cpu ms/job"):
            on = [r[kind] for r in results[True]]
            off = [r[kind] for r in results[False]]
            ratio = statistics.median(on) / statistics.median(off)
            print(
                f"{kind}: median on {statistics.median(on):.2f}, off "
                f"{statistics.median(off):.2f}, on/off {ratio:.3f}; per round "
                + ", ".join(f"{a / b:.3f}" for a, b in zip(on, off, strict=True))
            )


if __name__ == "__main__":
    main()
