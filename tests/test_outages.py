"""Outages: the S3-compatible server cut off for ten seconds, or the Redis broker restarted,
mid-run, loses no job."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from producer.client import Client
from producer.settings import Settings
from scripts.redis_server import start_redis
from tests.models import GOLDEN_AUDIO, model_dir
from tests.proxy import OutageProxy
from tests.workers import WorkerProcess, client_for, start_worker, worker_env

pytestmark = pytest.mark.worker

BUCKET = "earmark-outage"
JOBS = 300
#: Seconds every job of the broker-restart run has to finish after the restart: the messages
#: the worker held come back after the visibility timeout (60 s).
RESTART_BOUND_S = 180.0


def test_an_s3_outage_of_ten_seconds_is_ridden_out(
    redis_url: str,
    s3_server: str,
    s3_client: Any,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given audio and results on S3, S3 cut off for 10 s mid-run: every job completes ok."""
    upstream = urlsplit(s3_server)
    proxy = OutageProxy((upstream.hostname or "127.0.0.1", upstream.port or 80))
    proxy.mend()
    s3_client.create_bucket(Bucket=BUCKET)
    clips = sorted(GOLDEN_AUDIO.glob("*.wav"))
    for clip in clips:
        s3_client.put_object(Bucket=BUCKET, Key=f"in/{clip.name}", Body=clip.read_bytes())
    env = {
        "EARMARK_BROKER_URL": redis_url,
        "EARMARK_RESULTS_URL": f"s3://{BUCKET}/out",
        "EARMARK_MODEL": str(model_dir("wav2vec2")),
        "EARMARK_DTYPE": "fp32",
        "EARMARK_MAX_WAIT_MS": "20",
        "EARMARK_MAX_BATCH": "4",
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_ACCESS_KEY_ID": "moto-fake-access-key",
        "AWS_SECRET_ACCESS_KEY": "moto-fake-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "1")
    workers.append(worker)
    worker.wait_ready()
    settings = Settings(broker_url=redis_url, results_url=f"s3://{BUCKET}/out")
    client = Client(settings, store=_direct_store(s3_client))
    refs = [f"s3://{BUCKET}/in/{clips[i % len(clips)].name}" for i in range(JOBS)]
    submission = client.submit_many(refs, bulk=False)

    while client.status(submission.batch_id).done < 40:
        time.sleep(0.1)
    proxy.cut()
    assert (client.status(submission.batch_id).pending or 0) > JOBS // 2  # the cut is mid-run
    time.sleep(10)
    proxy.mend()

    records = list(client.iter_results(submission.batch_id, wait=True, timeout=240))
    assert len(records) == JOBS
    assert all(r.status == "ok" for r in records), [r.error for r in records if r.error][:3]


def _direct_store(s3_client: Any) -> Any:
    from producer.stores.s3 import S3Store

    return S3Store(s3_client, BUCKET, "out")


def test_a_broker_restart_mid_run_loses_no_job(
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    """Given interactive jobs and bulk chunks flowing through a Redis with persistence on, the
    broker killed and started again on the same port: every job ends with exactly one record."""
    data = tmp_path / "redis"
    data.mkdir()
    server = start_redis(data, persistent=True)
    try:
        env = worker_env(server.url_for(0), server.url_for(1))
        worker = start_worker(env, tmp_path / "worker.log", "--concurrency", "2")
        workers.append(worker)
        worker.wait_ready()
        client = client_for(env)
        clips = sorted(str(p) for p in GOLDEN_AUDIO.glob("*.wav"))
        refs = [clips[i % len(clips)] for i in range(JOBS * 2)]
        interactive = client.submit_many(refs, bulk=False).batch_id
        bulk = client.submit_many(refs, chunk_size=50).batch_id
        while client.status(interactive).done < 100:
            time.sleep(0.05)

        server.stop()  # SIGKILL: every acknowledged write is already on disk (fsync always)
        time.sleep(3)
        server = start_redis(data, persistent=True, port=server.port)
        assert (client.status(interactive).pending or 0) > 0  # the restart is mid-run

        for batch in (interactive, bulk):
            records = list(client.iter_results(batch, wait=True, timeout=RESTART_BOUND_S))
            assert len(records) == len({r.job_id for r in records}) == len(refs), batch
            assert all(r.status == "ok" for r in records)
        log = worker.log.read_text(errors="replace")
        assert worker.process.poll() is None, log[-3000:]
        # A real loss is still a warning (a requested stop is not: tests/test_shutdown.py).
        assert re.search(r'"WARNING".*earmark: connection lost; \d+ held messages', log)
    finally:
        server.stop()
