"""Readiness: the parent counts the children that loaded their model, and no more; a model
that cannot load stops the worker with a non-zero status."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.workers import WorkerProcess, start_worker, worker_env
from worker.service.readiness import ReadinessPipe


def test_parent_counts_children_that_report() -> None:
    pipe = ReadinessPipe()
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # a pool child that has loaded its model
            pipe.report_loaded()
            os._exit(0)
        children.append(pid)
    assert pipe.wait(3, timeout_s=10) == 3
    for pid in children:
        os.waitpid(pid, 0)
    pipe.close()


def test_wait_gives_up_on_children_that_never_report() -> None:
    pipe = ReadinessPipe()
    pipe.report_loaded()
    assert pipe.wait(2, timeout_s=0.2) == 1
    pipe.close()


def test_wait_ends_when_the_worker_is_stopping() -> None:
    # Given a child that never reports, when a shutdown begins, the wait ends at once.
    pipe = ReadinessPipe()
    started = time.monotonic()
    assert pipe.wait(1, timeout_s=30, stopping=lambda: time.monotonic() - started > 0.2) == 0
    assert time.monotonic() - started < 5
    assert not pipe.ready()
    pipe.close()


def test_a_child_that_cannot_load_ends_the_wait_with_its_reason() -> None:
    """Given one child loaded and one failed, the parent stops waiting at once, not ready, with
    the failed child's reason on one line."""
    pipe = ReadinessPipe()
    children = []
    for report in (pipe.report_loaded, lambda: pipe.report_failed("no such\nmodel folder: /m")):
        pid = os.fork()
        if pid == 0:
            report()
            os._exit(0)
        children.append(pid)
    started = time.monotonic()
    assert pipe.wait(3, timeout_s=30) <= 1
    assert time.monotonic() - started < 5
    assert pipe.failure == "no such model folder: /m"
    assert not pipe.ready()
    for pid in children:
        os.waitpid(pid, 0)
    pipe.close()


@pytest.mark.worker
def test_a_worker_whose_model_cannot_load_exits_non_zero(
    redis_url: str, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Given EARMARK_MODEL naming a folder that is not there, `earmark worker` stops by itself in
    seconds with the usage error's status and one line naming the folder (before: it stayed up,
    never ready, so no supervisor restarted it or alerted)."""
    missing = tmp_path / "wav2vec2-bse"
    env = worker_env(redis_url, extra={"EARMARK_MODEL": str(missing)})
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "2")
    workers.append(worker)
    status = worker.process.wait(timeout=60)
    log = worker.log.read_text(errors="replace")
    assert status == 2, log[-3000:]
    why = f"earmark: cannot load the model: no such model folder: {missing} (EARMARK_MODEL)"
    assert [line for line in log.splitlines() if "cannot load the model" in line] == [
        line for line in log.splitlines() if why in line
    ]
    assert why in log and "earmark: ready" not in log
    assert "Traceback" not in log
