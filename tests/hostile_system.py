"""A worker under attack, for tests/test_hostile.py and tests/test_malformed.py.

- `System`: one real worker process with its own broker database and results folder, and a
  producer Client for it, so that every job lands on the worker it was meant for.
- `start_system(...)`: start one, with the caps and timeouts below; the caller waits for it.
- `assert_still_serving(system, good)`: after the attack, it lives and classifies a good clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from producer.client import Client
from scripts.processes import free_port
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

#: The byte and duration caps the workers run with.
MAX_BYTES = 5 * 1024 * 1024
MAX_SECONDS = 60
#: Seconds one URL fetch may take in all.
FETCH_TIMEOUT_S = 8
#: Seconds to wait for a record that a single message must produce.
RECORD_TIMEOUT_S = 30.0


@dataclass
class System:
    """One worker with its own broker database and results folder, and a client for it."""

    name: str
    worker: WorkerProcess
    client: Client
    broker_url: str

    def log(self) -> str:
        """The worker's log so far."""
        return self.worker.log.read_text(errors="replace")


def hostile_env(broker_url: str, results: Path, root: Path, allow_private: bool) -> dict[str, str]:
    """The environment of a worker under attack: `root` its only local root, tight caps."""
    return worker_env(
        broker_url,
        results.as_uri(),
        {
            "EARMARK_LOCAL_ROOTS": str(root),
            "EARMARK_URL_ALLOW_PRIVATE": "1" if allow_private else "0",
            "EARMARK_MAX_BYTES": str(MAX_BYTES),
            "EARMARK_MAX_SECONDS": str(MAX_SECONDS),
            "EARMARK_FETCH_TIMEOUT_S": str(FETCH_TIMEOUT_S),
            # One micro-batch for the whole corpus: slow fetches overlap instead of adding up.
            "EARMARK_MAX_BATCH": "128",
            "EARMARK_MAX_WAIT_MS": "500",
            "EARMARK_INTRA_OP_THREADS": "1",
            # S3 on a closed port, with fake credentials: no real endpoint, no real keys.
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "AWS_ACCESS_KEY_ID": "earmark-fake-access-key",
            "AWS_SECRET_ACCESS_KEY": "earmark-fake-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HF_HUB_OFFLINE": "1",
        },
    )


def start_system(
    name: str, broker_url: str, workdir: Path, root: Path, allow_private: bool
) -> System:
    """Start worker `name` on `broker_url`, its results and log in `workdir`; not yet ready."""
    env = hostile_env(broker_url, workdir / f"results_{name}", root, allow_private)
    worker = start_worker(env, workdir / f"worker_{name}.log", "--concurrency", "1")
    return System(name, worker, client_for(env), broker_url)


def assert_still_serving(system: System, good: Path) -> None:
    """The worker process lives and classifies a good clip."""
    assert system.worker.process.poll() is None, system.log()[-3000:]
    job_id = system.client.submit(str(good))
    record = system.client.result(job_id, wait=True, timeout=RECORD_TIMEOUT_S)
    assert record is not None, f"no record for a good clip after the hostile cases ({system.name})"
    assert record.status == "ok", record
    assert system.worker.process.poll() is None
