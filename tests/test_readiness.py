"""Readiness: the parent counts the children that loaded their model, and no more; a model
that cannot load stops the worker with a non-zero status; /healthz is 503 while the broker is
down, and says why."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from producer.state.redis import connect
from scripts.processes import free_port, wait_for
from scripts.redis_server import start_redis
from tests.servers import http_get
from tests.workers import WorkerProcess, start_worker, worker_env
from worker.service.readiness import Health, ReadinessPipe


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


def test_health_follows_the_broker(tmp_path: Path) -> None:
    """Given every model loaded, Health is ready while the broker answers, not ready with the
    reason while it is stopped, and ready again once it is back."""
    pipe = ReadinessPipe()
    pipe.report_loaded()
    assert pipe.wait(1, timeout_s=5) == 1
    server = start_redis(tmp_path)
    try:
        health = Health(pipe, connect(server.url))
        assert health.check() == (True, "ready")
        server.stop()
        ready, why = health.check()
        assert not ready and why.startswith("broker unreachable: "), why
        assert str(server.port) in why
        server = start_redis(tmp_path, port=server.port)
        assert health.check() == (True, "ready")
    finally:
        server.stop()
        pipe.close()


def test_health_is_loading_until_every_model_is(tmp_path: Path) -> None:
    pipe = ReadinessPipe()
    health = Health(pipe, connect(f"redis://127.0.0.1:{free_port()}/0"))  # nothing listens
    assert health.check() == (False, "loading")
    pipe.close()


@pytest.mark.worker
def test_healthz_is_503_while_the_broker_is_down_and_says_why(
    tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Given a ready worker, its broker stopped: /healthz answers 503 naming the broker, not
    200 (issue #23); the broker back, 200 again."""
    (tmp_path / "redis").mkdir()
    server = start_redis(tmp_path / "redis")
    try:
        port = free_port()
        env = worker_env(server.url, extra={"EARMARK_METRICS_PORT": str(port)})
        workers.append(start_worker(env, tmp_path / "worker.log"))
        workers[-1].wait_ready()
        healthz = f"http://127.0.0.1:{port}/healthz"
        assert http_get(healthz) == (200, "ready\n")
        server.stop()
        status, body = http_get(healthz)
        assert status == 503 and body.startswith("broker unreachable: "), (status, body)
        server = start_redis(tmp_path / "redis", port=server.port)
        wait_for(lambda: http_get(healthz)[0] == 200, 30, "/healthz to answer 200 again")
    finally:
        server.stop()
