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
from typing import Any

import pytest
import redis

from producer.messages import BULK_QUEUE, CHUNK_TASK, CLASSIFY_TASK, INTERACTIVE_QUEUE
from producer.state.dlq import DeadLetters
from producer.state.outstanding import chunk_key
from tests.corpus import publish_raw, tone_wav
from tests.hostile_system import RECORD_TIMEOUT_S, System, assert_still_serving, start_system

pytestmark = pytest.mark.worker

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

    docs/guarantees.md: "Every reference gets exactly one final record"; a malformed interactive
    job with a job id gets an ``invalid_message`` record, and so should the jobs of a malformed
    chunk.
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


#: Window fields a foreign producer might send: each breaks the schema (producer/windowing.py).
HOSTILE_WINDOWS: list[Any] = [
    {"window_s": 0},
    {"window_s": -1.5},
    {"window_s": "nan"},
    {"window_s": 1e300},
    {"window_s": 1e-9},
    {"window_s": 1 / 16_000},  # one sample
    {"window_s": 1.0, "hop_s": 2.0},  # a hop larger than the window
    {"window_s": 1.0, "hop_s": 0},
    {"window_s": 1.0, "aggregate": "sum"},
    {"window_s": 1.0, "timeline": "true"},
    {"hop_s": 1.0},
    [1.0, 0.5],
    "1s",
]


def test_hostile_windows_get_invalid_message_records_on_both_queues(
    system: System, good: Path
) -> None:
    """Every hostile window, on a job and on a chunk (its own or one job's), gets an
    invalid_message record per job; no job is lost or stuck, and the worker serves on."""
    batch, clip = uuid.uuid4().hex, str(good)
    job_ids = []
    for n, window in enumerate(HOSTILE_WINDOWS):
        job_id = f"{batch}:{n}"
        publish_raw(
            system.broker_url,
            {"job": {"job_id": job_id, "batch_id": batch, "ref": clip, "window": window}},
        )
        job_ids.append(job_id)
    offset = len(HOSTILE_WINDOWS)
    for n, window in enumerate(HOSTILE_WINDOWS[:4]):
        first = offset + 2 * n
        jobs = [
            {"job_id": f"{batch}:{first}", "ref": clip},
            {"job_id": f"{batch}:{first + 1}", "ref": clip, "window": window},
        ]
        chunk = {"batch_id": batch, "chunk_id": str(first), "jobs": jobs, "window": window}
        publish_raw(system.broker_url, {"chunk": chunk}, task=CHUNK_TASK, queue=BULK_QUEUE)
        job_ids += [job["job_id"] for job in jobs]
    for job_id in job_ids:
        record = system.client.result(job_id, wait=True, timeout=RECORD_TIMEOUT_S)
        assert record is not None and record.error is not None, (job_id, record)
        assert record.error.code == "invalid_message", record
        assert "window" in record.error.message, record.error
    assert_still_serving(system, good)


def _dead_letters(system: System) -> list[dict[str, Any]]:
    return list(DeadLetters(redis.Redis.from_url(system.broker_url)).entries())


def _settled(system: System, count: int, timeout: float = RECORD_TIMEOUT_S) -> list[dict[str, Any]]:
    """The dead-letter list once it holds `count` entries, checked again 3 s later: a message
    dead-lettered again on every pass would keep it growing."""
    deadline = time.monotonic() + timeout
    while len(_dead_letters(system)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)
    return _dead_letters(system)


#: Envelopes Celery cannot make a request of: (name, publish_raw keyword arguments).
BROKEN_ENVELOPES: list[tuple[str, dict[str, Any]]] = [
    ("body_of_two", {"raw_body": b'[[], {"job": {}}]'}),
    ("body_of_one", {"raw_body": b"[[]]"}),
    ("body_a_dict", {"raw_body": b'{"job": {}}'}),
    ("body_a_string", {"raw_body": b'"earmark"'}),
    ("args_not_a_list", {"raw_body": b'["x", {}, {}]'}),
    ("kwargs_not_an_object", {"raw_body": b"[[], [1], {}]"}),
    ("embed_not_an_object", {"raw_body": b'[[], {}, "chain"]'}),
    ("no_id_header", {"kwargs": {"job": {}}, "omit_headers": ("id",)}),
    ("id_not_a_string", {"kwargs": {"job": {}}, "header_changes": {"id": 7}}),
    ("bad_timelimit", {"kwargs": {"job": {}}, "header_changes": {"timelimit": ["a", "b"]}}),
]


@pytest.mark.parametrize("queue", [INTERACTIVE_QUEUE, BULK_QUEUE])
def test_broken_envelopes_are_dead_lettered_once_and_never_end_the_worker(
    system: System, good: Path, queue: str
) -> None:
    """Given bodies of the wrong arity or shape and broken headers, on either queue: each is
    dead-lettered once with the reason, and the worker serves on (before, a body of two elements
    ended the worker, exit status 0, and the message went back on its queue to end the next)."""
    task = CLASSIFY_TASK if queue == INTERACTIVE_QUEUE else CHUNK_TASK
    before = len(_dead_letters(system))
    for _, options in BROKEN_ENVELOPES:
        publish_raw(system.broker_url, task=task, queue=queue, **options)
    entries = _settled(system, before + len(BROKEN_ENVELOPES))
    assert len(entries) == before + len(BROKEN_ENVELOPES), [e["detail"] for e in entries]
    details = [entry["detail"] for entry in entries[: len(BROKEN_ENVELOPES)]]
    assert all(entry["reason"] == "invalid_message" for entry in entries)
    for expected in ("[args, kwargs, embed]", "args is not a list", "kwargs is not an object"):
        assert any(expected in detail for detail in details), (expected, details)
    assert any("'id'" in detail for detail in details), details
    assert_still_serving(system, good)


#: Job ids off the grammar: none names a usable batch, so each is dead-lettered.
BAD_JOB_IDS = ["abc", "plainjob-1", "B:x:0", "B:007", "rt*gl?b[x]:0", "B:0\n", "B:-1", ":0"]


def test_bad_job_ids_never_wedge_the_queue(system: System, good: Path) -> None:
    """Given interactive jobs whose ids break the grammar, and one whose id names another batch
    than its batch_id, mixed with good jobs: the good ones get their records at once, the bad
    ones are dead-lettered once each, the mismatched one gets an invalid_message record (before,
    such ids wedged the queue: the micro-batch was requeued every 50 ms for ever)."""
    batch, other = uuid.uuid4().hex, uuid.uuid4().hex
    before = len(_dead_letters(system))
    start = len(system.log())
    for n, job_id in enumerate(BAD_JOB_IDS):
        batch_id = job_id.rpartition(":")[0] or "B"
        publish_raw(
            system.broker_url, {"job": {"job_id": job_id, "batch_id": batch_id, "ref": str(good)}}
        )
        publish_raw(
            system.broker_url,
            {"job": {"job_id": f"{batch}:{n}", "batch_id": batch, "ref": str(good)}},
        )
    mismatched = {"job_id": f"{other}:0", "batch_id": batch, "ref": str(good)}
    publish_raw(system.broker_url, {"job": mismatched})
    for n in range(len(BAD_JOB_IDS)):
        record = system.client.result(f"{batch}:{n}", wait=True, timeout=RECORD_TIMEOUT_S)
        assert record is not None and record.status == "ok", (n, record)
    record = system.client.result(f"{other}:0", wait=True, timeout=RECORD_TIMEOUT_S)
    assert record is not None and record.error is not None
    assert record.error.code == "invalid_message" and "another batch" in record.error.message
    entries = _settled(system, before + len(BAD_JOB_IDS))
    assert len(entries) == before + len(BAD_JOB_IDS), [e["detail"] for e in entries]
    assert system.log()[start:].count("Traceback") == 0, system.log()[start:][-3000:]
    assert_still_serving(system, good)


def test_a_chunk_with_one_bad_id_records_every_good_job_and_is_unbooked(
    system: System, good: Path
) -> None:
    """Given a booked bulk chunk whose second job has an id of another batch: the good jobs get
    their records, the bad one its invalid_message record, and the chunk's booking is lifted so
    the sweeper never sends it again (before, one bad id lost every job's record)."""
    batch, other = uuid.uuid4().hex, uuid.uuid4().hex
    jobs = [
        {"job_id": f"{batch}:0", "ref": str(good)},
        {"job_id": f"{other}:1", "ref": str(good)},
        {"job_id": f"{batch}:2", "ref": str(good)},
    ]
    chunk = {"batch_id": batch, "chunk_id": "0", "jobs": jobs}
    outstanding = system.client.state.outstanding
    outstanding.add(batch, CHUNK_TASK, {chunk_key(batch, "0"): {"chunk": chunk}})
    publish_raw(system.broker_url, {"chunk": chunk}, task=CHUNK_TASK, queue=BULK_QUEUE)
    for job_id in (f"{batch}:0", f"{batch}:2"):
        record = system.client.result(job_id, wait=True, timeout=RECORD_TIMEOUT_S)
        assert record is not None and record.status == "ok", record
    record = system.client.result(f"{other}:1", wait=True, timeout=RECORD_TIMEOUT_S)
    assert record is not None and record.error is not None
    assert record.error.code == "invalid_message"
    deadline = time.monotonic() + RECORD_TIMEOUT_S
    while outstanding.count(batch) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert outstanding.count(batch) == 0
