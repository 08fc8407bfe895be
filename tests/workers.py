"""Real worker processes for end-to-end tests: `earmark worker` started and stopped by fixtures.

- `workers` (a fixture of tests/conftest.py): a list to append started workers to, each stopped
  at the end of the test.
- `start_worker`: starts one; only a test marked ``worker`` may (the fast tier has none).
- `worker_env`: the environment of a test worker on the tiny fp32 wav2vec2 model, with short
  delivery timers.
- `client_for`: a producer Client with the same EARMARK_ settings as a worker's environment.
- `run_earmark`: the `earmark` command line in a child process with that environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from producer.client import Client
from producer.settings import Settings
from scripts import processes
from scripts.processes import WorkerProcess
from tests.models import GOLDEN_AUDIO, model_dir

__all__ = [
    "SHORT_TIMERS",
    "WorkerProcess",
    "client_for",
    "run_earmark",
    "start_worker",
    "worker_env",
]

#: Delivery timers and fetch retries of test workers: the production values' ratios (heartbeat
#: a sixth of the visibility timeout, restore and confirm under a sweep), ten times shorter, so a
#: crashed worker's messages come back in seconds and the fault tests keep their races, not
#: their waits.
SHORT_TIMERS = {
    "EARMARK_VISIBILITY_TIMEOUT_S": "6",
    "EARMARK_HEARTBEAT_S": "1",
    "EARMARK_RESTORE_INTERVAL_S": "1",
    "EARMARK_SWEEP_S": "1.5",
    "EARMARK_SWEEP_CONFIRM_S": "1",
    # six fetch tries over 1.15-2.3 s instead of 11.5-23 s: a refused URL fails in seconds
    "EARMARK_FETCH_RETRY_BASE_S": "0.1",
}


#: The real starter; `start_worker` below guards it, and tests/conftest.py puts the guarded one in
#: its place so that bench and script code the tests run is guarded too.
_spawn = processes.start_worker


class TierGuard:
    """Whether the running test may start a worker: set by tests/conftest.py before each test."""

    allowed = True


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """A list to append started workers to; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start_worker(env: dict[str, str], log: Path, *args: str) -> WorkerProcess:
    """`earmark worker ARGS` with `env`, logging to `log`; fails a test not marked ``worker``,
    so that the fast tier (``-m "not worker and not slow"``) never waits on one."""
    if not TierGuard.allowed:
        pytest.fail("this test starts a worker process: mark it @pytest.mark.worker")
    return _spawn(env, log, *args)


def worker_env(
    broker_url: str, results_url: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A test worker's environment: the tiny fp32 wav2vec2, the golden clips as its local root,
    a 20 ms batch wait, short delivery timers, no /metrics port (workers of parallel tests would
    all want 9808);
    results on database 1 of the broker's Redis unless `results_url` says otherwise; `extra`
    (full variable names) added or overriding."""
    return {
        "EARMARK_BROKER_URL": broker_url,
        "EARMARK_RESULTS_URL": results_url or broker_url.rsplit("/", 1)[0] + "/1",
        "EARMARK_MODEL": str(model_dir("wav2vec2")),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_LOCAL_ROOTS": str(GOLDEN_AUDIO),
        "EARMARK_MAX_WAIT_MS": "20",
        "EARMARK_METRICS_PORT": "0",
        **SHORT_TIMERS,
        **(extra or {}),
    }


def client_for(env: Mapping[str, str]) -> Client:
    """A producer Client with the EARMARK_ settings of `env`."""
    earmark = {
        k.removeprefix("EARMARK_").lower(): v for k, v in env.items() if k.startswith("EARMARK_")
    }
    return Client(Settings.model_validate(earmark))


def run_earmark(
    env: Mapping[str, str], *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """`earmark ARGS` in a child process with `env` and none of this process's EARMARK_ or AWS_
    variables; its output as text, whatever its exit code."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EARMARK_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **env},
    )
