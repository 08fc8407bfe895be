"""Delivery guarantees with real processes: a worker killed mid-run loses no job."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import redis

from producer.client import Client
from producer.messages import INTERACTIVE_QUEUE
from tests.models import GOLDEN_AUDIO
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

pytestmark = pytest.mark.worker

#: The issue's bound: every job has its record this long after the replacement starts.
RECOVERY_BOUND_S = 120.0
#: Jobs in the killed run: at the kill, hundreds are still queued behind the dozens held,
#: prefetched and in a batch (it was 2,000 until the suite was made fast: the same places).
JOBS = 800


def _wait_done(client: Client, batch_id: str, at_least: int, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if client.status(batch_id).done >= at_least:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"not {at_least} done after {timeout_s:.0f} s: {client.status(batch_id)}")


def test_a_worker_killed_mid_batch_loses_no_job(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
    monkeypatch: object,
) -> None:
    """Given 800 jobs flowing, SIGKILL of the whole worker group and a replacement: every job
    ends with exactly one record within two minutes. A job lost while held, prefetched, in a
    micro-batch or queued at the kill fails it, and so does one recorded twice."""
    env = worker_env(redis_url)
    client = client_for(env)
    first = start_worker(env, tmp_path / "first.log", "--concurrency", "2")
    workers.append(first)
    first.wait_ready()
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))
    submission = client.submit_many((clips[i % len(clips)] for i in range(JOBS)), bulk=False)
    _wait_done(client, submission.batch_id, 150, 120.0)

    os.killpg(first.process.pid, signal.SIGKILL)  # as a machine crash would
    first.process.wait()
    replacement = start_worker(env, tmp_path / "second.log", "--concurrency", "2")
    workers.append(replacement)
    replacement.wait_ready()
    try:
        took = _wait_done(client, submission.batch_id, JOBS, RECOVERY_BOUND_S)
    except TimeoutError:
        took = RECOVERY_BOUND_S

    records = list(client.iter_results(submission.batch_id))
    assert len({r.job_id for r in records}) == len(records)  # one record per job, never two
    status = client.status(submission.batch_id)
    assert (status.total, status.done) == (JOBS, len(records))
    lost = JOBS - len(records)
    logs = first.log.read_text(errors="replace") + replacement.log.read_text(errors="replace")
    repeats = sum(int(n) for n in re.findall(r"\((\d+) repeats\)", logs))
    swept = sum(int(n) for n in re.findall(r"lost messages sent again: (\d+)", logs))
    print(f"recovered in {took:.1f} s; {repeats} duplicated executions; {swept} swept; {lost} lost")
    assert lost == 0, f"{lost} jobs lost"


def test_a_message_popped_by_a_worker_that_died_is_sent_again(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given a message taken off its queue (BRPOP) by a worker killed before it booked it as
    unacknowledged, which the broker alone never redelivers: the sweeper sends it again."""
    env = worker_env(redis_url)
    client = client_for(env)
    clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))[:3]
    submission = client.submit_many(clips, bulk=False)
    broker = redis.Redis.from_url(redis_url)
    assert broker.rpop(INTERACTIVE_QUEUE) is not None  # what the dead worker took with it

    worker = start_worker(env, tmp_path / "worker.log")
    workers.append(worker)
    worker.wait_ready()
    _wait_done(client, submission.batch_id, len(clips), RECOVERY_BOUND_S)
    records = list(client.iter_results(submission.batch_id))
    assert sorted(r.input for r in records) == clips
    assert "lost messages sent again: 1 " in worker.log.read_text(errors="replace")
