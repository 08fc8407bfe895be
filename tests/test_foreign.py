"""A producer in another language: Node.js with celery-node (npm), following docs/protocol.md's
producer protocol (reserve, book, publish), gets earmark's guarantees; one that skips the
reservation is never told its batch is complete."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.client import Client
from producer.errors import UnknownId
from tests.models import GOLDEN_AUDIO
from tests.tools import require_tool
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

pytestmark = pytest.mark.worker

FOREIGN = Path(__file__).parent / "foreign"
#: Seconds for the records of a handful of clips on the tiny model.
RECORDS_TIMEOUT_S = 90.0
CLIPS = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))


@pytest.fixture(scope="session")
def node_producer() -> Path:
    """tests/foreign with celery-node installed from the npm registry (once per checkout)."""
    require_tool("node", package="nodejs")
    npm = require_tool("npm", package="npm")
    if not (FOREIGN / "node_modules" / "celery-node").is_dir():
        subprocess.run(
            [npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--silent"],
            cwd=FOREIGN,
            check=True,
            timeout=300,
        )
    return FOREIGN / "produce.js"


def produce(script: Path, env: dict[str, str], batch_id: str, **spec: object) -> None:
    """Run the Node.js producer against the test worker's broker."""
    done = subprocess.run(
        ["node", str(script), env["EARMARK_BROKER_URL"], batch_id, "3600", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["batch_id"] == batch_id


@pytest.fixture
def env(redis_url: str) -> dict[str, str]:
    """One Redis database for broker, ledger and results, as the protocol example assumes."""
    return worker_env(redis_url, redis_url)


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[Client]:
    yield client_for(env)


def test_a_celery_node_producer_following_the_protocol_gets_every_record(
    node_producer: Path,
    env: dict[str, str],
    client: Client,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given jobs reserved, booked and published by celery-node (3 interactive, a chunk of 2)
    before any worker runs: status counts them pending; once a worker runs, each gets one ok
    record, the batch completes, and nothing stays booked."""
    batch = uuid.uuid4().hex
    produce(node_producer, env, batch, interactive=CLIPS[:3], bulk=CLIPS[3:5], reserve=True)
    queued = client.status(batch)
    assert (queued.total, queued.done, queued.pending) == (5, 0, 5)
    workers.append(start_worker(env, tmp_path / "worker.log"))
    workers[0].wait_ready()
    records = list(client.iter_results(batch, wait=True, timeout=RECORDS_TIMEOUT_S))
    assert sorted(r.job_id or "" for r in records) == [f"{batch}:{n}" for n in range(5)]
    assert all(r.status == "ok" and r.labels for r in records), records
    assert sorted(r.input for r in records) == sorted(CLIPS[:5])
    done = client.status(batch)
    assert (done.total, done.done, done.failed, done.pending) == (5, 5, 0, 0)
    assert client.state.outstanding.count(batch) == 0


def test_a_producer_that_skips_the_reservation_is_never_told_complete(
    node_producer: Path,
    env: dict[str, str],
    client: Client,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given jobs published without a reservation (before, status read {"total": 0, "done": 1,
    "pending": 0} while the rest were still queued, and `results --wait` returned at once): the
    jobs still run, but pending stays unknown, never a false 0. Until a first record, nothing
    is known of the batch at all (UnknownId); a wait with a timeout still sees the records."""
    batch = uuid.uuid4().hex
    produce(node_producer, env, batch, interactive=CLIPS[:2], bulk=[], reserve=False)
    with pytest.raises(UnknownId):
        client.status(batch)
    workers.append(start_worker(env, tmp_path / "worker.log"))
    workers[0].wait_ready()
    for n in range(2):
        record = client.result(f"{batch}:{n}", wait=True, timeout=RECORDS_TIMEOUT_S)
        assert record is not None and record.status == "ok", record
    status = client.status(batch)
    assert (status.total, status.done, status.pending) == (0, 2, None)


def test_a_celery_node_producer_asks_for_windows_and_a_timeline(
    node_producer: Path,
    env: dict[str, str],
    client: Client,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given a job and a chunk from celery-node, each with a `window` object (docs/protocol.md):
    every record is windowed as asked, and its timeline is read back beside it."""
    batch = uuid.uuid4().hex
    window = {"window_s": 0.5, "hop_s": 0.25, "aggregate": "max", "timeline": True}
    produce(node_producer, env, batch, interactive=CLIPS[:1], bulk=CLIPS[1:3], reserve=True,
            window=window)  # fmt: skip
    workers.append(start_worker(env, tmp_path / "worker.log"))
    workers[0].wait_ready()
    records = list(client.iter_results(batch, wait=True, timeout=RECORDS_TIMEOUT_S))
    assert len(records) == 3 and all(r.status == "ok" for r in records), records
    for record in records:
        assert record.windows is not None and record.windows.aggregate == "max", record
        assert record.windows.window_s == 0.5 and record.windows.hop_s == 0.25
        timeline = client.timeline(record.job_id or "")
        assert timeline is not None and len(timeline.windows) == record.windows.count > 1
