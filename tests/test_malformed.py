"""Hand-built task messages through a real worker: each is recorded or dead-lettered, and the
worker lives on (the worker side is worker/service/malformed.py).

The messages bypass the producer's Client (tests/corpus.py: `publish_raw`): jobs that break the
schema, with or without a usable job id, an oversized reference, a pickled body, a body that is
not JSON, an unknown task name, and a bulk chunk with one bad job. The worker is the production
default (``EARMARK_URL_ALLOW_PRIVATE=0``) of tests/test_hostile.py, on a broker database of its
own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.messages import BULK_QUEUE, CHUNK_TASK
from producer.state.dlq import DeadLetters
from tests.corpus import publish_raw, tone_wav
from tests.hostile_system import RECORD_TIMEOUT_S, System, assert_still_serving, start_system

#: The broker database of this module's worker (tests/test_hostile.py's use 8 and 9).
BROKER_DB = 10


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good clip, alone in the worker's local root."""
    root = tmp_path_factory.mktemp("malformed") / "root"
    root.mkdir()
    path = root / "good.wav"
    path.write_bytes(tone_wav())
    return path


@pytest.fixture(scope="module")
def system(redis_url: str, good: Path) -> Iterator[System]:
    """The worker, ready; stopped at the end of the module."""
    broker = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    system = start_system("off", broker, good.parent.parent, good.parent, allow_private=False)
    try:
        system.worker.wait_ready()
        yield system
    finally:
        system.worker.stop()


def _wait_for_log(system: System, text: str, after: int, timeout: float = RECORD_TIMEOUT_S) -> str:
    """The log past offset `after` once it contains `text`; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail = system.log()[after:]
        if text in tail:
            return tail
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not logged by the {system.name} worker:\n{tail[-3000:]}")


def test_raw_malformed_messages_are_recorded_or_dead_lettered_and_the_worker_survives(
    system: System, good: Path
) -> None:
    """Messages that bypass the producer: bad jobs, no job id, oversized, pickled, not JSON."""
    batch, clip = uuid.uuid4().hex, str(good)
    start = len(system.log())
    client, broker = system.client, system.broker_url
    # (a) a job without a ref, with a valid job id: an invalid_message record.
    publish_raw(broker, {"job": {"job_id": f"{batch}:0", "batch_id": batch}})
    # (b) a job without a job id: no record can be written; dead-lettered.
    publish_raw(broker, {"job": {"batch_id": batch, "ref": clip}})
    # (c) an oversized message: a 2 MB reference, with a job id.
    huge = "/" + "a" * (2 * 1024 * 1024)
    publish_raw(broker, {"job": {"job_id": f"{batch}:1", "batch_id": batch, "ref": huge}})
    # (c') a job with a field the schema does not know, and one with a negative top_k.
    bogus = {"job_id": f"{batch}:2", "batch_id": batch, "ref": clip, "shell": "rm -rf /"}
    publish_raw(broker, {"job": bogus})
    negative = {"job_id": f"{batch}:3", "batch_id": batch, "ref": clip, "top_k": -1}
    publish_raw(broker, {"job": negative})
    # (d) a pickled message, even a well-formed one: refused (JSON only), never run.
    pickled = {"job": {"job_id": f"{batch}:4", "batch_id": batch, "ref": clip}}
    publish_raw(broker, pickled, serializer="pickle")
    # (e) a body that is not JSON at all, and (f) a task name no worker knows.
    publish_raw(broker, raw_body=b'{"not": json')
    publish_raw(broker, {"job": {}}, task="earmark.rm_rf")
    # (g) kwargs that are not a job at all: no job id, dead-lettered.
    publish_raw(broker, {"job": "s3://bucket/key.wav"})

    for index in (0, 1, 2, 3):
        record = client.result(f"{batch}:{index}", wait=True, timeout=RECORD_TIMEOUT_S)
        assert record is not None, f"no record for raw job {index}"
        assert record.status == "error" and record.error is not None, record
        assert record.error.code == "invalid_message", record
    _wait_for_log(system, "dead-lettered a task message without a valid job id", start)
    _wait_for_log(system, "Refusing to deserialize untrusted content of type pickle", start)
    _wait_for_log(system, "Can't decode message body", start)
    _wait_for_log(system, "earmark.rm_rf", start)
    assert_still_serving(system, good)
    assert client.result(f"{batch}:4") is None  # the pickled job never ran
    log = system.log()[start:]
    assert log.count("dead-lettered a task message without a valid job id") >= 2, log[-3000:]
    # Every message that names no job is dead-lettered, the refused ones too (pickle unread).
    details = [e["detail"] for e in DeadLetters(redis.Redis.from_url(system.broker_url)).entries()]
    assert len(details) >= 5, details
    for refused in (
        "job_id: Field required",
        "Refusing to deserialize untrusted content of type pickle",
        "cannot decode (application/json)",
        "earmark.rm_rf",
    ):
        assert any(refused in d for d in details), (refused, details)
    print("raw messages: 9 sent; 4 invalid_message records, 5 dead-lettered (3 refused); alive")


def test_a_malformed_bulk_chunk_still_gets_a_record_per_job(system: System, good: Path) -> None:
    """A chunk whose jobs carry valid ids but one bad field: no job may vanish without a record.

    README: "Every reference gets exactly one final record"; a malformed interactive job with a
    job id gets an ``invalid_message`` record, and so should the jobs of a malformed chunk.
    """
    batch = uuid.uuid4().hex
    jobs = [
        {"job_id": f"{batch}:0", "ref": str(good)},
        {"job_id": f"{batch}:1", "ref": str(good), "shell": "rm -rf /"},
    ]
    chunk = {"batch_id": batch, "chunk_id": "0", "jobs": jobs}
    publish_raw(system.broker_url, {"chunk": chunk}, task=CHUNK_TASK, queue=BULK_QUEUE)
    deadline = time.monotonic() + 10.0  # the worker fails such a chunk within milliseconds
    records = [
        system.client.result(
            job["job_id"], wait=True, timeout=max(0.0, deadline - time.monotonic())
        )
        for job in jobs
    ]
    assert system.worker.process.poll() is None
    missing = [job["job_id"] for job, record in zip(jobs, records, strict=True) if record is None]
    assert not missing, (
        f"jobs of a malformed chunk got no record: {missing}; worker log:\n" + system.log()[-2000:]
    )
