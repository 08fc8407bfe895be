"""Poison messages: a job that kills its worker every time is dead-lettered, its batch-mates finish.

The killer here stands in for the kernel's OOM killer on a smaller machine: it SIGKILLs any
worker pool process whose resident memory passes a limit, which the poison clip (long enough
that the tiny model's attention needs gigabytes) always does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf

from tests.models import GOLDEN_AUDIO
from tests.servers import HttpServer
from tests.workers import WorkerProcess, client_for, run_earmark, start_worker, worker_env

pytestmark = pytest.mark.worker

#: Resident memory past which the stand-in OOM killer ends a worker process, in bytes.
MEMORY_LIMIT = 1_500_000_000


@pytest.fixture
def oom_killer(workers: list[WorkerProcess]) -> Iterator[list[int]]:
    """SIGKILL any worker pool process past MEMORY_LIMIT; yields the pids it killed."""
    killed: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            for worker in list(workers):
                try:
                    children = psutil.Process(worker.process.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                for child in children:
                    try:
                        if child.memory_info().rss > MEMORY_LIMIT:
                            os.kill(child.pid, signal.SIGKILL)
                            killed.append(child.pid)
                    except (psutil.NoSuchProcess, ProcessLookupError):
                        pass

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield killed
    stop.set()
    thread.join()


# The dead-letter list is the broker's, shared with earlier tests: start from an empty server.
@pytest.mark.usefixtures("redis_client")
def test_a_poison_job_is_dead_lettered_and_the_others_complete(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
    oom_killer: list[int],
) -> None:
    """Given 199 good jobs and one that always kills its worker, 199 finish and 1 is dead."""
    folder = tmp_path / "audio"
    folder.mkdir()
    poison = folder / "poison.wav"
    sf.write(poison, np.random.default_rng(0).standard_normal(16000 * 40) * 0.1, 16000)
    # EARMARK_MAX_CALL_MB would refuse the 40 s clip as too_large before it reaches the model:
    # turned off here, the clip exhausts the worker's memory, which is the poison under test.
    limits = {"EARMARK_LOCAL_ROOTS": f"{folder}:{GOLDEN_AUDIO}", "EARMARK_MAX_CALL_MB": "0"}
    env = worker_env(redis_url, (tmp_path / "results").as_uri(), limits)
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "2")
    workers.append(worker)
    worker.wait_ready()
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))
    refs = [clips[i % len(clips)] for i in range(199)]
    refs.insert(57, str(poison))
    client = client_for(env)
    submission = client.submit_many(refs, bulk=False)

    records = list(client.iter_results(submission.batch_id, wait=True, timeout=240))
    assert len(records) == 200
    by_status = {r.input: r for r in records if r.status == "error"}
    assert list(by_status) == [str(poison)]
    error = by_status[str(poison)].error
    assert error is not None and error.code == "worker_crashed"
    assert len(oom_killer) >= 3  # it was started three times, and killed each time
    status = client.status(submission.batch_id)
    assert (status.total, status.done, status.failed) == (200, 200, 1)

    listed = run_earmark(env, "dlq", "list").stdout.splitlines()
    (entry,) = [json.loads(line) for line in listed]
    assert entry["job"]["ref"] == str(poison) and entry["attempts"] == 3

    replayed = run_earmark(env, "dlq", "retry").stdout
    assert json.loads(replayed) == {"replayed": 1, "kept": 0}
    assert client.status(submission.batch_id).pending == 1  # counted again when it ends
    again = list(client.iter_results(submission.batch_id, wait=True, timeout=240))
    assert [r.error.code for r in again if r.error is not None] == ["worker_crashed"]
    assert client.status(submission.batch_id).pending == 0


def test_a_chunk_past_its_time_limit_is_killed_and_its_jobs_run_again_one_by_one(
    redis_url: str,
    http_server: HttpServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given a bulk chunk that cannot finish in time (a URL trickling a byte a second) beside a
    good clip: the chunk is killed at its limit, sent again, and the good clip gets its record."""
    good = sorted(GOLDEN_AUDIO.glob("*.wav"))[0]
    (http_server.root / "good.wav").write_bytes(good.read_bytes())
    limits = {"EARMARK_URL_ALLOW_PRIVATE": "1", "EARMARK_CHUNK_TIME_LIMIT_S": "4"}
    env = worker_env(redis_url, extra=limits)
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "1")
    workers.append(worker)
    worker.wait_ready()
    client = client_for(env)
    refs = [f"{http_server.base}/files/good.wav", f"{http_server.base}/trickle/1000"]
    submission = client.submit_many(refs)

    record = client.result(f"{submission.batch_id}:0", wait=True, timeout=90)
    log = worker.log.read_text(errors="replace")
    assert record is not None and record.status == "ok", log[-3000:]
    assert "Hard time limit (4.0s) exceeded" in log
    assert "lost messages sent again: 1" in log
    assert worker.process.poll() is None
