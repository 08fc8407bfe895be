"""Worker log lines (worker/service/logs.py): one JSON object a line with EARMARK_LOG_FORMAT=json
(time, level, message, node, the job where known), Celery's text with `text`; masked either way."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest

from tests.models import GOLDEN_AUDIO
from tests.workers import WorkerProcess, client_for, start_worker, worker_env
from worker.service.logs import JsonFormatter

#: Seconds for one clip's record on the tiny model.
RECORD_TIMEOUT_S = 60.0


def test_a_record_becomes_one_line_of_json_with_its_context() -> None:
    record = logging.LogRecord(
        "earmark", logging.ERROR, __file__, 1, "job %s: %s", ("B:3", "x"), None
    )
    record.job_id, record.batch_id = "B:3", "B"
    line = json.loads(JsonFormatter("earmark-1@host").format(record))
    assert line["message"] == "job B:3: x" and line["level"] == "ERROR"
    assert (line["node"], line["job_id"], line["batch_id"]) == ("earmark-1@host", "B:3", "B")
    assert line["time"].endswith("+00:00")


def _lines_after_a_job(env: dict[str, str], log: Path, started: list[WorkerProcess]) -> list[str]:
    started.append(start_worker(env, log))
    started[-1].wait_ready()
    client = client_for(env)
    job_id = client.submit(str(next(GOLDEN_AUDIO.glob("*.wav"))))
    assert client.result(job_id, wait=True, timeout=RECORD_TIMEOUT_S) is not None
    deadline = time.monotonic() + 10
    while "earmark: finished" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return log.read_text().splitlines()


@pytest.mark.worker
def test_json_logs_are_one_object_a_line(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given EARMARK_LOG_FORMAT=json: every log line (not Celery's start-up banner, which is
    printed, not logged) is JSON; the ready line and the finished line carry the node name, the
    finished line its batch."""
    env = worker_env(redis_url, extra={"EARMARK_LOG_FORMAT": "json"})
    lines = _lines_after_a_job(env, tmp_path / "worker.log", workers)
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert not [line for line in lines if line.startswith("[20")], "a text log line"
    node = f"earmark-{workers[-1].process.pid}@{socket.gethostname()}"
    ready = [entry for entry in logged if entry["message"].startswith("earmark: ready")]
    finished = [entry for entry in logged if entry["message"].startswith("earmark: finished")]
    assert ready and finished and ready[0]["node"] == node and ready[0]["level"] == "INFO"
    assert finished[0]["batch_id"] and set(finished[0]) >= {"time", "level", "message", "pid"}


@pytest.mark.worker
def test_text_logs_when_asked(
    redis_url: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    env = worker_env(redis_url, extra={"EARMARK_LOG_FORMAT": "text"})
    lines = _lines_after_a_job(env, tmp_path / "worker.log", workers)
    assert any("earmark: ready" in line and line.startswith("[20") for line in lines)
    assert not [line for line in lines if line.startswith('{"time"')]


@pytest.mark.worker
def test_the_start_banner_shows_a_redis_without_a_password_as_it_is(
    redis_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Given a broker without a password, Celery's banner shows its URL unchanged (before:
    kombu's ``redis://:**@127.0.0.1…``, a password that does not exist)."""
    assert "@" not in redis_url
    workers.append(start_worker(worker_env(redis_url), tmp_path / "worker.log"))
    workers[-1].wait_ready()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    [transport] = [line for line in log.splitlines() if ".> transport:" in line]
    assert transport.split()[-1] == redis_url, transport
