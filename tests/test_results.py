"""Results stores against real backends: a private Redis, moto's S3 server and a folder."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
from redis.backoff import NoBackoff
from redis.retry import Retry

from producer.errors import StoreError
from producer.ids import make_job_id
from producer.records import ErrorInfo, Label, ModelInfo, ResultRecord
from producer.state.keys import result_index_key as index_key
from producer.state.keys import result_key, timeline_key
from producer.stores import FileStore, RedisStore, ResultsStore, S3Store, open_store
from producer.timelines import Timeline, WindowLabels, merge_segments
from scripts.redis_server import running_redis
from tests.redis_server import CountingConnection, counting_client

#: moto's fake secret: it must never show up in an error message.
SECRET = "moto-fake-secret-key"


def make_record(batch: str, index: int, *, status: str = "ok", score: float = 0.5) -> ResultRecord:
    """A realistic record of job `index` of `batch`; an error record when `status` is error."""
    outcome: dict[str, Any] = (
        {"error": ErrorInfo(code="decode_failed", message="no audio in these bytes")}
        if status == "error"
        else {"labels": [Label(label="yes", score=score)]}
    )
    return ResultRecord(
        job_id=make_job_id(batch, index),
        batch_id=batch,
        input=f"s3://audio/{batch}/{index}.wav",
        status="error" if status == "error" else "ok",
        model=ModelInfo(id="Xenova/wav2vec2-base-superb-ks", dtype="q8"),
        meta={"n": index},
        finished_at="2026-11-24T01:02:03Z",  # fixed, so that records made twice compare equal
        **outcome,
    )


def new_bucket(s3_client: Any) -> str:
    """A fresh bucket on the moto server."""
    name = f"results-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["redis", "s3", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ResultsStore:
    """Each real backend in turn, opened through its URL as a deployment would."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return open_store(url, redis_client=request.getfixturevalue("redis_client"))
    if request.param == "s3":
        s3_client = request.getfixturevalue("s3_client")
        return open_store(f"s3://{new_bucket(s3_client)}/earmark/results", s3_client=s3_client)
    return open_store(tmp_path.as_uri())


def by_job(records: Iterator[ResultRecord]) -> dict[str, ResultRecord]:
    """Records keyed by job id; fails when a job shows up twice."""
    seen: dict[str, ResultRecord] = {}
    for record in records:
        assert record.job_id not in seen, f"{record.job_id} yielded twice"
        seen[str(record.job_id)] = record
    return seen


# --- behaviour every backend shares -------------------------------------------------------------


def test_put_then_get_round_trips(store: ResultsStore) -> None:
    record = make_record("b1", 0)
    store.put(record)
    assert store.get("b1:0") == record


def test_error_record_round_trips(store: ResultsStore) -> None:
    record = make_record("b1", 7, status="error")
    store.put(record)
    assert store.get("b1:7") == record
    assert list(store.iter_batch("b1")) == [record]


def test_get_of_a_missing_job_is_none(store: ResultsStore) -> None:
    store.put(make_record("b1", 0))
    assert store.get("b1:1") is None
    assert store.get("nobatch:0") is None


def test_putting_a_job_twice_leaves_one_record_the_last(store: ResultsStore) -> None:
    store.put(make_record("b1", 3, score=0.1))
    store.put(make_record("b1", 3, score=0.9))
    assert [r.labels for r in store.iter_batch("b1")] == [[Label(label="yes", score=0.9)]]
    assert store.get("b1:3") == make_record("b1", 3, score=0.9)


def test_a_chunk_of_300_reads_back_as_300(store: ResultsStore) -> None:
    records = [make_record("bulk", i, status="error" if i % 7 == 0 else "ok") for i in range(300)]
    store.put_chunk("bulk", "0", records)
    assert by_job(store.iter_batch("bulk")) == {str(r.job_id): r for r in records}


def test_per_job_records_and_chunks_mix_each_job_once(store: ResultsStore) -> None:
    # Given a chunk retried under another chunk id, and per-job records written after it
    store.put_chunk("mix", "0", [make_record("mix", i, score=0.1) for i in range(50)])
    store.put_chunk("mix", "retry", [make_record("mix", i, score=0.2) for i in range(40, 60)])
    for i in range(10):
        store.put(make_record("mix", i, score=0.9))
    # Then every job is read once, and a per-job record wins over a shard line
    records = by_job(store.iter_batch("mix"))
    assert set(records) == {f"mix:{i}" for i in range(60)}
    assert all(records[f"mix:{i}"].labels == [Label(label="yes", score=0.9)] for i in range(10))


def test_batches_do_not_mix(store: ResultsStore) -> None:
    # "a" is a prefix of "a1": a store listing by bare prefix would mix them up.
    store.put(make_record("a", 0))
    store.put_chunk("a1", "0", [make_record("a1", i) for i in range(3)])
    store.put(make_record("a.1", 5))
    assert set(by_job(store.iter_batch("a"))) == {"a:0"}
    assert set(by_job(store.iter_batch("a1"))) == {"a1:0", "a1:1", "a1:2"}
    assert set(by_job(store.iter_batch("a.1"))) == {"a.1:5"}
    assert list(store.iter_batch("unknown")) == []


def test_bad_ids_are_refused_before_anything_is_written(store: ResultsStore) -> None:
    with pytest.raises(ValueError, match="batch"):
        store.put_chunk("b1", "0", [make_record("b1", 0), make_record("b2", 1)])
    with pytest.raises(ValueError, match="job id"):
        store.put(make_record("b1", 0).model_copy(update={"job_id": "b1-0"}))
    with pytest.raises(ValueError, match="chunk id"):
        store.put_chunk("b1", "../x", [make_record("b1", 0)])
    with pytest.raises(ValueError, match="batch id"):
        store.get("..:0")
    assert list(store.iter_batch("b1")) == []


def test_an_empty_chunk_writes_nothing(store: ResultsStore) -> None:
    store.put_chunk("b1", "0", [])
    assert list(store.iter_batch("b1")) == []


# --- open_store ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:1/1", RedisStore),
        ("rediss://:pw@cache.example:6380/0", RedisStore),
        ("s3://bucket/some/prefix", S3Store),
        ("s3://bucket", S3Store),
        ("file:///srv/results", FileStore),
        ("file://localhost/srv/results", FileStore),
    ],
)
def test_open_store_picks_the_store_by_scheme(url: str, kind: type, s3_client: Any) -> None:
    assert isinstance(open_store(url, s3_client=s3_client), kind)


def test_open_store_reads_the_s3_location(s3_client: Any) -> None:
    store = open_store("s3://bucket/some/prefix/", s3_client=s3_client)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == ("bucket", "some/prefix")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://user:hunter2@host/x", "unsupported results store URL scheme 'ftp'"),
        ("/srv/results", "unsupported results store URL scheme ''"),
        ("", "unsupported"),
        ("s3:///prefix", "s3://bucket/prefix"),
        ("file://server/share", "local folder"),
        ("file:relative/dir", "absolute path"),
        ("file://[x/results", "malformed"),
        ("redis://user:hunter2@host:port/1", "malformed"),
    ],
)
def test_open_store_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        open_store(url)
    assert "hunter2" not in str(raised.value)


def test_open_store_builds_an_s3_client_from_the_aws_environment(
    s3_server: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3_client)
    for name, value in {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    store = open_store(f"s3://{bucket}/r")
    store.put(make_record("env", 1))
    key = "r/env/1.json"
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == (
        make_record("env", 1).to_json().encode()
    )


# --- layouts and backend specifics ----------------------------------------------------------------


def test_s3_layout_and_pagination(s3_client: Any) -> None:
    bucket = new_bucket(s3_client)
    store = S3Store(s3_client, bucket, "p", page_size=7)  # many ListObjectsV2 pages
    for i in range(30):
        store.put(make_record("b", i))
    store.put_chunk("b", "30", [make_record("b", i) for i in range(25, 80)])
    store.put_chunk("b", "80", [make_record("b", i) for i in range(80, 100)])
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="p/b/")["Contents"]
    keys = {item["Key"] for item in listed}
    assert {"p/b/0.json", "p/b/29.json", "p/b/chunks/30.jsonl", "p/b/chunks/80.jsonl"} <= keys
    assert len(keys) == 32
    assert set(by_job(store.iter_batch("b"))) == {f"b:{i}" for i in range(100)}
    assert store.get("b:50") == next(r for r in store.iter_batch("b") if r.job_id == "b:50")
    assert store.get("b:100") is None


def test_s3_failures_are_store_errors_without_credentials(s3_client: Any) -> None:
    store = S3Store(s3_client, f"missing-{uuid.uuid4().hex[:8]}", "p")
    with pytest.raises(StoreError, match="NoSuchBucket") as raised:
        store.put(make_record("b", 0))
    assert SECRET not in str(raised.value)
    assert raised.value.retryable


def test_an_unreachable_s3_is_a_store_error(s3_client: Any) -> None:
    import boto3  # type: ignore[import-untyped,unused-ignore]

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="moto-fake-access-key",
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3Store(client, "bucket")
    for action in (lambda: store.put(make_record("b", 0)), lambda: list(store.iter_batch("b"))):
        with pytest.raises(StoreError, match="EndpointConnectionError") as raised:
            action()
        assert SECRET not in str(raised.value)


def test_redis_layout_and_ttl(redis_url: str, redis_client: redis.Redis) -> None:
    store = open_store(redis_url, ttl_s=300, redis_client=redis_client)
    store.put_chunk("b", "0", [make_record("b", i) for i in range(3)])
    assert redis_client.smembers(index_key("b")) == {b"b:0", b"b:1", b"b:2"}
    for key in (result_key("b:0"), index_key("b")):
        assert 0 < int(redis_client.ttl(key)) <= 300


def test_redis_chunk_is_one_round_trip(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisStore(counting_client(redis_url))
    store.put_chunk("b", "0", [make_record("b", i) for i in range(256)])
    assert CountingConnection.writes == 1
    assert len(list(store.iter_batch("b"))) == 256


def test_redis_reads_a_client_that_decodes_responses(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(redis.Redis.from_url(redis_url, decode_responses=True))
    store.put_chunk("b", "0", [make_record("b", i) for i in range(1200)])  # several SSCAN pages
    assert store.get("b:1") == make_record("b", 1)
    assert len(by_job(store.iter_batch("b"))) == 1200


def test_a_stopped_redis_is_a_store_error(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        client = redis.Redis.from_url(
            server.url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        store = RedisStore(client)
        store.put(make_record("b", 0))
        server.stop()
        actions: list[Callable[[], object]] = [
            lambda: store.put(make_record("b", 1)),
            lambda: store.get("b:0"),
            lambda: list(store.iter_batch("b")),
        ]
        for action in actions:
            with pytest.raises(StoreError, match="ConnectionError") as raised:
                action()
            assert raised.value.retryable


def test_file_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    blob = {"blob": "x" * 100_000}  # big enough that a torn write would be caught
    big = [make_record("b", 0, score=i / 1000).model_copy(update={"meta": blob}) for i in range(50)]
    store.put(big[0])
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            for record in big:
                store.put(record)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(300):  # every read parses: a reader never sees half a record
            assert store.get("b:0") is not None
    finally:
        stop.set()
        writer.join()
    assert os.listdir(tmp_path / "b") == ["0.json"]


def test_file_store_skips_a_dead_writers_temp_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put(make_record("b", 0))
    (tmp_path / "b" / ".1.json.0123.tmp").write_text('{"job_id": "b:1", "inp')
    assert [r.job_id for r in store.iter_batch("b")] == ["b:0"]


def test_file_store_failures_are_store_errors(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(StoreError, match="cannot write"):
        FileStore(tmp_path / "not-a-folder").put(make_record("b", 0))


def corrupt(store: ResultsStore, job_id: str) -> None:
    """Write text that is no record where `store` keeps `job_id`'s record, as a bug or a
    hand edit would."""
    batch_id, _, index = job_id.rpartition(":")
    if isinstance(store, RedisStore):
        store.client.set(result_key(job_id), '{"job_id": "' + job_id + '", "inp')
        store.client.sadd(index_key(batch_id), job_id)
    else:
        assert isinstance(store, S3Store | FileStore)
        store._put(f"{batch_id}/{index}.json", b"{not json")


def test_an_unreadable_record_is_reported_alone_and_never_hides_its_batch(
    store: ResultsStore,
) -> None:
    """Given a batch of three whose middle record is corrupt, reading the batch gives the two
    good records and an unreadable_record error in the third's place; reading it alone too."""
    store.put(make_record("b", 0))
    store.put_chunk("b", "2", [make_record("b", 2), make_record("b", 3)])
    corrupt(store, "b:1")
    records = by_job(store.iter_batch("b"))
    assert sorted(records) == ["b:0", "b:1", "b:2", "b:3"]
    assert records["b:0"] == make_record("b", 0)
    bad = records["b:1"]
    assert (bad.status, bad.batch_id, bad.error and bad.error.code) == (
        "error",
        "b",
        "unreadable_record",
    )
    alone = store.get("b:1")
    assert alone is not None and (alone.job_id, alone.error) == ("b:1", bad.error)


def _timeline(seconds: int) -> Timeline:
    windows = [
        WindowLabels(start_s=i, end_s=i + 1, labels=[Label(label="yes", score=0.9)])
        for i in range(seconds)
    ]
    return Timeline(windows=windows, segments=merge_segments(windows, None))


def test_a_timeline_is_stored_beside_its_record_and_read_back(store: ResultsStore) -> None:
    """Every store keeps a windowed job's timeline under its own name; reading a batch never
    mistakes one for a record, and a job without one reads None."""
    long = _timeline(3_600)
    store.put_timelines([("b:0", long), ("b:1", _timeline(1))])
    store.put(make_record("b", 0))
    store.put_chunk("b", "1", [make_record("b", 1), make_record("b", 2)])
    assert store.get_timeline("b:0") == long
    assert store.get_timeline("b:1") == _timeline(1)
    assert store.get_timeline("b:2") is None
    assert sorted(by_job(store.iter_batch("b"))) == ["b:0", "b:1", "b:2"]
    with pytest.raises(ValueError):
        store.put_timelines([("b@d:0", long)])


def test_a_redis_timeline_expires_with_the_records(redis_url: str, redis_client: Any) -> None:
    store = open_store(redis_url, ttl_s=300, redis_client=redis_client)
    store.put_timelines([("b:0", _timeline(2))])
    assert 0 < int(redis_client.ttl(timeline_key("b:0"))) <= 300
