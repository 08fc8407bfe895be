"""The job runner in process: a real pipeline, a real results store and a private real Redis.

Redeliveries and crashes are simulated through the shared state itself: a job whose attempt
count is already above zero was started before (a redelivery); one whose count reached
``max_attempts`` killed its worker that often. Each test runs once per results store (Redis, a
folder); with a folder the ledger lives on the broker's Redis, with Redis beside the results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.errors import StoreError
from producer.ids import new_batch_id
from producer.messages import CHUNK_TASK, CLASSIFY_TASK, Chunk, Job, JobSpec
from producer.records import ErrorInfo, ResultRecord
from producer.settings import Settings
from producer.state.outstanding import chunk_key
from producer.state.shared import SharedState, open_state
from producer.stores import FileStore, RedisStore, open_store
from tests.models import GOLDEN_AUDIO, golden, model_dir
from worker.classification import AudioClassificationPipeline, pipeline
from worker.retry import RetryPolicy
from worker.service.jobs import JobRunner

#: The node name the runner writes into every record.
NODE = "earmark-4242@jobs-test"
#: Largest score gap to the reference pipeline allowed on the fp32 graph.
PARITY_ATOL = 1e-3
#: The reference's scores of every golden clip, best first (tests/data/golden/wav2vec2.json).
REFERENCE: dict[str, list[dict[str, Any]]] = {
    name: outputs["default"] for name, outputs in golden("wav2vec2")["clips"].items()
}
CLIPS = sorted(REFERENCE)


def _settings(redis_url: str, results_url: str) -> Settings:
    return Settings(
        model=str(model_dir("wav2vec2")),
        dtype="fp32",
        local_roots=str(GOLDEN_AUDIO),
        broker_url=redis_url,
        results_url=results_url,
    )


@pytest.fixture(scope="module")
def classify(redis_url: str) -> AudioClassificationPipeline:
    """One warm pipeline on the tiny fp32 wav2vec2 for the whole module."""
    return pipeline(settings=_settings(redis_url, redis_url))


@pytest.fixture(params=["redis", "file"])
def runner(
    request: pytest.FixtureRequest,
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    classify: AudioClassificationPipeline,
) -> Iterator[JobRunner]:
    """A runner on the flushed private Redis, its results in Redis (database 1) or a folder.

    Store and ledger writes are tried once: a failure shows at once instead of after minutes.
    """
    redis_results = redis_url.rsplit("/", 1)[0] + "/1"
    results_url = redis_results if request.param == "redis" else (tmp_path / "out").as_uri()
    settings = _settings(redis_url, results_url)
    state = open_state(settings)
    store = open_store(results_url)
    yield JobRunner(classify, store, state, worker=NODE, retry=RetryPolicy(attempts=1))
    for part in (state.ledger, state.outstanding, state.attempts, state.dead_letters):
        part.client.close()
    if isinstance(store, RedisStore):
        store.client.close()


class WriteLog(logging.Handler):
    """Collects (jobs, repeats) of each write the runner logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.writes: list[tuple[object, ...]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the arguments of the runner's "finished" lines."""
        if str(record.msg).startswith("earmark: finished") and isinstance(record.args, tuple):
            self.writes.append(record.args)


@pytest.fixture
def batches() -> Iterator[list[tuple[object, ...]]]:
    """(jobs, repeats) of each write the runner makes, in order: one entry per batch it ran
    (a fresh batch, each suspect alone) or set of records it was handed."""
    logger = logging.getLogger("worker.service.jobs")
    handler, level = WriteLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.writes
    logger.removeHandler(handler)
    logger.setLevel(level)


def clip(name: str) -> str:
    """The reference of one golden clip."""
    return str(GOLDEN_AUDIO / name)


def make_jobs(batch: str, refs: list[str], **fields: Any) -> list[Job]:
    """Jobs 0, 1, … of `batch`, one per reference, all enqueued at the same instant."""
    return [
        Job(job_id=f"{batch}:{i}", batch_id=batch, ref=ref, enqueued_at=1.0, **fields)
        for i, ref in enumerate(refs)
    ]


def records_of(runner: JobRunner, batch: str) -> dict[str, ResultRecord]:
    """Every stored record of `batch`, by job id; fails on a job stored twice."""
    records = list(runner.store.iter_batch(batch))
    by_id = {str(record.job_id): record for record in records}
    assert len(by_id) == len(records), records
    return by_id


def counts(state: SharedState, batch: str) -> tuple[int, int, int, int | None]:
    """The ledger's (total, done, failed, pending) of `batch`."""
    status = state.ledger.status(batch)
    return status.total, status.done, status.failed, status.pending


def assert_top_label(record: ResultRecord, clip_name: str) -> None:
    """The record is ok with the reference's best label and score for the clip."""
    assert record.status == "ok", record
    assert record.labels is not None and len(record.labels) == 1, record
    expected = REFERENCE[clip_name][0]
    assert record.labels[0].label == expected["label"]
    assert abs(record.labels[0].score - expected["score"]) <= PARITY_ATOL


# --- (a) fresh jobs, and jobs already finished ------------------------------------------------


def test_fresh_jobs_run_as_one_batch_and_get_one_record_each(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given three fresh, booked jobs: one batch, one record each, counted once, unbooked."""
    batch, names = new_batch_id(), CLIPS[:3]
    jobs = make_jobs(batch, [clip(n) for n in names], meta={"source": "test"})
    runner.state.ledger.reserve(batch, len(jobs))
    bodies = {job.job_id: {"job": job.model_dump(mode="json")} for job in jobs}
    runner.state.outstanding.add(batch, CLASSIFY_TASK, bodies)

    runner.run(jobs)

    assert batches == [(3, 0)]
    records = records_of(runner, batch)
    assert sorted(records) == sorted(job.job_id for job in jobs)
    for job, name in zip(jobs, names, strict=True):
        record = records[job.job_id]
        assert (record.batch_id, record.input, record.meta) == (batch, job.ref, {"source": "test"})
        assert_top_label(record, name)
    # One batch: every record was started at the same instant.
    assert len({record.timings.queued_s for record in records.values()}) == 1
    assert counts(runner.state, batch) == (3, 3, 0, 0)
    assert runner.state.attempts.seen([job.job_id for job in jobs]) == {j.job_id: 1 for j in jobs}
    assert runner.state.outstanding.count(batch) == 0  # no message of theirs is sent again


def test_finished_jobs_are_not_run_or_written_again(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given jobs already finished, when they are delivered again: nothing runs, nothing is
    written (a marked record stays as it was), nothing is counted, no attempt is added."""
    batch = new_batch_id()
    jobs = make_jobs(batch, [clip(n) for n in CLIPS[:2]])
    runner.state.ledger.reserve(batch, len(jobs))
    runner.run(jobs)
    for record in records_of(runner, batch).values():
        runner.store.put(record.model_copy(update={"worker": "marked"}))
    before = counts(runner.state, batch)

    runner.run(jobs)
    runner.run(list(reversed(jobs)))

    assert batches == [(2, 0)]  # the first run only
    assert {r.worker for r in records_of(runner, batch).values()} == {"marked"}
    assert counts(runner.state, batch) == before == (2, 2, 0, 0)
    assert runner.state.attempts.seen([job.job_id for job in jobs]) == {j.job_id: 1 for j in jobs}


def test_only_the_unfinished_jobs_of_a_redelivered_batch_run(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given a batch of which one job finished earlier: the other two run, the first stays."""
    batch = new_batch_id()
    jobs = make_jobs(batch, [clip(n) for n in CLIPS[:3]])
    runner.state.ledger.reserve(batch, len(jobs))
    runner.run(jobs[:1])
    runner.store.put(records_of(runner, batch)[jobs[0].job_id].model_copy(update={"worker": "x"}))

    runner.run(jobs)

    assert batches == [(1, 0), (2, 0)]
    records = records_of(runner, batch)
    assert [records[job.job_id].worker for job in jobs] == ["x", NODE, NODE]
    assert counts(runner.state, batch) == (3, 3, 0, 0)


# --- (b) suspects -----------------------------------------------------------------------------


def test_a_redelivered_job_runs_alone_and_its_attempt_is_counted_once(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given two fresh jobs and one started once before (a redelivery) between them: the fresh
    pair runs as a batch, then the suspect alone; its count goes from 1 to 2."""
    batch = new_batch_id()
    names = [CLIPS[0], CLIPS[1], CLIPS[2]]
    jobs = make_jobs(batch, [clip(n) for n in names])
    suspect = jobs[1]
    runner.state.ledger.reserve(batch, len(jobs))
    assert runner.state.attempts.begin([suspect.job_id]) == {suspect.job_id: 1}

    runner.run(jobs)

    assert batches == [(2, 0), (1, 0)]
    seen = runner.state.attempts.seen([job.job_id for job in jobs])
    assert seen == {jobs[0].job_id: 1, suspect.job_id: 2, jobs[2].job_id: 1}
    records = records_of(runner, batch)
    for job, name in zip(jobs, names, strict=True):
        assert_top_label(records[job.job_id], name)
        assert records[job.job_id].worker == NODE
    # The suspect started after the pair's batch: it waited longer in the queue.
    queued = {job_id: record.timings.queued_s or 0.0 for job_id, record in records.items()}
    assert queued[suspect.job_id] > queued[jobs[0].job_id] == queued[jobs[2].job_id]
    assert counts(runner.state, batch) == (3, 3, 0, 0)
    assert list(runner.state.dead_letters.entries()) == []


def test_every_suspect_of_a_batch_runs_alone(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given a batch redelivered whole (every job started once): each job runs on its own."""
    batch = new_batch_id()
    jobs = make_jobs(batch, [clip(n) for n in CLIPS[:3]])
    runner.state.attempts.begin([job.job_id for job in jobs])

    runner.run(jobs)

    assert batches == [(1, 0), (1, 0), (1, 0)]
    assert runner.state.attempts.seen([job.job_id for job in jobs]) == {j.job_id: 2 for j in jobs}
    assert sorted(records_of(runner, batch)) == sorted(job.job_id for job in jobs)


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_the_last_allowed_start_still_runs(
    runner: JobRunner, max_attempts: int, batches: list[tuple[object, ...]]
) -> None:
    """Given a job started max_attempts - 1 times: its last allowed start classifies it."""
    runner = replace(runner, max_attempts=max_attempts)
    batch = new_batch_id()
    (job,) = make_jobs(batch, [clip(CLIPS[0])])
    for _ in range(max_attempts - 1):
        runner.state.attempts.begin([job.job_id])

    runner.run([job])

    assert batches == [(1, 0)]
    assert_top_label(records_of(runner, batch)[job.job_id], CLIPS[0])
    assert runner.state.attempts.seen([job.job_id]) == {job.job_id: max_attempts}
    assert list(runner.state.dead_letters.entries()) == []


# --- (c) dead letters -------------------------------------------------------------------------


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_job_that_crashed_its_worker_max_attempts_times_is_dead_lettered_once(
    runner: JobRunner, max_attempts: int, batches: list[tuple[object, ...]]
) -> None:
    """Given a job started max_attempts times already, beside a fresh one: it is not run but
    gets a worker_crashed record, one dead letter and a failed count; the other finishes ok.
    Delivered again, it adds nothing."""
    runner = replace(runner, max_attempts=max_attempts)
    batch = new_batch_id()
    good, poison = make_jobs(batch, [clip(CLIPS[0]), clip(CLIPS[1])])
    runner.state.ledger.reserve(batch, 2)
    for _ in range(max_attempts):
        runner.state.attempts.begin([poison.job_id])

    runner.run([good, poison])
    runner.run([good, poison])

    assert batches == [(1, 0), (1, 0)]
    records = records_of(runner, batch)
    assert_top_label(records[good.job_id], CLIPS[0])
    crashed = records[poison.job_id]
    assert (crashed.status, crashed.labels, crashed.input) == ("error", None, poison.ref)
    assert crashed.error is not None and crashed.error.code == "worker_crashed"
    assert f"died {max_attempts} times" in crashed.error.message
    assert crashed.worker == NODE
    (entry,) = runner.state.dead_letters.entries()
    assert (entry["reason"], entry["attempts"]) == ("worker_crashed", max_attempts)
    assert Job.model_validate(entry["job"]) == poison
    assert counts(runner.state, batch) == (2, 2, 1, 0)


# --- (d) chunks -------------------------------------------------------------------------------


def test_a_chunk_writes_and_counts_its_records_and_unbooks_only_its_message(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given two booked chunks of one batch: running the first writes its three records (the
    chunk's top_k and each job's meta), counts them, and unbooks its message, not the other's."""
    batch, names = new_batch_id(), CLIPS[:3]
    specs = [
        JobSpec(job_id=f"{batch}:{i}", ref=clip(name), meta={"line": i})
        for i, name in enumerate(names)
    ]
    first = Chunk(batch_id=batch, chunk_id="0", jobs=specs, top_k=2)
    second = Chunk(batch_id=batch, chunk_id="3", jobs=[JobSpec(job_id=f"{batch}:3", ref="x.wav")])
    runner.state.ledger.reserve(batch, 4)
    bodies = {
        chunk_key(batch, c.chunk_id): {"chunk": c.model_dump(mode="json")} for c in (first, second)
    }
    runner.state.outstanding.add(batch, CHUNK_TASK, bodies)

    runner.run_chunk(first)

    assert batches == [(3, 0)]
    records = records_of(runner, batch)
    assert sorted(records) == [f"{batch}:{i}" for i in range(3)]
    for i, name in enumerate(names):
        record = records[f"{batch}:{i}"]
        assert record.status == "ok" and record.meta == {"line": i}, record
        expected = [entry["label"] for entry in REFERENCE[name][:2]]
        assert [label.label for label in record.labels or []] == expected
        assert runner.store.get(f"{batch}:{i}") == record
    assert counts(runner.state, batch) == (4, 3, 0, 1)
    assert runner.state.outstanding.keys(batch) == [chunk_key(batch, "3")]
    if isinstance(runner.store, FileStore):  # one shard, not an object per job
        written = sorted(p.relative_to(runner.store.root) for p in runner.store.root.rglob("*"))
        assert written == [Path(batch), Path(batch, "chunks"), Path(batch, "chunks", "0.jsonl")]


def test_a_chunk_whose_jobs_all_finished_is_only_unbooked(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given a chunk delivered again after its records were counted: nothing runs or is
    written again, and its message is unbooked."""
    batch = new_batch_id()
    specs = [JobSpec(job_id=f"{batch}:{i}", ref=clip(n)) for i, n in enumerate(CLIPS[:2])]
    chunk = Chunk(batch_id=batch, chunk_id="0", jobs=specs)
    runner.run_chunk(chunk)
    key = chunk_key(batch, "0")
    runner.state.outstanding.add(batch, CHUNK_TASK, {key: {"chunk": chunk.model_dump(mode="json")}})
    written = records_of(runner, batch)

    runner.run_chunk(chunk)

    assert batches == [(2, 0)]
    assert records_of(runner, batch) == written
    assert runner.state.outstanding.count(batch) == 0
    assert counts(runner.state, batch)[1] == 2


# --- (e) per-job top_k, (f) bad references ----------------------------------------------------


def test_each_job_of_one_batch_gets_its_own_top_k(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given four jobs on one clip asking for top_k 1, 3, all (0) and the default (1): one
    batch, and each record holds the reference's best labels, as many as it asked for."""
    batch, name = new_batch_id(), "tone_440hz_1000ms.wav"
    reference = REFERENCE[name]
    asks = [1, 3, 0, None]
    jobs = [
        Job(job_id=f"{batch}:{i}", batch_id=batch, ref=clip(name), top_k=k)
        for i, k in enumerate(asks)
    ]

    runner.run(jobs)

    assert batches == [(4, 0)]
    records = records_of(runner, batch)
    for job, want in zip(jobs, [1, 3, len(reference), 1], strict=True):
        labels = records[job.job_id].labels or []
        assert [label.label for label in labels] == [e["label"] for e in reference[:want]]
        gaps = [abs(lb.score - e["score"]) for lb, e in zip(labels, reference, strict=False)]
        assert max(gaps) <= PARITY_ATOL


def test_a_bad_reference_among_good_ones_fails_alone_with_its_code(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given one batch of good clips, a missing file and a path outside the roots: the two bad
    ones get error records with their codes, the good ones their labels, all in one batch."""
    batch = new_batch_id()
    refs = [clip(CLIPS[0]), str(GOLDEN_AUDIO / "missing.wav"), clip(CLIPS[1]), "/etc/passwd"]
    jobs = make_jobs(batch, refs)
    runner.state.ledger.reserve(batch, len(jobs))

    runner.run(jobs)

    assert batches == [(4, 0)]
    records = [records_of(runner, batch)[job.job_id] for job in jobs]
    assert_top_label(records[0], CLIPS[0])
    assert_top_label(records[2], CLIPS[1])
    codes = [None if r.error is None else r.error.code for r in records]
    assert codes == [None, "not_found", None, "forbidden"]
    assert [r.status for r in records] == ["ok", "error", "ok", "error"]
    assert records[1].labels is None and records[1].input == refs[1]
    assert counts(runner.state, batch) == (4, 4, 2, 0)
    assert list(runner.state.dead_letters.entries()) == []  # a bad ref is no crash


# --- (g) records made elsewhere, (h) the node name --------------------------------------------


def test_finish_writes_and_counts_records_made_outside_the_pipeline(
    runner: JobRunner, batches: list[tuple[object, ...]]
) -> None:
    """Given an invalid_message record (a malformed job with a usable id): it is written as
    given and counted failed, once however often it is finished."""
    batch = new_batch_id()
    runner.state.ledger.reserve(batch, 1)
    error = ErrorInfo(code="invalid_message", message="ref: Field required")
    record = ResultRecord(
        job_id=f"{batch}:0", batch_id=batch, input="", status="error", error=error
    )

    runner.finish([record])
    runner.finish([record])

    assert batches == [(1, 0), (1, 1)]
    assert runner.store.get(f"{batch}:0") == record
    assert records_of(runner, batch) == {f"{batch}:0": record}
    assert counts(runner.state, batch) == (1, 1, 1, 0)


def test_every_record_names_the_runners_node(runner: JobRunner) -> None:
    """Given a runner for node earmark-1@host-b: its records, ok, failed, crashed, say so."""
    runner = replace(runner, worker="earmark-1@host-b")
    batch = new_batch_id()
    ok, missing, crashed = make_jobs(batch, [clip(CLIPS[0]), clip("missing.wav"), clip(CLIPS[1])])
    for _ in range(runner.max_attempts):
        runner.state.attempts.begin([crashed.job_id])

    runner.run([ok, missing, crashed])

    records = records_of(runner, batch)
    assert [records[j.job_id].status for j in (ok, missing, crashed)] == ["ok", "error", "error"]
    assert {record.worker for record in records.values()} == {"earmark-1@host-b"}


# --- known faults (strict: these fail once the runner is fixed; then drop the mark) -----------


def test_a_job_delivered_twice_in_one_redelivered_batch_is_started_once(
    runner: JobRunner,
) -> None:
    """Given one job whose message arrived twice in a redelivered batch, on its last allowed
    start: it runs once, its ok record stands, and it is not dead-lettered (before the fix the
    second copy counted another start and overwrote the ok record with worker_crashed)."""
    batch = new_batch_id()
    (job,) = make_jobs(batch, [clip(CLIPS[0])])
    for _ in range(runner.max_attempts - 1):
        runner.state.attempts.begin([job.job_id])

    runner.run([job, job])

    assert runner.state.attempts.seen([job.job_id]) == {job.job_id: runner.max_attempts}
    assert_top_label(records_of(runner, batch)[job.job_id], CLIPS[0])
    assert list(runner.state.dead_letters.entries()) == []


def test_a_crashed_job_is_dead_lettered_once_when_its_record_write_is_retried(
    runner: JobRunner, tmp_path: Path
) -> None:
    """Given a job past max_attempts whose worker_crashed record cannot be written at first
    (the results folder is not a folder): once the batch comes back and the write succeeds,
    the dead-letter list holds the job once."""
    batch = new_batch_id()
    (job,) = make_jobs(batch, [clip(CLIPS[0])])
    for _ in range(runner.max_attempts):
        runner.state.attempts.begin([job.job_id])
    (tmp_path / "not-a-folder").write_text("")
    broken = replace(runner, store=FileStore(tmp_path / "not-a-folder" / "results"))
    with pytest.raises(StoreError):
        broken.run([job])

    runner.run([job])  # the batch delivered again

    assert [e["reason"] for e in runner.state.dead_letters.entries()] == ["worker_crashed"]


def test_a_record_is_never_written_before_its_timeline(
    redis_url: str, tmp_path: Path, classify: AudioClassificationPipeline
) -> None:
    """Given a results folder where the timeline cannot be written (a file stands where its
    folder goes): the windowed job's write fails whole, and no record names a timeline that is
    not there; the job's clip-only batch-mate is written, and a rerun once the fault is gone
    writes both record and timeline."""
    results = tmp_path / "out"
    settings = _settings(redis_url, results.as_uri())
    runner = JobRunner(
        classify, open_store(results.as_uri()), open_state(settings), worker=NODE,
        retry=RetryPolicy(attempts=1),
    )  # fmt: skip
    batch = new_batch_id()
    (results / batch).mkdir(parents=True)
    (results / batch / "timelines").write_text("in the way")
    clip = str(GOLDEN_AUDIO / CLIPS[0])
    window = {"window_s": 0.5, "timeline": True}
    jobs = [
        Job(job_id=f"{batch}:0", batch_id=batch, ref=clip),
        Job.model_validate(
            {"job_id": f"{batch}:1", "batch_id": batch, "ref": clip, "window": window}
        ),
    ]
    with pytest.raises(StoreError):
        runner.run(jobs)
    assert runner.store.get(f"{batch}:0") is not None
    assert runner.store.get(f"{batch}:1") is None
    (results / batch / "timelines").unlink()
    assert runner.store.get_timeline(f"{batch}:1") is None
    runner.run(jobs)
    record = runner.store.get(f"{batch}:1")
    assert record is not None and record.windows is not None and record.windows.timeline
    timeline = runner.store.get_timeline(f"{batch}:1")
    assert timeline is not None and len(timeline.windows) == record.windows.count
