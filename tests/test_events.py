"""Task events for every job: Flower, run against the real broker, lists each interactive job
of a micro-batch and each bulk chunk; ``--without-events`` sends none."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.processes import free_port, wait_for
from tests.models import GOLDEN_AUDIO
from tests.prometheus import settle
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

pytestmark = pytest.mark.worker

#: Seconds within which a worker with events on has published them (its heartbeat is 2 s).
EVENT_FLUSH_S = 3.0


class Flower:
    """A running Flower: its base URL."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> Any:
        """The JSON Flower answers for `path`."""
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.loads(response.read())

    def up(self) -> bool:
        """Whether Flower answers its health check."""
        try:
            with urllib.request.urlopen(self.base + "/healthcheck", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Every task Flower has seen, by uuid."""
        return dict(self.get("/api/tasks"))

    def sees_worker(self, name: str) -> bool:
        """Whether Flower has the worker's heartbeat events."""
        return any(w.get("hostname") == name for w in self.get("/workers?json=1")["data"])


@pytest.fixture
def flower(redis_url: str, redis_client: object, tmp_path: Path) -> Iterator[Flower]:
    """Flower on a free port, on the broker, loaded the way docs/operations.md says; told not to
    turn task events on in the workers itself (by default it does, which would hide a worker that
    sends none of its own). The broker starts empty (`redis_client` flushes it): a message an
    earlier test left queued would run here and show as one more task."""
    port = free_port()
    env = {**os.environ, **worker_env(redis_url), "FLOWER_UNAUTHENTICATED_API": "true"}
    command = [sys.executable, "-m", "celery", "-A", "worker.service.monitor", "flower"]
    with (tmp_path / "flower.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, f"--port={port}", "--address=127.0.0.1", "--enable_events=False"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        server = Flower(f"http://127.0.0.1:{port}")
        wait_for(server.up, 60, "flower")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


def node_name(worker: WorkerProcess) -> str:
    """The worker's Celery node name, as its log shows it."""
    found = re.search(r"earmark-\d+@[^\s\"]+", worker.log.read_text())
    assert found, worker.log.read_text()[-2000:]
    return found.group(0).rstrip(":")


def test_flower_lists_every_interactive_job_and_the_bulk_chunk(
    redis_url: str, flower: Flower, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # Given a worker with events on (the default), seen by Flower
    env = worker_env(redis_url)
    worker = start_worker(env, tmp_path / "worker.log")
    workers.append(worker)
    worker.wait_ready()
    wait_for(lambda: flower.sees_worker(node_name(worker)), 30, "the worker in flower")

    # When 20 interactive jobs and one bulk chunk run
    client = client_for(env)
    clips = sorted(str(path) for path in GOLDEN_AUDIO.glob("*.wav"))
    refs = [clips[i % len(clips)] for i in range(20)]
    interactive = client.submit_many(refs, bulk=False).batch_id
    chunk = client.submit_many(clips[:3], bulk=True).batch_id
    for batch in (interactive, chunk):
        assert len(list(client.iter_results(batch, wait=True, timeout=60))) in (20, 3)

    # Then Flower's API lists every interactive job and the chunk, each succeeded
    def succeeded() -> tuple[set[str], int]:
        tasks = flower.tasks().values()
        # A message's key (its job id) is its kwargsrepr, which Flower shows as its kwargs.
        jobs = {
            task["kwargs"]
            for task in tasks
            if task["name"] == "earmark.classify" and task["state"] == "SUCCESS"
        }
        chunks = sum(
            1
            for task in tasks
            if task["name"] == "earmark.classify_chunk" and task["state"] == "SUCCESS"
        )
        return jobs, chunks

    settle(succeeded, ({f"{interactive}:{i}" for i in range(20)}, 1))
    started = [task for task in flower.tasks().values() if task["name"] == "earmark.classify"]
    assert all(task["worker"] == node_name(worker) and task["started"] for task in started)


def test_without_events_flower_sees_no_task(
    redis_url: str, flower: Flower, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    # Given a worker started with --without-events
    env = worker_env(redis_url)
    worker = start_worker(env, tmp_path / "worker.log", "--without-events")
    workers.append(worker)
    worker.wait_ready()

    # When interactive jobs and a chunk run to their records
    client = client_for(env)
    clips = sorted(str(path) for path in GOLDEN_AUDIO.glob("*.wav"))[:3]
    for batch in (client.submit_many(clips, bulk=False), client.submit_many(clips)):
        assert len(list(client.iter_results(batch.batch_id, wait=True, timeout=60))) == 3

    # Then Flower sees the worker (its heartbeats go out either way) but, past the time Celery
    # takes to flush buffered events, no task
    wait_for(lambda: flower.sees_worker(node_name(worker)), 30, "the worker in flower")
    time.sleep(EVENT_FLUSH_S)
    seen = [(t["name"], t["state"], t["worker"], t["kwargs"]) for t in flower.tasks().values()]
    assert seen == []
