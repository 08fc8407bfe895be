"""End to end: producers, two real worker processes, a real Redis, S3 and HTTP server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from producer.client import Client
from producer.messages import DEFAULT_CHUNK_SIZE
from producer.records import ResultRecord
from producer.settings import Settings
from producer.sources import SourceItem, from_manifest
from tests.models import GOLDEN_AUDIO
from tests.servers import HttpServer
from tests.workers import WorkerProcess, start_worker, worker_env
from worker.classification import pipeline

BUCKET = "earmark-audio"
#: Records of a batch must all be in within this many seconds.
FINISH_TIMEOUT_S = 240.0

#: Lines of the bulk manifest: five full chunks (and shards) of 256 and a partial sixth.
BULK_LINES = 5 * DEFAULT_CHUNK_SIZE + 20


@pytest.fixture
def audio(tmp_path: Path, s3_client: Any, http_server: HttpServer) -> dict[str, list[str]]:
    """The golden clips as local files, S3 objects and URLs, plus broken ones of each kind."""
    local = tmp_path / "audio"
    shutil.copytree(GOLDEN_AUDIO, local)
    (local / "broken.wav").write_bytes(b"this is not audio")
    clips = sorted(p.name for p in GOLDEN_AUDIO.glob("*.wav"))
    if BUCKET not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]:
        s3_client.create_bucket(Bucket=BUCKET)
    for name in clips:
        s3_client.put_object(Bucket=BUCKET, Key=f"clips/{name}", Body=(local / name).read_bytes())
        shutil.copy(local / name, http_server.root / name)
    return {
        "local": [str(local / name) for name in clips],
        "s3": [f"s3://{BUCKET}/clips/{name}" for name in clips],
        "url": [http_server.url(f"/files/{name}") for name in clips],
        "broken": [
            str(local / "broken.wav"),
            str(local / "missing.wav"),
            f"s3://{BUCKET}/clips/missing.wav",
            http_server.url("/files/missing.wav"),
            "/etc/passwd",
        ],
    }


def _env(redis_url: str, s3_server: str, tmp_path: Path, results_url: str) -> dict[str, str]:
    return worker_env(
        redis_url,
        results_url,
        {
            "EARMARK_LOCAL_ROOTS": str(tmp_path),
            "EARMARK_URL_ALLOW_PRIVATE": "1",
            "AWS_ENDPOINT_URL": s3_server,
            "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
            "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )


@pytest.fixture
def system(
    redis_url: str,
    s3_server: str,
    tmp_path: Path,
    workers: list[WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """A function that starts two worker processes for a results URL and returns a client."""

    def start(results_url: str, processes: int = 2) -> Client:
        env = _env(redis_url, s3_server, tmp_path, results_url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for n in range(processes):
            workers.append(start_worker(env, tmp_path / f"worker{n}.log", "--concurrency", "1"))
        for worker in workers:
            worker.wait_ready()
        return Client(Settings())

    yield start


def _all(client: Client, batch_id: str, expected: int) -> list[ResultRecord]:
    records = list(client.iter_results(batch_id, wait=True, timeout=FINISH_TIMEOUT_S))
    assert len(records) == expected, client.status(batch_id)
    return records


def _reference_scores(refs: list[str], tmp_path: Path) -> dict[str, dict[str, float]]:
    """What `earmark classify` (the in-process pipeline) gives for each distinct reference."""
    classify = pipeline(settings=Settings(top_k=0))
    return {
        record.input: {label.label: label.score for label in record.labels or []}
        for record in classify.iter_records(sorted(set(refs)))
        if record.status == "ok"
    }


@pytest.mark.worker
def test_interactive_jobs_from_every_source_get_exactly_one_record_each(
    system: Any,
    audio: dict[str, list[str]],
    tmp_path: Path,
    redis_url: str,
    workers: list[WorkerProcess],
) -> None:
    """Given 500 interactive jobs mixing local, S3, URL and broken refs, each gets one record."""
    client = system(redis_url.rsplit("/", 1)[0] + "/1")
    good = audio["local"] + audio["s3"] + audio["url"]
    refs = [(good + audio["broken"])[i % (len(good) + len(audio["broken"]))] for i in range(500)]
    submission = client.submit_many(refs, bulk=False, top_k=0)
    records = _all(client, submission.batch_id, 500)
    assert sorted(int(r.job_id.rpartition(":")[2]) for r in records if r.job_id) == list(range(500))
    reference = _reference_scores(refs, tmp_path)
    for record in records:
        if record.input in reference:
            assert record.status == "ok", record
            ours = {label.label: label.score for label in record.labels or []}
            expected = reference[record.input]
            assert max(abs(ours[k] - expected[k]) for k in expected) <= 1e-5
        else:
            assert record.status == "error" and record.error is not None
    codes = {r.input: r.error.code for r in records if r.error is not None}
    # The Celery node name, as Flower and `celery inspect` show the worker.
    nodes = {f"earmark-{worker.process.pid}@{socket.gethostname()}" for worker in workers}
    assert {r.worker for r in records} <= nodes
    assert codes[audio["broken"][1]] == "not_found"
    assert codes[audio["broken"][4]] == "forbidden"
    status = client.status(submission.batch_id)
    failed = sum(1 for r in records if r.status == "error")
    assert (status.total, status.done, status.failed, status.pending) == (500, 500, failed, 0)


@pytest.mark.worker
@pytest.mark.parametrize("store", ["s3", "file"])
def test_results_are_readable_from_s3_and_a_local_folder(
    system: Any, audio: dict[str, list[str]], tmp_path: Path, store: str
) -> None:
    url = f"s3://{BUCKET}/results" if store == "s3" else (tmp_path / "results").as_uri()
    client = system(url, processes=1)
    refs = audio["local"] + audio["broken"][:1]
    job = client.submit(refs[0], meta={"source": "test"})
    record = client.result(job, wait=True, timeout=FINISH_TIMEOUT_S)
    assert record is not None and record.status == "ok" and record.meta == {"source": "test"}
    submission = client.submit_many(refs, top_k=2)
    records = _all(client, submission.batch_id, len(refs))
    assert all(len(r.labels or []) == 2 for r in records if r.status == "ok")


@pytest.mark.worker
def test_a_bulk_manifest_lands_in_s3_shards(
    system: Any, audio: dict[str, list[str]], tmp_path: Path, s3_client: Any
) -> None:
    """Given a manifest of five full chunks and a partial one, every record arrives in S3
    shards of 256 and status is right: a record lost or doubled at a chunk's or a shard's
    boundary, or a partial last chunk dropped, fails it. (It sent 5,000 lines, 20 chunks, until
    the suite was made fast; 1,300 cross the same boundaries.)"""
    client = system(f"s3://{BUCKET}/bulk", processes=2)
    manifest = tmp_path / "manifest.jsonl"
    lines = [
        json.dumps({"ref": audio["local"][i % len(audio["local"])], "line": i})
        for i in range(BULK_LINES)
    ]
    manifest.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    submission = client.submit_many(from_manifest(manifest))
    records = _all(client, submission.batch_id, BULK_LINES)
    assert sorted(r.meta["line"] for r in records if r.meta) == list(range(BULK_LINES))
    assert all(r.status == "ok" for r in records)
    keys = s3_client.list_objects_v2(Bucket=BUCKET, Prefix=f"bulk/{submission.batch_id}/")
    shards = [o["Key"] for o in keys.get("Contents", []) if o["Key"].endswith(".jsonl")]
    assert len(shards) == BULK_LINES // DEFAULT_CHUNK_SIZE + 1
    status = client.status(submission.batch_id)
    assert (status.total, status.done, status.failed, status.pending) == (
        BULK_LINES,
        BULK_LINES,
        0,
        0,
    )
    print(f"bulk: {BULK_LINES} clips in {time.monotonic() - started:.1f} s")


def test_items_carry_meta(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('/a.wav\n{"ref": "/b.wav", "speaker": 3}\n\n# comment\n')
    assert list(from_manifest(manifest)) == [
        SourceItem("/a.wav"),
        SourceItem("/b.wav", {"speaker": 3}),
    ]


def _earmark(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "producer.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=FINISH_TIMEOUT_S)


@pytest.mark.worker
def test_the_command_line_enqueues_waits_and_reports(
    system: Any, audio: dict[str, list[str]], tmp_path: Path
) -> None:
    """Given a worker, `earmark enqueue --wait`, `status` and `results` speak as
    docs/cli.md says."""
    system((tmp_path / "results").as_uri(), processes=1)
    refs = [*audio["local"][:3], audio["broken"][1]]
    done = _earmark("enqueue", *refs, "--top-k", "2", "--wait")
    assert done.returncode == 1, done.stderr  # one reference is missing
    head, *lines = done.stdout.splitlines()
    batch = json.loads(head)
    assert batch["jobs"] == 4
    records = [json.loads(line) for line in lines]
    assert sorted(r["input"] for r in records) == sorted(refs)
    assert all(len(r["labels"]) == 2 for r in records if r["status"] == "ok")
    status = json.loads(_earmark("status", batch["batch_id"]).stdout)
    assert status == {
        "batch_id": batch["batch_id"],
        "total": 4,
        "done": 4,
        "failed": 1,
        "pending": 0,
    }
    listed = _earmark("results", batch["batch_id"]).stdout.splitlines()
    assert len(listed) == 4
    one = _earmark("results", f"{batch['batch_id']}:0")
    assert one.returncode == 0 and json.loads(one.stdout)["job_id"] == f"{batch['batch_id']}:0"
