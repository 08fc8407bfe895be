"""Credentials (issue 5, item 6) with real processes: no secret shows where people look.

The broker and the results live on a Redis that wants an ACL user's password (and, in the TLS
case, speaks TLS only); the worker's S3 keys come from its environment; references carry a URL
password and pre-signed query parameters. None of those secrets may appear in the worker's log,
a result record, the dead-letter list or what `earmark status` and `earmark results` print.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.records import ResultRecord
from producer.state.keys import DLQ_KEY
from scripts.redis_server import RedisServer, start_redis
from tests.models import GOLDEN_AUDIO
from tests.redis_server import make_tls_files
from tests.servers import HttpServer
from tests.workers import WorkerProcess, client_for, run_earmark, start_worker, worker_env

pytestmark = pytest.mark.worker

BUCKET = "earmark-credentials"
CLIP = "tone_440hz_1000ms.wav"
#: Every record of a batch is in within this many seconds (a refused URL is retried ~20 s).
FINISH_TIMEOUT_S = 240.0

#: Distinctive secrets: any of them found in a log, record or output is a leak.
REDIS_PASSWORD = "RedisPw-7f3c91e0"
AWS_SECRET = "AwsSecretKey-52d0e8b4"
AWS_TOKEN = "AwsSessionToken-9b17c3"
URL_USER, URL_PASSWORD = "listener", "UrlPw-a81b44d2"
SIGNATURE = "SigSecret-0c9e2155"
SECURITY_TOKEN = "SecurityToken-6d2f7a90"
CREDENTIAL = "AKIACREDSECRET4e11"
BASIC_AUTH = base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
SECRETS = (
    REDIS_PASSWORD,
    AWS_SECRET,
    AWS_TOKEN,
    URL_PASSWORD,
    SIGNATURE,
    SECURITY_TOKEN,
    CREDENTIAL,
    BASIC_AUTH,
)
PRESIGNED = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={CREDENTIAL}%2F20261124%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Signature={SIGNATURE}&X-Amz-Security-Token={SECURITY_TOKEN}&X-Amz-Expires=600"
)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A bucket holding the golden clip; written with the fixture's fake keys, not the worker's."""
    if BUCKET not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]:
        s3_client.create_bucket(Bucket=BUCKET)
    s3_client.put_object(Bucket=BUCKET, Key=CLIP, Body=(GOLDEN_AUDIO / CLIP).read_bytes())
    return BUCKET


@pytest.fixture(params=[False, True], ids=["password", "tls"])
def secured_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis that wants ACL user ``earmark``'s password; TLS only in the second run."""
    tls = make_tls_files(tmp_path) if request.param else None
    server = start_redis(tmp_path, user="earmark", password=REDIS_PASSWORD, tls=tls)
    try:
        yield server
    finally:
        server.stop()


def _closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refs(http: HttpServer, bucket: str) -> dict[str, str]:
    """References by what they should give: a code, or ok."""
    shutil.copy(GOLDEN_AUDIO / CLIP, http.root / CLIP)
    login = http.base.replace("http://", f"http://{URL_USER}:{URL_PASSWORD}@")
    closed = f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{_closed_port()}"
    return {
        "s3 ok": f"s3://{bucket}/{CLIP}",
        "s3 no key": f"s3://{bucket}/missing.wav",
        "s3 no bucket": "s3://earmark-no-such-bucket/a.wav",
        "url password ok": f"{login}/files/{CLIP}",
        "presigned ok": f"{http.base}/files/{CLIP}?{PRESIGNED}",
        "url password not found": f"{login}/files/missing.wav?sig={SIGNATURE}",
        "presigned forbidden": f"{login}/status/403?{PRESIGNED}",
        "refused": f"{closed}/a.wav?{PRESIGNED}",
    }


EXPECTED = {
    "s3 ok": "ok",
    "s3 no key": "not_found",
    "s3 no bucket": "not_found",
    "url password ok": "ok",
    "presigned ok": "ok",
    "url password not found": "not_found",
    "presigned forbidden": "forbidden",
    "refused": "fetch_failed",
}


def _env(server: RedisServer, s3_server: str, tmp_path: Path) -> dict[str, str]:
    return worker_env(
        server.url_for(0),
        server.url_for(1),
        {
            "EARMARK_LOCAL_ROOTS": str(tmp_path),
            "EARMARK_URL_ALLOW_PRIVATE": "1",
            "AWS_ENDPOINT_URL": s3_server,
            "AWS_ACCESS_KEY_ID": "AKIAEARMARKWORKER",
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_SESSION_TOKEN": AWS_TOKEN,
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )


def _outcome(record: ResultRecord) -> str:
    return "ok" if record.error is None else record.error.code


def test_no_credential_reaches_a_log_a_record_or_the_command_line(
    secured_redis: RedisServer,
    s3_server: str,
    bucket: str,
    http_server: HttpServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given secrets in the Redis URLs, the AWS environment and the references, a worker
    classifies references on both queues, and no secret is to be read anywhere afterwards."""
    env = _env(secured_redis, s3_server, tmp_path)
    # DEBUG: urllib3 and botocore then log pre-signed queries and signing headers too.
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "1", "--loglevel", "DEBUG")
    workers.append(worker)
    worker.wait_ready()
    client = client_for(env)
    refs = _refs(http_server, bucket)

    batches = [client.submit_many(refs.values(), bulk=bulk).batch_id for bulk in (False, True)]
    records = {
        batch: list(client.iter_results(batch, wait=True, timeout=FINISH_TIMEOUT_S))
        for batch in batches
    }
    cli = [
        run_earmark(env, command, batch) for batch in batches for command in ("status", "results")
    ]
    job = records[batches[0]][0].job_id or ""
    cli.append(run_earmark(env, "results", job))
    wrong = {**env, "EARMARK_RESULTS_URL": env["EARMARK_RESULTS_URL"].replace("Pw-", "Pw-wrong-")}
    refused_login = run_earmark(wrong, "status", batches[0])
    worker.stop()

    # Then every reference has its record, with the outcome its kind should give...
    for batch in batches:
        by_input = {record.input: _outcome(record) for record in records[batch]}
        assert len(records[batch]) == len(refs), client.status(batch)
        assert sorted(by_input.values()) == sorted(EXPECTED.values()), by_input
    # ...and a redacted input still says which file it was.
    shown = {record.input for record in records[batches[0]]}
    assert f"{http_server.base}/files/{CLIP}".replace("://", f"://{URL_USER}:***@") in shown

    # No secret in the worker's log, whose Celery banner shows the broker login masked.
    log = worker.log.read_text(errors="replace")
    assert "transport:" in log and "earmark:***@127.0.0.1" in log
    assert _leaks(log) == [], log[-3000:]
    # None in any record, as read back or as stored, nor in the dead-letter list.
    stored = _stored_records(secured_redis)
    assert len(stored) == 2 * len(refs)
    as_read = "\n".join(r.to_json() for batch in records.values() for r in batch)
    assert _leaks(as_read + "\n".join(stored)) == []
    assert _leaks(json.dumps(list(client.dead_letters.entries()))) == []
    # None in what the command line prints, including when the Redis login is refused.
    for run in cli:
        assert run.returncode in (0, 1), run.stderr
        assert _leaks(run.stdout + run.stderr) == [], run.stdout + run.stderr
    assert refused_login.returncode != 0
    assert _leaks(refused_login.stdout + refused_login.stderr) == [], refused_login.stderr
    assert "Pw-wrong-" not in refused_login.stdout + refused_login.stderr


def _stored_records(server: RedisServer) -> list[str]:
    """Every result record as the worker stored it in Redis, raw."""
    results = redis.Redis.from_url(server.url_for(1), decode_responses=True)
    broker = redis.Redis.from_url(server.url_for(0), decode_responses=True)
    try:
        assert broker.llen(DLQ_KEY) == 0
        return [str(results.get(key)) for key in results.scan_iter("earmark:result:*")]
    finally:
        results.close()
        broker.close()
